"""`hdpmusic fit` / `hdpmusic transform` end to end, including kill-and-resume."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from cli_checks import one_line_error
from hdpmusic import HDPGMM, Corpus, Representations
from hdpmusic.cli import build_parser, main
from hdpmusic.cli.fit import hdpgmm_params
from hdpmusic.formats.taskdata import TaskData, song_groups, write_task
from hdpmusic.model import memory
from hdpmusic.model.stopping import validation_split
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
    live = model.song_components()
    assert reps.ids[0] == "song000" and reps.X.shape == (45, len(live))
    assert reps.attrs["kind"] == "responsibility" and reps.attrs["log"] is True
    assert reps.attrs["components"] == live.tolist()
    full = model.transform(Corpus.open(corpus_file), kind="responsibility", log=False,
                           components="all")
    np.testing.assert_allclose(full.sum(1), 1.0, atol=1e-3)
    np.testing.assert_allclose(np.exp(reps.X), full[:, live], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(
        reps.X, model.transform(Corpus.open(corpus_file), kind="responsibility"), rtol=1e-6)


def test_transform_fisher_kinds_and_batch_size(corpus_file, tmp_path, capsys):
    """--kind fisher / fisher-mean with --min-weight write what the estimator computes and
    record the components; a batch size that is not a whole number >= 1 is refused by the
    parser (it wrote NaN vectors for -1)."""
    model_path = tmp_path / "m.hdp"
    assert main(["-q", "fit", str(corpus_file), "--out", str(model_path), "--epochs", "2",
                 *ARGS]) == 0
    model = HDPGMM.load(model_path)
    corpus = Corpus.open(corpus_file)
    w = float(np.sort(model.weights_)[-3])
    for kind in ("fisher", "fisher-mean"):
        out = tmp_path / f"{kind}.h5"
        assert main(["-q", "transform", str(model_path), str(corpus_file), "--out", str(out),
                     "--kind", kind, "--min-weight", str(w), "--batch-size", "7"]) == 0
        reps = Representations.load(out)
        kept = model.song_components(min_weight=w)
        assert reps.attrs["components"] == kept.tolist() and len(kept) == 3
        assert reps.attrs["kind"] == kind and reps.attrs["log"] is False
        # another batch size pads songs differently: float32 rounding only (the tolerance
        # of test_model_fisher's batch-size invariance)
        np.testing.assert_allclose(reps.X, model.transform(corpus, kind=kind, min_weight=w),
                                   rtol=1e-5, atol=2e-5)
    assert Representations.load(tmp_path / "fisher.h5").X.shape == (45, 3 * (1 + 2 * 3))
    for bad in ("-1", "0", "2.5"):
        with pytest.raises(SystemExit) as stop:
            main(["transform", str(model_path), str(corpus_file), "--out",
                  str(tmp_path / "bad.h5"), "--batch-size", bad])
        assert stop.value.code == 2
        assert "whole number >= 1" in capsys.readouterr().err
    assert not (tmp_path / "bad.h5").exists()


def test_fit_refuses_existing_output(corpus_file, tmp_path, capsys):
    out = tmp_path / "m.hdp"
    out.write_bytes(b"precious")
    assert main(["fit", str(corpus_file), "--out", str(out), *ARGS]) == 1
    err = capsys.readouterr().err
    assert "exists" in err and err.count("\n") == 1
    assert out.read_bytes() == b"precious"


def test_bad_parameters_and_files_give_one_line_errors(corpus_file, tmp_path, capsys):
    with pytest.raises(SystemExit) as refused:                   # the option's type
        main(["fit", str(corpus_file), "--out", str(tmp_path / "a.hdp"), "--n-components", "0"])
    assert refused.value.code == 2 and "--n-components" in capsys.readouterr().err
    assert main(["fit", str(corpus_file), "--out", str(tmp_path / "a.hdp"),   # the model's
                 "--algorithm", "online", "--tau0", "0"]) == 1
    assert "tau0 must be > 0 when kappa > 0" in capsys.readouterr().err
    junk = tmp_path / "junk.hdp"
    junk.write_bytes(b"junk")
    assert main(["transform", str(junk), str(corpus_file), "--out",
                 str(tmp_path / "r.h5")]) == 1
    assert "junk.hdp" in capsys.readouterr().err


def test_resume_after_kill_matches_uninterrupted(corpus_file, tmp_path):
    epochs = ["--epochs", "40", "--tol", "0", "--checkpoint-every", "1"]
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


def fit(corpus, out, *extra):
    return main(["-q", "fit", str(corpus), "--out", str(out), *extra])


def test_resume_takes_its_settings_from_the_checkpoint(corpus_file, tmp_path, capsys):
    """Without --epochs a resumed run goes to the checkpoint's own max_epochs (not 100),
    the result equals an uninterrupted run, and --epochs extends it."""
    full, out = tmp_path / "full.hdp", tmp_path / "part.hdp"
    assert fit(corpus_file, full, "--epochs", "3", *ARGS) == 0
    assert fit(corpus_file, out, "--epochs", "1", *ARGS) == 0
    part = HDPGMM.load(out)
    part.set_params(max_epochs=3)         # as if a 3-epoch run had stopped after epoch 1
    part.save(out)
    assert fit(corpus_file, out, "--resume") == 0
    a, b = HDPGMM.load(full), HDPGMM.load(out)
    assert b.max_epochs == 3 and b.n_steps_ == a.n_steps_ == 9
    for name, value in a.stats_.tensors().items():
        assert torch.equal(value, b.stats_.tensors()[name]), name
    # the same values as saved are accepted; --epochs extends the run
    assert fit(corpus_file, out, "--resume", "--seed", "3", "--epochs", "4") == 0
    assert HDPGMM.load(out).n_steps_ == 12
    capsys.readouterr()


@pytest.mark.parametrize("option, value, saved", [
    ("--kappa", "0.5", "0.6"), ("--n-components", "12", "10"), ("--batch-size", "20", "15"),
    ("--seed", "4", "3"), ("--whiten", "none", "cholesky"), ("--epochs", "1", "2 epochs"),
])
def test_resume_refuses_options_that_contradict_the_checkpoint(corpus_file, tmp_path,
                                                               capsys, option, value, saved):
    out = tmp_path / "m.hdp"
    assert fit(corpus_file, out, "--epochs", "2", *ARGS) == 0
    before = out.read_bytes()
    capsys.readouterr()
    assert fit(corpus_file, out, "--resume", option, value) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and option in err and saved in err, err
    assert out.read_bytes() == before


def test_resume_refuses_another_corpus_of_the_same_size(corpus_file, tmp_path, capsys,
                                                        monkeypatch):
    """The corpus fingerprint (ids and lengths) the checkpoint records must match.

    HDPGMM's header stores ``corpus_fingerprint_`` once the model saves it; here the
    loaded model is given the attribute, as such a checkpoint would."""
    from hdpmusic.formats.corpus import corpus_fingerprint

    out = tmp_path / "m.hdp"
    assert fit(corpus_file, out, "--epochs", "1", *ARGS) == 0
    load = HDPGMM.load.__func__

    def load_with_fingerprint(cls, path, **kwargs):
        model = load(cls, path, **kwargs)
        model.corpus_fingerprint_ = corpus_fingerprint(Corpus.open(corpus_file))
        return model

    monkeypatch.setattr(HDPGMM, "load", classmethod(load_with_fingerprint))
    corpus = Corpus.open(corpus_file)
    other = tmp_path / "other.h5"
    Corpus.from_arrays([corpus[j] for j in range(len(corpus))],
                       ids=[f"other{j:03d}" for j in range(len(corpus))]).save(other)
    capsys.readouterr()
    assert fit(other, out, "--resume", "--epochs", "2") == 1
    assert "fitted on another corpus" in capsys.readouterr().err
    assert fit(corpus_file, out, "--resume", "--epochs", "2") == 0
    assert HDPGMM.load(out).n_steps_ == 6


def test_a_second_run_on_the_same_output_fails(corpus_file, tmp_path, capsys):
    """Two fits to one --out: the second fails at once instead of both 'succeeding'."""
    from hdpmusic.formats.locking import output_lock

    out = tmp_path / "m.hdp"
    with output_lock(out):                    # a run in progress
        assert fit(corpus_file, out, "--epochs", "1", *ARGS) == 1
        assert "being written by another run" in capsys.readouterr().err
        assert fit(corpus_file, out, "--model", "g1") == 1
        assert "being written by another run" in capsys.readouterr().err
        assert not out.exists()
    assert fit(corpus_file, out, "--epochs", "1", *ARGS) == 0


@pytest.mark.parametrize("option, value, message", [
    ("--tau0", "inf", "--tau0: expected a finite number >= 0, got 'inf'"),
    ("--epochs", "0", "--epochs: expected a whole number >= 1, got '0'"),
    ("--validation-fraction", "1", "--validation-fraction: expected a number in (0, 1), "
                                   "got '1'"),
    ("--checkpoint-every", "-2", "--checkpoint-every: expected a whole number >= 1, or 0 "
                                 "(hdpgmm at epoch ends, kim/clmr at the end), got '-2'"),
])
def test_meaningless_values_are_refused(corpus_file, tmp_path, capsys, option, value,
                                        message):
    out = tmp_path / "m.hdp"
    with pytest.raises(SystemExit) as exit_:
        fit(corpus_file, out, option, value)
    assert exit_.value.code == 2 and message in capsys.readouterr().err
    assert not out.exists()



def test_an_output_that_is_an_input_is_refused_whatever_the_flags(corpus_file, tmp_path,
                                                                   capsys):
    """transform/fit --out CORPUS --overwrite would replace the corpus with a small file."""
    model = tmp_path / "m.hdp"
    assert fit(corpus_file, model, "--epochs", "1", *ARGS) == 0
    capsys.readouterr()
    corpus_bytes, model_bytes = corpus_file.read_bytes(), model.read_bytes()
    link = tmp_path / "link.h5"
    link.symlink_to(corpus_file)
    for out in (corpus_file, link):
        assert main(["transform", str(model), str(corpus_file), "--out", str(out),
                     "--overwrite"]) == 1
        one_line_error(capsys, "is the corpus given as input")
    assert main(["transform", str(model), str(corpus_file), "--out", str(model),
                 "--overwrite"]) == 1
    one_line_error(capsys, "is the model file given as input")
    for extra in ([], ["--model", "g1"]):
        assert fit(corpus_file, corpus_file, "--overwrite", *extra) == 1
        one_line_error(capsys, "is the corpus given as input")
    assert corpus_file.read_bytes() == corpus_bytes and model.read_bytes() == model_bytes


@pytest.mark.parametrize("options, flag, algorithm", [
    (["--kappa", "0.5"], "--kappa", "online"),
    (["--tau0", "10"], "--tau0", "online"),
    (["--algorithm", "memoized", "--tau0", "10"], "--tau0", "online"),
    (["--algorithm", "online", "--tol", "0"], "--tol", "memoized"),
    (["--algorithm", "online", "--no-moves"], "--no-moves", "memoized"),
    (["--algorithm", "online", "--early-stopping"], "--early-stopping", "memoized"),
    (["--algorithm", "online", "--n-iter-no-change", "3"], "--n-iter-no-change", "memoized"),
])
def test_options_the_algorithm_does_not_use_are_refused(corpus_file, tmp_path, capsys,
                                                        options, flag, algorithm):
    out = tmp_path / "m.hdp"
    assert fit(corpus_file, out, "--epochs", "1", *options, *ARGS) == 1
    one_line_error(capsys, flag, f"--algorithm {algorithm} only")
    assert not out.exists()


@pytest.mark.parametrize("typed, value", [
    ([], "left out"), (["--early-stopping"], True), (["--early-stopping", "on"], True),
    (["--early-stopping", "off"], False), (["--early-stopping", "auto"], "auto"),
])
def test_early_stopping_is_auto_on_or_off(typed, value, capsys):
    """Left out, the model's default (auto) applies; alone, the option turns it on."""
    args = build_parser().parse_args(["fit", "c.h5", "--out", "m.hdp", *typed])
    got = hdpgmm_params(args)[0].get("early_stopping", "left out")
    assert got == value and type(got) is type(value)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["fit", "c.h5", "--out", "m.hdp", "--early-stopping", "yes"])
    assert "expected auto, on or off, got 'yes'" in capsys.readouterr().err


