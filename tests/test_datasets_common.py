"""The shared path of the loaders: list file → extract → task data, atomically."""

import pytest

from audio_gen import music, write, write_corrupt
from hdpmusic.datasets.base import prepare_corpus, write_list_file
from hdpmusic.formats.taskdata import TaskData, normalise_split, read_task
from hdpmusic.runtime.errors import DataError, HdpmusicError, name_some


def test_name_some_and_aliases():
    assert name_some(["a", "b"]) == "a, b"
    assert name_some([str(i) for i in range(10)], limit=3) == "0, 1, 2, ... (and 7 more)"
    assert [normalise_split(s) for s in (" Train", "VAL", "validation", "test", "bad")] == [
        "train", "valid", "valid", "test", "bad"]


def test_write_list_file(tmp_path):
    path = write_list_file([("x/1", tmp_path / "a.wav")], tmp_path / "l.txt")
    assert path.read_text() == f"{(tmp_path / 'a.wav').resolve()}\tx/1\n"
    with pytest.raises(DataError, match="tab"):
        write_list_file([("x\t1", tmp_path / "a.wav")], tmp_path / "l.txt")


def test_prepare_corpus_drops_failures_and_is_atomic(tmp_path):
    tracks = [("one", write(tmp_path / "1.wav", music(1.0, seed=1))),
              ("bad", write_corrupt(tmp_path / "2.wav")),
              ("three", write(tmp_path / "3.wav", music(1.0, seed=3)))]
    seen = []

    def make_task(ids):
        seen.append(ids)
        return TaskData(ids=ids, targets=[i.upper() for i in ids], split=["train", "test"])

    out = tmp_path / "task.h5"
    prepare_corpus(tracks, out, make_task, dataset="toy", provenance={"k": 1},
                   progress=False)
    assert seen == [["one", "three"]]
    task = read_task(out)
    assert task.ids == ["one", "three"] and list(task.targets) == ["ONE", "THREE"]

    def broken(ids):
        raise DataError("task data cannot be built")

    other = tmp_path / "other.h5"
    with pytest.raises(DataError, match="cannot be built"):
        prepare_corpus(tracks, other, broken, dataset="toy", progress=False)
    assert not other.exists() and not list(tmp_path.glob(".other.h5*"))
    with pytest.raises(HdpmusicError, match="overwrite"):
        prepare_corpus(tracks, out, make_task, dataset="toy", progress=False)
    with pytest.raises(DataError, match="no tracks"):
        prepare_corpus([], tmp_path / "none.h5", None, dataset="toy", progress=False)
