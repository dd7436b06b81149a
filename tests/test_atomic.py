"""Atomic writes: temporaries of killed writers are removed, unwritable folders refused."""

import os

import pytest

from hdpmusic.formats.atomic import atomic_path, check_writable, remove_stale_temporaries
from hdpmusic.runtime.errors import HdpmusicError
from processes import dead_pid


def test_stale_temporaries_of_dead_writers_are_removed(tmp_path):
    out = tmp_path / "model [1].hdp"  # glob characters in the name
    dead, other_dead, alive = dead_pid(), dead_pid(), os.getppid()
    stale_file = tmp_path / f".model [1].hdp.tmp-{dead}"
    stale_file.write_bytes(b"half a model")
    stale_dir = tmp_path / f".model [1].hdp.tmp-{other_dead}"
    (stale_dir / "inner").mkdir(parents=True)
    kept = [tmp_path / f".model [1].hdp.tmp-{alive}",  # its writer may still be running
            tmp_path / f".model [1].hdp.tmp-{os.getpid()}",
            tmp_path / f".model [1].hdp.tmp-{dead}x",  # not a temporary of atomic_path
            tmp_path / f".other.hdp.tmp-{dead}"]  # another output's
    for path in kept:
        path.write_bytes(b"keep")
    removed = remove_stale_temporaries(out)
    assert sorted(removed) == sorted([stale_file, stale_dir])
    assert not stale_file.exists() and not stale_dir.exists()
    assert all(path.exists() for path in kept)
    assert remove_stale_temporaries(tmp_path / "absent" / "x.h5") == []


def test_atomic_path_writes_through_its_temporary(tmp_path):
    out = tmp_path / "sub" / "x.txt"
    with atomic_path(out) as tmp:
        assert tmp == tmp_path / "sub" / f".x.txt.tmp-{os.getpid()}"
        tmp.write_text("done")
    assert out.read_text() == "done" and not tmp.exists()


def test_check_writable_makes_the_folder_or_says_why_not(tmp_path):
    assert check_writable(tmp_path / "a" / "b").is_dir()
    assert list((tmp_path / "a" / "b").iterdir()) == []  # the probe file is gone
    (tmp_path / "f").write_text("a file")
    with pytest.raises(HdpmusicError, match=r"cache folder .*f is not writable \(a file is "):
        check_writable(tmp_path / "f", "cache folder")
    with pytest.raises(HdpmusicError, match=r"output folder .*f/g is not writable"):
        check_writable(tmp_path / "f" / "g")


def test_an_output_that_is_an_input_is_refused(tmp_path):
    """The same file by another spelling or through a link is refused; others pass."""
    from hdpmusic.formats.atomic import check_not_input

    corpus = tmp_path / "c.h5"
    corpus.write_bytes(b"hours of extraction")
    link = tmp_path / "link.h5"
    link.symlink_to(corpus)
    for out in (corpus, tmp_path / "." / "c.h5", link):
        with pytest.raises(HdpmusicError, match="is the corpus given as input"):
            check_not_input(out, {"the model file": tmp_path / "m.hdp", "the corpus": corpus})
    check_not_input(tmp_path / "r.h5", {"the corpus": corpus, "the cache": None})
    assert corpus.read_bytes() == b"hours of extraction"


def test_atomic_folder_replaces_the_folder_whole_or_not_at_all(tmp_path):
    """A folder written again keeps none of the earlier files; a failure in the block
    leaves the earlier folder as it was and no temporary behind."""
    from hdpmusic.formats.atomic import atomic_folder

    out = tmp_path / "report"
    with atomic_folder(out) as tmp:
        assert tmp == tmp_path / f".report.tmp-{os.getpid()}" and tmp.is_dir()
        (tmp / "old.png").write_text("first")
        (tmp / "page.html").write_text("first")
    assert sorted(p.name for p in out.iterdir()) == ["old.png", "page.html"]
    with pytest.raises(RuntimeError, match="half way"):
        with atomic_folder(out) as tmp:
            (tmp / "page.html").write_text("second")
            raise RuntimeError("half way")
    assert (out / "page.html").read_text() == "first"
    with atomic_folder(out) as tmp:
        (tmp / "page.html").write_text("second")
    assert [p.name for p in out.iterdir()] == ["page.html"]
    assert (out / "page.html").read_text() == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]     # no temporaries
    (tmp_path / "file").write_text("x")
    with pytest.raises(HdpmusicError, match="is a file"):
        with atomic_folder(tmp_path / "file"):
            pass


def test_check_output_folder(tmp_path):
    """A folder holding files needs overwrite; one that is or holds an input is refused
    whatever overwrite says; a file is refused; an empty or new folder passes."""
    from hdpmusic.formats.atomic import check_output_folder

    results = tmp_path / "runs" / "results.json"
    results.parent.mkdir()
    results.write_text("{}")
    assert check_output_folder(tmp_path / "new" / "r", overwrite=False) == tmp_path / "new" / "r"
    (tmp_path / "empty").mkdir()
    check_output_folder(tmp_path / "empty", overwrite=False)
    with pytest.raises(HdpmusicError, match="runs exists and is not empty; pass --overwrite "
                                            "to replace the report"):
        check_output_folder(tmp_path / "runs", overwrite=False, what="the report")
    for out in (tmp_path / "runs", tmp_path, tmp_path / "runs" / ".." / "runs"):
        with pytest.raises(HdpmusicError, match="holds the results; writing it would"):
            check_output_folder(out, overwrite=True, inputs={"the results": results})
    check_output_folder(tmp_path / "runs", overwrite=True,
                        inputs={"the corpus": tmp_path / "c.h5", "none": None})
    with pytest.raises(HdpmusicError, match="results.json is a file"):
        check_output_folder(results, overwrite=True)