def test_early_stopping_holds_songs_out_and_scores_them_every_pass(corpus_file, tmp_path,
                                                                 capsys):
    out = tmp_path / "m.hdp"
    assert fit(corpus_file, out, "--epochs", "3", "--early-stopping",
               "--validation-fraction", "0.2", "--n-iter-no-change", "7", *ARGS) == 0
    assert "stopped at --epochs" in capsys.readouterr().out
    model = HDPGMM.load(out)
    assert (model.early_stopping, model.validation_fraction, model.n_iter_no_change) == (
        True, 0.2, 7)
    assert model.n_songs_ == 36                                       # 45 - ceil(0.2 * 45)
    assert all(np.isfinite(p["validation_score"]) for p in model.passes_)
    again = tmp_path / "again.hdp"
    assert fit(corpus_file, again, "--epochs", "30", "--tol", "1e-3", "--early-stopping",
               "--n-iter-no-change", "1", *ARGS) == 0
    model = HDPGMM.load(again)
    *held_out, last = model.passes_
    assert held_out[-1]["stopped_early"] and last["folded_in"] and len(model.passes_) < 30
    assert model.n_songs_ == 45
    assert (f"stopped early after pass {len(held_out)}: held-out log density/frame "
            f"{held_out[-1]['validation_score']:.4g}; the held-out songs joined for the last "
            "pass") in capsys.readouterr().out


