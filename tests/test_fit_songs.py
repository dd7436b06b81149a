"""`hdpmusic fit --songs train,valid` (and :func:`songs_in_splits`): no test song is seen."""

import numpy as np
import pytest

from hdpmusic import HDPGMM, Corpus
from hdpmusic.baselines.vq import VQCodebook
from hdpmusic.cli import main
from hdpmusic.formats.corpus import corpus_fingerprint
from hdpmusic.formats.taskdata import TaskData, songs_in_splits, write_task
from hdpmusic.runtime.errors import DataError

SPLIT = ["train", "valid", "test"] * 10


@pytest.fixture(scope="module")
def task_file(tmp_path_factory):
    """30 songs of 3-d frames; the 10 test songs lie far away, at 1000."""
    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=(20, 3)) + (1000.0 if s == "test" else 0.0) for s in SPLIT]
    ids = [f"song{j:02d}" for j in range(len(SPLIT))]
    path = tmp_path_factory.mktemp("songs") / "task.h5"
    Corpus.from_arrays(arrays, ids=ids).save(path)
    write_task(path, TaskData(ids=ids, split=SPLIT, targets=["a", "b"] * 15))
    return path


def test_songs_in_splits(task_file):
    chosen = songs_in_splits(Corpus.open(task_file), ["train", "validation"])
    assert len(chosen) == 20
    assert all(SPLIT[int(i[4:])] != "test" for i in chosen.ids)
    with pytest.raises(DataError, match="no split dev2"):
        songs_in_splits(Corpus.open(task_file), ["dev2"])


def test_vq_fit_on_train_valid_never_sees_test_songs(task_file, tmp_path):
    common = ["-q", "fit", str(task_file), "--model", "vq", "--n-clusters", "2",
              "--no-standardize", "--seed", "1"]
    assert main([*common, "--out", str(tmp_path / "all.hdp")]) == 0
    assert main([*common, "--out", str(tmp_path / "tv.hdp"), "--songs", "train,valid"]) == 0
    # on all songs one codeword takes the far test frames; without them none goes there
    assert VQCodebook.load(tmp_path / "all.hdp").cluster_centers_.max() > 500
    assert np.abs(VQCodebook.load(tmp_path / "tv.hdp").cluster_centers_).max() < 5


def test_hdpgmm_fit_sees_only_the_chosen_songs(task_file, tmp_path, monkeypatch):
    seen = []
    fit = HDPGMM.fit

    def spy(self, corpus, *args, **kwargs):
        seen.extend(corpus.ids)
        return fit(self, corpus, *args, **kwargs)

    monkeypatch.setattr(HDPGMM, "fit", spy)
    assert main(["-q", "fit", str(task_file), "--out", str(tmp_path / "m.hdp"),
                 "--songs", "train,valid", "--n-components", "4", "--n-song-components",
                 "2", "--batch-size", "10", "--epochs", "1", "--whiten", "none"]) == 0
    assert sorted(seen) == [f"song{j:02d}" for j in range(30) if SPLIT[j] != "test"]
    assert HDPGMM.load(tmp_path / "m.hdp").n_steps_ == 2   # 20 songs / batch 10


def test_songs_needs_a_split(tmp_path, capsys):
    path = tmp_path / "plain.h5"
    Corpus.from_arrays([np.ones((3, 2))] * 3).save(path)
    assert main(["-q", "fit", str(path), "--model", "g1", "--out", str(tmp_path / "g.hdp"),
                 "--songs", "train"]) == 1
    assert "no split" in capsys.readouterr().err


def test_resume_checks_the_songs_fitted_not_the_whole_file(task_file, tmp_path, capsys):
    out = tmp_path / "m.hdp"
    common = ["-q", "fit", str(task_file), "--out", str(out), "--n-components", "4",
              "--n-song-components", "2", "--batch-size", "10", "--whiten", "none"]
    assert main([*common, "--songs", "train,valid", "--epochs", "1"]) == 0
    train_valid = songs_in_splits(Corpus.open(task_file), ["train", "valid"])
    assert HDPGMM.load(out).corpus_fingerprint_ == corpus_fingerprint(train_valid)
    # as many songs (20) but others: refused; the same splits: continued
    assert main([*common, "--songs", "train,test", "--resume", "--epochs", "2"]) == 1
    assert "another corpus" in capsys.readouterr().err
    assert main([*common, "--songs", "valid,train", "--resume", "--epochs", "2"]) == 0
    assert HDPGMM.load(out).epoch_ == 2
