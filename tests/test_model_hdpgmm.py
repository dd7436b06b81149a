"""The HDPGMM estimator: planted truth, the online update, persistence, bad input."""

import numpy as np
import pytest
import torch
from scipy import stats

from hdpmusic import HDPGMM, Corpus
from hdpmusic.formats.checkpoint import load_checkpoint, save_checkpoint
from hdpmusic.model.local import infer_batch
from hdpmusic.runtime.errors import DataError, FormatError, ParameterError
from planted import planted_hdp

SMALL = dict(n_components=12, n_song_components=4, batch_size=20, max_epochs=2,
             verbose=False, random_state=0)


@pytest.fixture(scope="module")
def corpus():
    X, Z = planted_hdp(seed=1, n_true=6, d=3, songs=60, frames=(20, 40))
    return X, Z


@pytest.fixture(scope="module")
def fitted(corpus):
    return HDPGMM(**SMALL).fit(corpus[0])


def test_batch_elbo_never_decreases():
    """ρ = 1 (kappa = 0), the whole corpus as one batch and no splash: coordinate ascent."""
    X, _ = planted_hdp(seed=2, n_true=8, d=3, songs=80, frames=(20, 40))
    model = HDPGMM(n_components=16, n_song_components=5, batch_size=len(X), max_epochs=8,
                   algorithm="online", kappa=0.0, eta0=0.0, dtype="float64", local_tol=1e-10,
                   local_max_iter=500, verbose=False).fit(X)
    elbo = np.array([h["elbo_per_frame"] for h in model.history_])
    assert len(elbo) == 8
    assert (np.diff(elbo) >= -1e-7 * np.abs(elbo[1:])).all(), elbo
    assert elbo[-1] > elbo[0]


def test_online_update_mixes_scaled_statistics(corpus):
    """stats ← (1 − ρ_t)·stats + ρ_t·(J/|B|)·batch with the actual batch size."""
    X, _ = corpus
    model = HDPGMM(**{**SMALL, "eta0": 0.0, "tau0": 3.0, "kappa": 0.7, "algorithm": "online"})
    model.partial_fit(X[:9], corpus_size=60)
    model.partial_fit(X[9:16])
    before, t = model.stats_, model.n_steps_
    batch = Corpus.from_arrays(X[16:23])
    packed = batch.load_batch(np.arange(7), whitener=model.whitener_)
    res = infer_batch(packed.frames, batch.lengths, model._local_params())
    model.partial_fit(X[16:23])
    rho = (3.0 + t) ** -0.7
    for name, value in model.stats_.tensors().items():
        want = (1 - rho) * before.tensors()[name] + rho * 60 / 7 * res.stats.tensors()[name]
        torch.testing.assert_close(value, want, rtol=1e-9, atol=1e-9)
    assert model.history_[-1]["rho"] == pytest.approx(rho)


def test_splash_schedule_and_history(corpus):
    fitted = HDPGMM(**{**SMALL, "algorithm": "online"}).fit(corpus[0])
    h = fitted.history_
    assert len(h) == fitted.n_steps_ == 2 * 3
    assert h[0]["eta"] == pytest.approx(0.1)
    assert h[-1]["eta"] == pytest.approx(0.1 * 1e3 / (5 + 1e3))
    assert {"elbo_per_frame", "n_active", "frames_per_s", "local_iter", "padding",
            "data_wait"} <= set(h[0])
    assert all(r["padding"] <= 0.1 for r in h)


def test_deterministic_with_seed(corpus):
    a = HDPGMM(**SMALL).fit(corpus[0])
    b = HDPGMM(**SMALL).fit(corpus[0])
    c = HDPGMM(**{**SMALL, "random_state": 1}).fit(corpus[0])
    for name, value in a.stats_.tensors().items():
        assert torch.equal(value, b.stats_.tensors()[name])
    assert not torch.equal(a.stats_.S1, c.stats_.S1)


def test_float64_agrees_with_float32(corpus, fitted):
    m64 = HDPGMM(**{**SMALL, "dtype": "float64"}).fit(corpus[0])
    np.testing.assert_allclose(m64.weights_, fitted.weights_, atol=1e-3)
    np.testing.assert_allclose(m64.means_, fitted.means_, atol=1e-2)


@pytest.mark.parametrize("kind", ["posterior", "responsibility", "loglik"])
def test_transform_kinds(fitted, corpus, kind):
    Y = fitted.transform(corpus[0], kind=kind, log=False, components="all")
    assert Y.shape == (60, 12)
    total = 1.0 / np.array([len(x) for x in corpus[0]]) if kind == "loglik" else 1.0
    np.testing.assert_allclose(Y.sum(1), total, rtol=1e-4)
    live = fitted.song_components()
    logY = fitted.transform(corpus[0], kind=kind, batch_size=7)
    np.testing.assert_allclose(logY, np.log(np.maximum(Y[:, live], 1e-8)), rtol=1e-4,
                               atol=1e-4)