@pytest.mark.filterwarnings("ignore:memoized inference reached max_epochs")
def test_early_stopping_holds_out_the_corpus_files_groups_whole(corpus_file, tmp_path):
    """A corpus file with a groups column (songs without one alone): the fit holds out
    whole groups, as HDPGMM.fit(groups=) of the same labels does."""
    path = tmp_path / "grouped.h5"
    path.write_bytes(corpus_file.read_bytes())
    ids = Corpus.open(path).ids
    labels = [f"track{j // 3}" if j < 30 else "" for j in range(len(ids))]
    write_task(path, TaskData(ids=ids, groups=np.array(labels)))
    out = tmp_path / "m.hdp"
    assert fit(path, out, "--epochs", "1", "--early-stopping", "--validation-fraction",
               "0.2", *ARGS) == 0
    units = np.array([label or f"alone{j}" for j, label in enumerate(labels)])
    train, _ = validation_split(len(ids), 0.2, 3, song_groups(ids, np.array(labels)))
    assert HDPGMM.load(out).n_songs_ == len(train) != 45 - 9    # songs alone: 36 kept
    assert len(set(units[train])) == 20


def test_resume_refuses_the_same_songs_with_other_frames(corpus_file, tmp_path, capsys):
    """Same ids and lengths, frames x 1000: the content fingerprint differs."""
    out = tmp_path / "m.hdp"
    assert fit(corpus_file, out, "--epochs", "1", *ARGS) == 0
    corpus = Corpus.open(corpus_file)
    scaled = tmp_path / "scaled.h5"
    Corpus.from_arrays([corpus[j] * 1000 for j in range(len(corpus))], ids=corpus.ids).save(
        scaled)
    before = out.read_bytes()
    capsys.readouterr()
    assert fit(scaled, out, "--resume", "--epochs", "2") == 1
    one_line_error(capsys, "other frames")
    assert out.read_bytes() == before
    assert fit(corpus_file, out, "--resume", "--epochs", "2") == 0


