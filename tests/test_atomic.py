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