@pytest.mark.parametrize("kind", ["posterior", "loglik"])
def test_transform_of_songs_straddling_frame_chunks(fitted, corpus, kind):
    X = corpus[0] * 2
    long = [np.concatenate(X[i:i + 20]) for i in range(0, 120, 20)]   # ≈ 570 frames each
    assert sum(map(len, long)) > 2048          # one batch, several chunks on a CPU
    together = fitted.transform(long, kind=kind, batch_size=6)
    alone = np.concatenate([fitted.transform([song], kind=kind) for song in long])
    np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-5)


def test_posterior_is_frame_average_of_uniform_prior_posteriors(fitted, corpus):
    X = corpus[0]
    proba = fitted.predict_proba(X[3])
    log_beta = fitted._globals_.log_beta.numpy()
    # undo the weights exp E[log β_k]: p(k|x) under a uniform prior
    uniform = proba / np.exp(log_beta)
    uniform /= uniform.sum(1, keepdims=True)
    np.testing.assert_allclose(fitted.transform([X[3]], log=False, components="all")[0],
                               uniform.mean(0), rtol=1e-3, atol=1e-5)


def test_responsibility_finds_each_songs_components(corpus):
    X = corpus[0]
    model = HDPGMM(**{**SMALL, "max_epochs": 6}).fit(X)
    Y = model.transform(X, kind="responsibility", log=False, components="all")
    frame_comp = [model.predict(x) for x in X]
    for j in range(10):
        used = np.bincount(frame_comp[j], minlength=12) / len(X[j])
        np.testing.assert_allclose(Y[j], used, atol=0.15)


def test_predict_proba_and_score(fitted, corpus):
    X = corpus[0]
    p = fitted.predict_proba(X[0])
    np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-5)
    assert fitted.predict(X[0]).shape == (len(X[0]),)
    same, _ = planted_hdp(seed=1, n_true=6, d=3, songs=70, frames=(20, 40))
    other = [x[:, ::-1] * 1.5 for x in same[60:]]
    assert fitted.score(same[60:]) > fitted.score(other) + 1.0


def test_score_samples_matches_scipy_student_t_mixture(fitted, corpus):
    x = corpus[0][0][:25].astype(np.float64)
    g = fitted._globals_
    M = fitted.whitener_.matrix_
    mu = fitted.whitener_.mean_
    Minv = np.linalg.inv(M)
    d = x.shape[1]
    dens = np.zeros(len(x))
    for k in range(12):
        lam, nu = float(g.lam[k]), float(g.nu[k])
        dof = nu + 1 - d
        shape_z = np.linalg.inv(dof * lam / (1 + lam) * g.W[k].numpy())
        dist = stats.multivariate_t(loc=g.m[k].numpy() @ Minv + mu,
                                    shape=Minv.T @ shape_z @ Minv, df=dof)
        dens += fitted.weights_[k] * np.exp(dist.logpdf(x))
    np.testing.assert_allclose(fitted.score_samples(x), np.log(dens), rtol=1e-5)


def test_score_is_batched_and_chunked_without_changing_values(fitted, corpus):
    X = corpus[0]
    many = np.concatenate(X * 2)              # > 2048 rows: several chunks of Φ on a CPU
    assert len(many) > 2048
    pieces = np.concatenate([fitted.score_samples(p) for p in np.array_split(many, 37)])
    np.testing.assert_allclose(fitted.score_samples(many), pieces, rtol=1e-12)
    expected = pieces.mean()
    for batch_size in (1, 7, 1000):
        assert fitted.score(X, batch_size=batch_size) == pytest.approx(expected, rel=1e-10)


def test_progress_bars_show_training_figures(corpus, capsys):
    model = HDPGMM(**{**SMALL, "max_epochs": 1, "verbose": True}).fit(corpus[0][:40])
    err = capsys.readouterr().err
    assert "pass 1/1" in err
    for field in ("elbo=", "active=", "fps=", "it="):
        assert field in err
    model.transform(corpus[0][:40])
    model.score(corpus[0][:40], batch_size=10)
    err = capsys.readouterr().err
    assert "transform:" in err and "score:" in err and "/4 " in err   # 40 songs / 10


