"""The Fisher-vector representation kinds: NumPy references, closed forms, invariances."""

import numpy as np
import pytest
import torch

from hdpmusic import HDPGMM
from hdpmusic.model.fisher import (
    COVARIANCE_FLOOR,
    FisherEncoder,
    fisher_statistics,
    mixture_covariance,
    power_l2_normalise,
)
from hdpmusic.model.kinds import kind_revision
from hdpmusic.model.local import SongBucket
from hdpmusic.runtime.errors import ParameterError
from planted import planted_hdp

RNG = np.random.default_rng(5)


def _spd(C, d, rng):
    A = rng.normal(size=(C, d, d))
    return A @ A.transpose(0, 2, 1) + d * np.eye(d)


def _reference_fisher(X, lengths, R, means, precisions, weights, second_order=True):
    """The improved Fisher vector, written directly: loops over songs, components, frames."""
    out = []
    for x, r, n in zip(X, R, lengths, strict=True):
        parts = []
        for k in range(len(weights)):
            A = np.linalg.cholesky(precisions[k])
            u = (x[:n] - means[k]) @ A                      # rows: A^T (x - m)
            used = r[:n, k].sum() >= 0.1            # under a tenth of a frame: zeros
            g0 = (r[:n, k] - weights[k]).sum() / (n * np.sqrt(weights[k]))
            g1 = used * (r[:n, k, None] * u).sum(0) / (n * np.sqrt(weights[k]))
            parts += [[g0], g1]
            if second_order:
                g2 = used * (r[:n, k, None] * (u ** 2 - 1)).sum(0) / (n * np.sqrt(2 * weights[k]))
                parts.append(g2)
        f = np.concatenate(parts)
        f = np.sign(f) * np.sqrt(np.abs(f))
        out.append(f / max(np.linalg.norm(f), 1e-12))
    return np.array(out)


def _bucket(b=3, n=7, d=3, C=4, seed=0):
    rng = np.random.default_rng(seed)
    lengths = np.array([n, n - 2, n - 5])[:b]
    X = rng.normal(size=(b, n, d))
    R = rng.dirichlet(np.ones(C), size=(b, n))
    R[0, :, 1] *= 1e-4        # a component song 0 barely uses (under a tenth of a frame)
    mask = (np.arange(n)[None] < lengths[:, None]).astype(float)
    X *= mask[..., None]
    R *= mask[..., None]
    return X, R, mask, lengths


