"""Task annotations inside a corpus file: round trip, the study's layout, errors."""

import h5py
import numpy as np
import pytest
import scipy.sparse as sp

from hdpmusic.formats.taskdata import TaskData, read_task, write_task
from hdpmusic.runtime.errors import DataError, FormatError

IDS = ["a", "b", "c", "d"]


def genre_task():
    return TaskData(IDS, split=["train", "valid", "test", "bad"],
                    targets=["rock", "jazz", "rock", "pop"], groups=["x", "", "y", "x"])


def tagging_task():
    annotations = sp.csr_matrix(np.array([[1, 0, 1], [0, 0, 0], [0, 1, 1], [1, 1, 0]]))
    return TaskData(IDS, split=["train", "train", "valid", "test"],
                    annotations=annotations, tags=["guitar", "piano", "slow"])


def recommendation_task():
    interaction = sp.csr_matrix(np.array([[3, 0, 1], [0, 2, 0]]))
    return TaskData(IDS, interaction=interaction, userlist=["u1", "u2"],
                    itemlist=["c", "a", "d"])


def assert_same(a, b):
    assert a.ids == b.ids
    for label in ("split", "targets", "groups"):
        x, y = getattr(a, label), getattr(b, label)
        assert (x is None) == (y is None)
        if x is not None:
            assert list(x) == list(y)
    for label in ("annotations", "interaction"):
        x, y = getattr(a, label), getattr(b, label)
        assert (x is None) == (y is None)
        if x is not None:
            np.testing.assert_array_equal(x.toarray(), y.toarray())
    assert a.tags == b.tags and a.userlist == b.userlist and a.itemlist == b.itemlist


@pytest.mark.parametrize(("make", "kind"), [(genre_task, "genre"), (tagging_task, "tagging"),
                                            (recommendation_task, "recommendation")])
def test_round_trip(tmp_path, make, kind):
    path = tmp_path / "gtzan.h5"
    write_task(path, make())
    task = read_task(path)
    assert_same(task, make())
    assert task.task_kind == kind
    assert task.name == "gtzan"
    assert (task.groups is None) == (kind != "genre")     # optional: absent unless given


def test_write_keeps_frames_and_checks_ids(tmp_path):
    path = tmp_path / "corpus.h5"
    frames = np.arange(12, dtype=np.float32).reshape(6, 2)
    with h5py.File(path, "w") as f:
        f["data"] = frames
        f["indptr"] = np.array([0, 1, 3, 5, 6])
        f.create_dataset("ids", data=np.array(IDS, dtype=object),
                         dtype=h5py.string_dtype("utf-8"))
    write_task(path, genre_task())
    write_task(path, genre_task())  # replacing the groups is allowed
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(f["data"][()], frames)
    assert_same(read_task(path), genre_task())
    with pytest.raises(DataError, match="ids differ"):
        write_task(path, TaskData(["a", "b", "c", "e"], targets=list("wxyz")))


def test_reads_the_study_layout(tmp_path):
    """int32 clip ids and indptr, bytes strings, integer tag data, no split."""
    path = tmp_path / "mtat.h5"
    with h5py.File(path, "w") as f:
        f["data"] = np.zeros((3, 52), dtype=np.float32)
        f["indptr"] = np.array([0, 1, 2, 3], dtype=np.int32)
        f["ids"] = np.array([2, 6, 10], dtype=np.int32)
        g = f.create_group("annotations")
        g["indptr"] = np.array([0, 1, 1, 3], dtype=np.int32)
        g["indices"] = np.array([1, 0, 1], dtype=np.int32)
        g["data"] = np.array([1, 1, 1], dtype=np.int64)
        g["tags"] = np.array([b"guitar", b"classical"])
        g = f.create_group("interaction")
        g["indptr"] = np.array([0, 2], dtype=np.int32)
        g["indices"] = np.array([0, 2], dtype=np.int32)
        g["data"] = np.array([5.0, 1.0])
        g.create_dataset("userlist", data=np.array(["ab12"], dtype=object),
                         dtype=h5py.string_dtype("utf-8"))
        g["itemlist"] = np.array([b"2", b"6", b"10"])
    task = read_task(path)
    assert task.ids == ["2", "6", "10"]
    assert task.split is None
    assert task.tags == ["guitar", "classical"]
    np.testing.assert_array_equal(task.annotations.toarray(), [[0, 1], [0, 0], [1, 1]])
    np.testing.assert_array_equal(task.interaction.toarray(), [[5, 0, 1]])
    assert task.userlist == ["ab12"] and task.itemlist == ["2", "6", "10"]
    assert task.kinds == ("tagging", "recommendation")
    with pytest.raises(DataError, match="exactly one kind"):
        _ = task.task_kind


def test_bad_files(tmp_path):
    with pytest.raises(FormatError, match="cannot read"):
        read_task(tmp_path / "missing.h5")
    path = tmp_path / "noids.h5"
    with h5py.File(path, "w") as f:
        f["data"] = np.zeros((1, 2))
    with pytest.raises(FormatError, match="no 'ids'"):
        read_task(path)
    path = tmp_path / "badcsr.h5"
    with h5py.File(path, "w") as f:
        f["ids"] = np.array([1, 2], dtype=np.int32)
        g = f.create_group("annotations")
        g["indptr"] = np.array([0, 1])
        g["indices"] = np.array([0])
        g["data"] = np.array([1])
        g["tags"] = np.array([b"x"])
    with pytest.raises(FormatError, match="inconsistent CSR"):
        read_task(path)


def test_validation():
    with pytest.raises(DataError, match="not unique"):
        TaskData(["a", "a"])
    with pytest.raises(DataError, match="targets has 1 entries"):
        TaskData(["a", "b"], targets=["x"])
    with pytest.raises(DataError, match="groups has 3 entries for 2 songs"):
        TaskData(["a", "b"], groups=["x", "y", "z"])
    with pytest.raises(DataError, match="expected"):
        TaskData(["a"], annotations=sp.csr_matrix(np.ones((1, 2))), tags=["x"])
    with pytest.raises(DataError, match="go together"):
        TaskData(["a"], interaction=sp.csr_matrix(np.ones((1, 1))), userlist=["u"])
    with pytest.raises(DataError, match="found: none"):
        _ = TaskData(["a"]).task_kind