def test_old_checkpoint_without_corpus_record_still_resumes(corpus_file, tmp_path):
    out = tmp_path / "m.hdp"
    assert fit(corpus_file, out, "--epochs", "1", *ARGS) == 0
    model = HDPGMM.load(out)
    assert model.fitted_corpus_["content"].startswith("sha256:")
    del model.fitted_corpus_
    model.save(out)
    assert HDPGMM.load(out).fitted_corpus_ is None
    assert fit(corpus_file, out, "--resume", "--epochs", "2") == 0


def test_a_huge_n_components_is_refused_before_allocating(corpus_file, tmp_path, capsys):
    out = tmp_path / "m.hdp"
    assert fit(corpus_file, out, "--n-components", str(10**9), "--epochs", "1") == 1
    one_line_error(capsys, "K=1000000000", "GiB", "available", "--n-components")
    assert not out.exists()


def test_memory_estimate_counts_k_t_d_and_the_batch(corpus_file, tmp_path, capsys,
                                                    monkeypatch):
    """With 1 GiB free, K = 1e6 (the one-hot initial assignments alone take 16 GB) is
    refused at once, naming the size and the memory available; K = 10 fits."""
    monkeypatch.setattr(memory, "available_bytes", lambda device: 1 << 30)
    out = tmp_path / "m.hdp"
    assert fit(corpus_file, out, "--n-components", str(10**6), "--epochs", "1",
               "--device", "cpu") == 1
    one_line_error(capsys, "K=1000000", "GiB on cpu, which has 1 GiB available")
    assert not out.exists()
    assert fit(corpus_file, out, "--epochs", "1", *ARGS) == 0


def test_checkpoint_header_disagreeing_with_its_tensors_is_refused(corpus_file, tmp_path,
                                                                   capsys):
    """A header declaring K = 1e9 over tensors of K = 10 is refused before anything is
    built from it."""
    import json

    out = tmp_path / "m.hdp"
    assert fit(corpus_file, out, "--epochs", "1", *ARGS) == 0
    payload = torch.load(out, weights_only=True)
    header = json.loads(payload["header"])
    header["params"]["n_components"] = 10**9
    payload["header"] = json.dumps(header)
    torch.save(payload, out)
    capsys.readouterr()
    assert main(["transform", str(out), str(corpus_file), "--out",
                 str(tmp_path / "r.h5")]) == 1
    one_line_error(capsys, "K=1000000000", "'stats.N'", "damaged")
    assert not (tmp_path / "r.h5").exists()
