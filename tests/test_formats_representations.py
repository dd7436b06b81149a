"""Representation files: vectors with provenance, and their attributes read alone."""

import h5py
import numpy as np
import pytest

from hdpmusic.formats.representations import FORMAT_VERSION, Representations, read_attrs
from hdpmusic.runtime.errors import FormatError, HdpmusicError


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "reps.h5"
    X = np.arange(6, dtype=np.float32).reshape(3, 2)
    Representations(["a", "b", "c"], X, {"kind": "fisher", "revision": 2,
                                         "standardise": False}).save(path)
    return path, X


def test_attributes_are_read_without_the_vectors(saved):
    path, X = saved
    loaded = Representations.load(path)
    assert loaded.ids == ["a", "b", "c"] and np.array_equal(loaded.X, X)
    assert read_attrs(path) == loaded.attrs == {"kind": "fisher", "revision": 2,
                                                "standardise": False}
    with h5py.File(path, "a") as f:        # the vectors gone: the header still reads
        del f["X"]
    assert read_attrs(path)["revision"] == 2
    with pytest.raises(KeyError):
        Representations.load(path)


def test_both_readers_refuse_what_is_not_a_representation_file(saved, tmp_path):
    path, _ = saved
    text = tmp_path / "notes.h5"
    text.write_text("hello")
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.attrs["format"] = "something-else"
    newer = tmp_path / "newer.h5"
    newer.write_bytes(path.read_bytes())
    with h5py.File(newer, "a") as f:
        f.attrs["format_version"] = FORMAT_VERSION + 1
    for read in (read_attrs, Representations.load):
        with pytest.raises(FormatError, match="is not a representation file .* it is"):
            read(text)
        with pytest.raises(FormatError, match="is not an hdpmusic representation file"):
            read(other)
        with pytest.raises(FormatError, match="upgrade hdpmusic"):
            read(newer)
        with pytest.raises(HdpmusicError, match="representation file .* does not exist"):
            read(tmp_path / "missing.h5")
        with pytest.raises(HdpmusicError, match="is a folder, not a file"):
            read(tmp_path)


def test_npz_files_have_their_source_as_attributes(tmp_path):
    path = tmp_path / "study.npz"
    np.savez(path, ids=np.asarray(["x", "y"]), feature=np.eye(2))
    assert read_attrs(path) == Representations.load(path).attrs == {"source": str(path)}
