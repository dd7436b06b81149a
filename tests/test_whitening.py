"""Tests for hdpmusic.model.whitening."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import linalg

from hdpmusic.formats.corpus import Corpus
from hdpmusic.model.whitening import Whitener, streaming_moments
from hdpmusic.runtime.errors import DataError, FormatError, HdpmusicError

D = 6


@pytest.fixture
def frames() -> np.ndarray:
    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(D, D)) + 2 * np.eye(D)
    return rng.normal(size=(5000, D)) @ mixing + rng.normal(size=D) * 10


def population_cov(x: np.ndarray) -> np.ndarray:
    return np.cov(x, rowvar=False, bias=True)


@pytest.mark.parametrize("method", ["cholesky", "pca", "zca"])
def test_whitened_covariance_is_identity_and_inverse_recovers(frames, method):
    w = Whitener(method).fit(frames, chunk_frames=333)
    z = w.transform(frames)
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-9)
    np.testing.assert_allclose(population_cov(z), np.eye(D), atol=1e-8)
    np.testing.assert_allclose(w.inverse_transform(z), frames, atol=1e-9)
    assert w.n_samples_ == len(frames)


def test_cholesky_matches_closed_form(frames):
    w = Whitener("cholesky").fit(frames)
    expected = np.linalg.cholesky(np.linalg.inv(population_cov(frames)))
    np.testing.assert_allclose(w.mean_, frames.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(w.matrix_, expected, rtol=1e-7, atol=1e-10)
    assert np.allclose(w.matrix_, np.tril(w.matrix_))


def test_pca_and_zca_match_eigendecomposition(frames):
    cov = population_cov(frames)
    zca = Whitener("zca").fit(frames)
    np.testing.assert_allclose(zca.matrix_, linalg.inv(linalg.sqrtm(cov)).real, rtol=1e-6)
    pca = Whitener("pca").fit(frames)
    values = np.linalg.eigvalsh(cov)[::-1]
    variances = np.var(pca.transform(frames) * np.sqrt(values), axis=0)
    np.testing.assert_allclose(variances, values, rtol=1e-8)  # decreasing components


def test_streaming_moments_are_numerically_careful():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20000, 3)) * [1.0, 0.01, 5.0] + 1e6  # large offset
    n, mean, cov = streaming_moments(np.array_split(x, 37))
    assert n == len(x)
    np.testing.assert_allclose(mean, x.mean(axis=0), rtol=1e-12)
    exact = population_cov(x - 1e6)  # the subtraction is exact (Sterbenz)
    np.testing.assert_allclose(cov, exact, rtol=1e-7, atol=1e-12)
    naive = (x.T @ x) / len(x) - np.outer(x.mean(axis=0), x.mean(axis=0))
    assert not np.allclose(naive, exact, rtol=1e-7, atol=1e-12)  # what careful avoids


def test_fit_on_corpus_streams_and_matches_array(tmp_path, frames):
    songs = np.array_split(frames.astype(np.float32), 40)
    path = tmp_path / "c.h5"
    Corpus.from_arrays(songs).save(path)
    w_corpus = Whitener().fit(Corpus.open(path), chunk_frames=500)
    w_array = Whitener().fit(np.concatenate(songs))
    np.testing.assert_allclose(w_corpus.matrix_, w_array.matrix_, rtol=1e-10)
    np.testing.assert_allclose(w_corpus.mean_, w_array.mean_, rtol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_transform_keeps_kind_dtype_and_device(frames, dtype):
    w = Whitener().fit(frames)
    x = torch.as_tensor(frames, dtype=dtype)
    z = w.transform(x)
    assert isinstance(z, torch.Tensor) and z.dtype == dtype and z.device == x.device
    tol = 1e-4 if dtype == torch.float32 else 1e-10
    np.testing.assert_allclose(z.numpy(), w.transform(frames), atol=tol)
    back = w.inverse_transform(z)
    assert back.dtype == dtype
    np.testing.assert_allclose(back.numpy(), frames, atol=tol * 100)
    z32 = w.transform(frames.astype(np.float32))
    assert isinstance(z32, np.ndarray) and z32.dtype == np.float32
    w.fit(frames[:100] * 2)  # refit must not reuse cached device copies
    np.testing.assert_allclose(w.transform(x).numpy(), w.transform(frames), atol=tol)


def test_state_dict_round_trip(frames):
    w = Whitener("zca", eps=1e-6).fit(frames)
    state = w.state_dict()
    assert state["method"] == "zca" and state["mean"].shape == (D,)
    clone = Whitener.from_state_dict({**state, "matrix": torch.from_numpy(state["matrix"])})
    assert clone.method == "zca" and clone.eps == 1e-6 and clone.dim == D
    np.testing.assert_array_equal(clone.transform(frames), w.transform(frames))
    with pytest.raises(FormatError, match="mean"):
        Whitener.from_state_dict({"method": "zca", "matrix": state["matrix"]})
    with pytest.raises(FormatError, match="expected"):
        Whitener.from_state_dict({**state, "matrix": state["matrix"][:2]})


def test_bad_input(frames):
    with pytest.raises(HdpmusicError, match="not fitted"):
        Whitener().transform(frames)
    with pytest.raises(HdpmusicError, match="method"):
        Whitener("whiten-harder")
    w = Whitener().fit(frames)
    with pytest.raises(DataError, match="dimension"):
        w.transform(frames[:, :3])
    with pytest.raises(DataError, match="identical"):
        Whitener().fit(np.ones((10, D)))
    bad = frames.copy()
    bad[3, 2] = np.nan
    with pytest.raises(DataError, match="NaN"):
        Whitener().fit(bad)
    with pytest.raises(DataError, match="at least 2"):
        Whitener().fit(frames[:1])
    with pytest.raises(DataError, match="no frames"):
        Whitener().fit(frames[:0])
    for method in ("cholesky", "pca"):
        with pytest.raises(DataError, match="singular"):
            Whitener(method, eps=0).fit(np.c_[frames, frames[:, :1]])