@pytest.mark.parametrize("max_elements", [1, 1 << 24])
def test_fisher_statistics_match_direct_sums(max_elements):
    """Σ r u and Σ r (u² − 1) per song and component, chunked or not, against loops."""
    d, C = 3, 4
    X, R, _, lengths = _bucket(d=d, C=C)
    means = RNG.normal(size=(C, d))
    chol = np.linalg.cholesky(_spd(C, d, RNG))
    offset = np.einsum("kd,kde->ke", means, chol)
    counts, first, second = fisher_statistics(
        torch.as_tensor(X), torch.as_tensor(R), torch.as_tensor(chol), torch.as_tensor(offset),
        max_elements=max_elements)
    for j, n in enumerate(lengths):
        for k in range(C):
            u = (X[j, :n] - means[k]) @ chol[k]
            np.testing.assert_allclose(counts[j, k], R[j, :n, k].sum(), rtol=1e-12)
            np.testing.assert_allclose(first[j, k], (R[j, :n, k, None] * u).sum(0),
                                       rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(second[j, k], (R[j, :n, k, None] * (u ** 2 - 1)).sum(0),
                                       rtol=1e-10, atol=1e-12)


def test_first_order_only_skips_the_second():
    X, R, _, _ = _bucket()
    chol = torch.eye(3, dtype=torch.float64).expand(4, 3, 3)
    _, _, second = fisher_statistics(torch.as_tensor(X), torch.as_tensor(R), chol,
                                     torch.zeros(4, 3, dtype=torch.float64),
                                     second_order=False)
    assert second is None


def test_power_l2_normalise():
    F = torch.tensor([[4.0, -9.0, 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    G = power_l2_normalise(F)
    np.testing.assert_allclose(G[0], np.array([2.0, -3.0, 0.0]) / np.sqrt(13.0))
    np.testing.assert_array_equal(G[1], 0.0)


def test_mixture_covariance_is_that_of_samples_from_the_mixture():
    rng = np.random.default_rng(11)
    means = rng.normal(scale=3, size=(3, 2))
    covs = _spd(3, 2, rng) / 4
    shares = np.array([0.5, 0.3, 0.2])
    labels = rng.choice(3, size=400_000, p=shares)
    x = means[labels] + np.einsum("nde,ne->nd", np.linalg.cholesky(covs)[labels],
                                  rng.normal(size=(len(labels), 2)))
    got = mixture_covariance(torch.as_tensor(means), torch.as_tensor(covs),
                             torch.as_tensor(shares * 7))        # shares need no normalising
    np.testing.assert_allclose(got, np.cov(x.T), rtol=0.02, atol=0.02)


@pytest.mark.parametrize("second_order", [True, False])
@pytest.mark.parametrize("floored", [False, True])
def test_encoder_matches_the_direct_formula(second_order, floored):
    """The encoder on a bucket equals the improved Fisher vector written out, for a subset
    of a model's components (columns picked from the responsibilities), each encoded with
    its expected covariance plus the floor."""
    d, K = 3, 5
    X, R, mask, lengths = _bucket(d=d, C=K, seed=3)
    m = RNG.normal(size=(K, d))
    W = _spd(K, d, RNG) / 10
    nu = RNG.uniform(d + 2, d + 20, K)
    w = RNG.dirichlet(np.ones(K))
    keep = np.array([0, 2, 3])
    floor = _spd(1, d, RNG)[0] / 50 if floored else np.zeros((d, d))
    enc = FisherEncoder.from_posterior(
        torch.as_tensor(m), torch.as_tensor(W), torch.as_tensor(nu), torch.as_tensor(w),
        torch.as_tensor(keep), floor=torch.as_tensor(floor) if floored else None,
        second_order=second_order, dtype=torch.float64)
    bucket = SongBucket(torch.as_tensor(X), torch.as_tensor(mask), torch.as_tensor(R),
                        torch.zeros(R.shape, dtype=torch.float64), torch.as_tensor(lengths))
    got = enc(bucket).numpy()
    covariances = np.linalg.inv(nu[keep, None, None] * W[keep]) + floor
    want = _reference_fisher(X, lengths, R[..., keep], m[keep], np.linalg.inv(covariances),
                             w[keep], second_order)
    assert got.shape == (3, len(keep) * (1 + d * (2 if second_order else 1))) == (3, enc.dim)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.fixture(scope="module")
def songs():
    X, _ = planted_hdp(seed=4, n_true=3, d=3, songs=40, frames=(20, 40))
    return X


def test_one_component_is_the_whitened_mean_and_variance_deviation(songs):
    """K = 1: every responsibility is 1, so the vector is the closed form of the song's
    mean and variance in the one component's whitened space, the component's covariance
    raised by the floor (a fraction of the mixture's covariance: here its own) (public
    attributes only)."""
    model = HDPGMM(n_components=1, n_song_components=1, whiten=None, max_epochs=3, tol=0,
                   dtype="float64", verbose=False).fit(songs)
    got = model.transform(songs[:6], kind="fisher")
    precision = np.linalg.inv((1 + COVARIANCE_FLOOR) * model.covariances_)
    want = _reference_fisher([x for x in songs[:6]], [len(x) for x in songs[:6]],
                             [np.ones((len(x), 1)) for x in songs[:6]], model.means_,
                             precision, model.weights_)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def fitted(songs):
    return HDPGMM(n_components=10, n_song_components=4, max_epochs=6, tol=0, batch_size=16,
                  verbose=False).fit(songs)


@pytest.mark.parametrize("kind", ["fisher", "fisher-mean"])
def test_invariant_to_frame_order_and_batch_size(fitted, songs, kind):
    rng = np.random.default_rng(0)
    shuffled = [x[rng.permutation(len(x))] for x in songs]
    a = fitted.transform(songs, kind=kind, batch_size=7)
    b = fitted.transform(shuffled, kind=kind, batch_size=40)
    np.testing.assert_allclose(a, b, atol=2e-5)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)


def test_float32_agrees_with_float64(fitted, songs):
    """The compute precision (what a device change alters) moves the vector by rounding
    only."""
    a = fitted.transform(songs, kind="fisher")
    fitted.dtype = "float64"
    try:
        b = fitted.transform(songs, kind="fisher")
    finally:
        fitted.dtype = "float32"
    np.testing.assert_allclose(a, b, atol=1e-4)


def test_dimensions_and_component_selection(fitted, songs):
    d = songs[0].shape[1]
    live = fitted.song_components()
    assert 0 < live.size <= fitted.n_components
    assert fitted.transform(songs, kind="fisher").shape == (len(songs), live.size * (1 + 2 * d))
    assert fitted.transform(songs, kind="fisher-mean").shape == (len(songs), live.size * (1 + d))
    top = float(fitted.weights_[live].max())
    heavy = fitted.song_components(min_weight=top)
    np.testing.assert_array_equal(heavy, [np.argmax(fitted.weights_)])
    got = fitted.transform(songs, kind="fisher-mean", min_weight=top)
    assert got.shape == (len(songs), 1 + d)
    assert fitted.transform(songs, components="all").shape == (len(songs), 10)
    attrs = fitted.transform_attrs("fisher", min_weight=top)
    assert attrs == {"kind": "fisher", "revision": kind_revision("fisher"),
                     "standardise": False, "log": False, "components": heavy.tolist(),
                     "min_weight": top}


@pytest.mark.parametrize("kind", ["posterior", "responsibility", "loglik", "fisher",
                                  "fisher-mean"])
def test_no_constant_columns(fitted, songs, kind):
    """K = 10 on 3 planted clusters leaves dead components; no kind keeps their columns
    (components="all" shows that they were there)."""
    X = fitted.transform(songs, kind=kind)
    assert (X.std(0) > 0).all()
    if kind == "responsibility":
        full = fitted.transform(songs, kind=kind, components="all")
        assert full.shape[1] == 10 > X.shape[1]


def test_bad_options_are_refused(fitted, songs):
    with pytest.raises(ParameterError, match="log does not apply"):
        fitted.transform(songs, kind="fisher", log=True)
    for bad in (-1, 0, 2.5, True):
        with pytest.raises(ParameterError, match="batch_size"):
            fitted.transform(songs, batch_size=bad)
    with pytest.raises(ParameterError, match="kind must be one of"):
        fitted.transform(songs, kind="gmm")
    with pytest.raises(ParameterError, match="leaves no component"):
        fitted.transform(songs, kind="fisher", min_weight=0.99)
    with pytest.raises(ParameterError, match="min_weight must be"):
        fitted.song_components(min_weight=-0.1)
