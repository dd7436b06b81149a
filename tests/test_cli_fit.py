"""`hdpmusic fit` / `hdpmusic transform` end to end, including kill-and-resume."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from hdpmusic import HDPGMM, Corpus, Representations
from hdpmusic.cli import main
from planted import planted_hdp
from processes import kill_when

ARGS = ["--n-components", "10", "--n-song-components", "4", "--batch-size", "15",
        "--seed", "3"]


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory):
    X, _ = planted_hdp(seed=4, n_true=5, d=3, songs=45, frames=(20, 30))
    path = tmp_path_factory.mktemp("fit") / "corpus.h5"
    Corpus.from_arrays(X, ids=[f"song{j:03d}" for j in range(len(X))]).save(path)
    return path


def test_fit_then_transform(corpus_file, tmp_path, capsys):
    model_path, reps_path = tmp_path / "m.hdp", tmp_path / "reps.h5"
    assert main(["-q", "fit", str(corpus_file), "--out", str(model_path), "--epochs", "2",
                 *ARGS]) == 0
    assert "active components" in capsys.readouterr().out
    model = HDPGMM.load(model_path)
    assert model.n_components == 10 and model.n_steps_ == 6
    assert main(["transform", str(model_path), str(corpus_file), "--out", str(reps_path),
                 "--kind", "responsibility"]) == 0
    reps = Representations.load(reps_path)
    assert reps.ids[0] == "song000" and reps.X.shape == (45, 10)
    np.testing.assert_allclose(np.exp(reps.X).sum(1), 1.0, atol=1e-3)
    assert reps.attrs["kind"] == "responsibility"
    np.testing.assert_allclose(
        reps.X, model.transform(Corpus.open(corpus_file), kind="responsibility"), rtol=1e-6)


def test_fit_refuses_existing_output(corpus_file, tmp_path, capsys):
    out = tmp_path / "m.hdp"
    out.write_bytes(b"precious")
    assert main(["fit", str(corpus_file), "--out", str(out), *ARGS]) == 1
    err = capsys.readouterr().err
    assert "exists" in err and err.count("\n") == 1
    assert out.read_bytes() == b"precious"


def test_bad_parameters_and_files_give_one_line_errors(corpus_file, tmp_path, capsys):
    assert main(["fit", str(corpus_file), "--out", str(tmp_path / "a.hdp"),
                 "--n-components", "0"]) == 1
    assert "n_components" in capsys.readouterr().err
    junk = tmp_path / "junk.hdp"
    junk.write_bytes(b"junk")
    assert main(["transform", str(junk), str(corpus_file), "--out",
                 str(tmp_path / "r.h5")]) == 1
    assert "junk.hdp" in capsys.readouterr().err


def test_resume_after_kill_matches_uninterrupted(corpus_file, tmp_path):
    epochs = ["--epochs", "40", "--checkpoint-every", "1"]
    full = tmp_path / "full.hdp"
    assert main(["-q", "fit", str(corpus_file), "--out", str(full), *epochs, *ARGS]) == 0
    out = tmp_path / "killed.hdp"
    cmd = [sys.executable, "-m", "hdpmusic", "-q", "fit", str(corpus_file), "--out", str(out),
           *epochs, *ARGS]
    proc = subprocess.Popen(cmd)
    kill_when(proc, out.exists)
    steps_at_kill = HDPGMM.load(out).n_steps_
    assert 0 < steps_at_kill < 120, "the run should have been killed part-way"
    assert main(["-q", "fit", str(corpus_file), "--out", str(out), "--resume", *epochs,
                 *ARGS]) == 0
    a, b = HDPGMM.load(full), HDPGMM.load(out)
    assert b.n_steps_ == a.n_steps_ == 120
    for name, value in a.stats_.tensors().items():
        assert torch.equal(value, b.stats_.tensors()[name]), name