def test_only_the_first_rank_shows_progress_bars(corpus, capsys, monkeypatch):
    """Under torchrun every rank scores the same held-out songs: one bar, not one a rank."""
    X = corpus[0][:40]
    model = HDPGMM(**{**SMALL, "max_epochs": 1, "verbose": True}).fit(X)
    capsys.readouterr()
    monkeypatch.setattr("hdpmusic.model.hdpgmm.world", lambda: (1, 2))
    model.score(X, batch_size=10)
    model.transform(X)
    assert capsys.readouterr().err == ""
    monkeypatch.setattr("hdpmusic.model.hdpgmm.world", lambda: (0, 2))
    model.score(X, batch_size=10)
    assert "score:" in capsys.readouterr().err


def test_save_load_round_trip(fitted, corpus, tmp_path):
    path = tmp_path / "model.hdp"
    fitted.save(path)
    loaded = HDPGMM.load(path)
    for kind in ("posterior", "responsibility"):
        np.testing.assert_array_equal(loaded.transform(corpus[0], kind=kind),
                                      fitted.transform(corpus[0], kind=kind))
    assert loaded.get_params() == fitted.get_params()
    assert loaded.history_ == fitted.history_


def test_resume_after_interruption_equals_uninterrupted(corpus, tmp_path, monkeypatch):
    X = corpus[0]
    params = {**SMALL, "max_epochs": 3}
    reference = HDPGMM(**params).fit(X)
    path = tmp_path / "run.hdp"
    calls = {"n": 0}
    real_step = HDPGMM._step

    def dying_step(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(HDPGMM, "_step", dying_step)
    with pytest.raises(KeyboardInterrupt):
        HDPGMM(**params).fit(X, checkpoint=path, checkpoint_every=1)
    monkeypatch.setattr(HDPGMM, "_step", real_step)
    resumed = HDPGMM.load(path)
    assert resumed.n_steps_ == 4
    resumed.fit(X, resume=True, checkpoint=path)
    for name, value in reference.stats_.tensors().items():
        assert torch.equal(value, resumed.stats_.tensors()[name]), name
    assert [h["step"] for h in resumed.history_] == list(range(1, 10))


def test_load_rejects_other_versions_and_models(tmp_path, fitted):
    header, tensors = None, {"x": np.zeros(2)}
    save_checkpoint(tmp_path / "v99.hdp", model="hdpgmm", version=99, header={}, tensors=tensors)
    with pytest.raises(FormatError, match="version 99"):
        HDPGMM.load(tmp_path / "v99.hdp")
    save_checkpoint(tmp_path / "g1.hdp", model="g1", version=1, header={}, tensors=tensors)
    with pytest.raises(FormatError, match="'g1'"):
        HDPGMM.load(tmp_path / "g1.hdp")
    (tmp_path / "junk.hdp").write_bytes(b"not a checkpoint")
    with pytest.raises(FormatError, match=r"junk\.hdp"):
        HDPGMM.load(tmp_path / "junk.hdp")
    assert header is None and load_checkpoint(tmp_path / "g1.hdp")[0]["model"] == "g1"


def test_bad_input(fitted, corpus, tmp_path):
    X = corpus[0]
    with pytest.raises(DataError, match="3-d"):
        fitted.transform([np.zeros((5, 4), np.float32)])
    with pytest.raises(DataError, match=r"no songs|empty"):
        HDPGMM(**SMALL).fit([])
    bad = [x.copy() for x in X[:30]]
    bad[4][2, 1] = np.nan
    with pytest.raises(DataError, match="NaN"):
        HDPGMM(**{**SMALL, "whiten": None}).fit(bad)
    with pytest.raises(ParameterError, match="n_components"):
        HDPGMM(**{**SMALL, "n_components": 0}).fit(X)
    with pytest.raises(ParameterError, match="n_song_components"):
        HDPGMM(**{**SMALL, "n_song_components": 0}).fit(X)
    with pytest.raises(DataError, match="list"):
        HDPGMM(**SMALL).fit(np.zeros((10, 3)))
    for path in ("corpus.h5", tmp_path / "corpus.h5"):        # not read as 9 "songs"
        with pytest.raises(DataError, match=r"corpus.h5' is a path: open the corpus file "
                                            r"first \(hdpmusic.Corpus.open\(path\)\)"):
            HDPGMM(**SMALL).fit(path)
    with pytest.raises(DataError, match="no frames"):
        HDPGMM(**SMALL).fit([*X[:5], np.zeros((0, 3), np.float32)])


def test_loads_a_study_checkpoint(tmp_path):
    """The study's pytorch-hdpgmm checkpoint format keeps its components exactly."""
    rng = np.random.default_rng(0)
    K, T, d = 5, 3, 3
    m = rng.normal(size=(K, d))
    lam = rng.uniform(10, 100, K)
    A = rng.normal(size=(K, d, d))
    W = (A @ A.transpose(0, 2, 1) + np.eye(d)) / 50
    nu = lam + d
    u, v = rng.uniform(1, 20, K - 1), rng.uniform(1, 20, K - 1)
    f32 = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731
    cov = np.cov(rng.normal(size=(100, d)), rowvar=False)
    prec = np.linalg.inv(cov)
    raw = {
        "max_components_corpus": K, "max_components_document": T,
        "variational_params": [(f32(m), f32(lam), f32(W), f32(nu)), (K - 1, f32(u), f32(v)),
                               (f32(K), f32(3.0)), (f32([10.0, 12.0]), f32([5.0, 4.0]))],
        "hyper_params": [(f32(np.zeros(d)), 2.0, f32(np.eye(d)), float(d + 2)), (1.0, 1.0),
                         (1.0, 1.0)],
        "learning_hyperparams": {"kappa": 0.6},
        "training_monitors": {"training_lowerbound": f32([1.0, 2.0])},
        "whiten_params": {"mean": f32(np.ones(d)), "cov": f32(cov), "precision": f32(prec),
                          "precision_cholesky": f32(np.linalg.cholesky(prec))},
    }
    torch.save(raw, tmp_path / "study.pth")
    model = HDPGMM.from_study_checkpoint(tmp_path / "study.pth", verbose=False)
    g = model._globals_
    np.testing.assert_allclose(g.m.numpy(), m, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(g.W.numpy(), W, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(g.nu.numpy(), nu, rtol=1e-6)
    np.testing.assert_allclose(g.u.numpy(), u, rtol=1e-6)
    np.testing.assert_allclose(g.v.numpy(), v, rtol=1e-5)
    assert model.prior_.alpha0 == pytest.approx(np.mean([2.0, 3.0]))
    x = rng.normal(size=(7, d))
    z = (x - 1.0) @ np.linalg.cholesky(prec)
    np.testing.assert_allclose(model.means_, m @ np.linalg.inv(np.linalg.cholesky(prec)) + 1.0,
                               rtol=1e-4, atol=1e-4)
    assert model.predict(x).shape == (7,)
    assert np.isfinite(z).all()
    with pytest.raises(FormatError, match="study"):
        torch.save({"foo": 1}, tmp_path / "other.pth")
        HDPGMM.from_study_checkpoint(tmp_path / "other.pth")
    wrong = np.stack([np.eye(d + 1)] * K)
    raw["variational_params"][0] = (f32(m), f32(lam), f32(wrong), f32(nu))
    torch.save(raw, tmp_path / "damaged.pth")
    with pytest.raises(FormatError, match=r"dimension 3 but its scale matrices are \(4, 4\)"):
        HDPGMM.from_study_checkpoint(tmp_path / "damaged.pth")


def test_simplex_splash_mixes_random_simplex_points(corpus):
    """splash="simplex" (the study's variant): N gains η·Σ_n e_n with e_n on the simplex."""
    X = corpus[0]
    base = dict(SMALL, tau0=0.0, kappa=0.0, algorithm="online")   # rho = 1: the batch
    plain = HDPGMM(**{**base, "eta0": 0.0}).partial_fit(X[:10])
    noisy = HDPGMM(**{**base, "eta0": 0.3, "splash": "simplex"}).partial_fit(X[:10])
    n = sum(len(x) for x in X[:10])
    # both N sum to the frame count; the simplex splash spreads mass unevenly, unlike 1/K
    np.testing.assert_allclose(plain.stats_.N.sum().item(), n, rtol=1e-5)
    np.testing.assert_allclose(noisy.stats_.N.sum().item(), n, rtol=1e-5)
    floor = 0.3 * n / 12
    assert (noisy.stats_.N.numpy() >= 0.5 * floor).all()
    again = HDPGMM(**{**base, "eta0": 0.3, "splash": "simplex"}).partial_fit(X[:10])
    assert torch.equal(again.stats_.N, noisy.stats_.N)


def test_resume_from_an_epoch_end_checkpoint(corpus, tmp_path):
    """A run stopped at an epoch boundary continues exactly (checkpoints hold no per-rank
    state, so the same holds whatever number of ranks wrote or continues them)."""
    X = corpus[0]
    model = HDPGMM(**{**SMALL, "max_epochs": 1}).fit(X, checkpoint=tmp_path / "m.hdp")
    again = HDPGMM.load(tmp_path / "m.hdp")
    again.max_epochs = 2
    again.fit(X, resume=True)
    model.max_epochs = 2
    model.fit(X, resume=True)
    assert torch.equal(model.stats_.S2, again.stats_.S2)
