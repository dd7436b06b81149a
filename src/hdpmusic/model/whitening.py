"""Whitening of frame features: z = (x − mean) @ W with Cov(z) = I.

The study whitened with the Cholesky factor of the precision matrix
(L = cholesky(Σ⁻¹), z = (x − μ) L, so Cov(z) = Lᵀ Σ L = I); PCA and ZCA whitening
are offered too. Mean and covariance are accumulated in float64 over a stream of chunks,
merging per-chunk centred moments (Chan et al.), so no raw second moment E[xxᵀ] of
uncentred data is ever formed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from scipy import linalg

from hdpmusic.runtime.errors import DataError, FormatError, HdpmusicError

if TYPE_CHECKING:
    import torch


class FrameSource(Protocol):
    """Anything that streams its frames in chunks, as :class:`hdpmusic.formats.corpus.Corpus`
    does (whitening sits below the corpus and knows it only by this method)."""

    def iter_frames(self, chunk_frames: int = ...) -> Iterator[np.ndarray]: ...

__all__ = ["METHODS", "FrameSource", "Whitener", "streaming_moments"]

METHODS = ("cholesky", "pca", "zca")


def streaming_moments(chunks: Iterable[np.ndarray]) -> tuple[int, np.ndarray, np.ndarray]:
    """Frame count, mean and (population) covariance of a stream of chunks, in float64.

    Parameters
    ----------
    chunks : iterable of np.ndarray, each shape (m, d)

    Returns
    -------
    n : int
    mean : np.ndarray, shape (d,)
    cov : np.ndarray, shape (d, d)
        Σ = (1/n) Σ_i (x_i − mean)(x_i − mean)ᵀ.
    """
    n, mean, scatter = 0, None, None
    for chunk in chunks:
        x = np.asarray(chunk, dtype=np.float64)
        if x.ndim != 2:
            raise DataError(f"whitening expects frames of shape (n, d), got {x.shape}")
        m = x.shape[0]
        if m == 0:
            continue
        chunk_mean = x.mean(axis=0)
        centred = x - chunk_mean
        chunk_scatter = centred.T @ centred
        if mean is None:
            n, mean, scatter = m, chunk_mean, chunk_scatter
            continue
        if chunk_mean.shape != mean.shape:
            raise DataError(f"whitening: chunk of dimension {x.shape[1]} after {mean.size}")
        delta = chunk_mean - mean
        total = n + m
        mean = mean + delta * (m / total)
        scatter = scatter + chunk_scatter + np.outer(delta, delta) * (n * m / total)
        n = total
    if mean is None:
        raise DataError("whitening: no frames to fit")
    return n, mean, scatter / n


def _whitening_matrix(cov: np.ndarray, method: str) -> np.ndarray:
    """W (d, d) with Wᵀ Σ W = I for the given method.

    Raises ``np.linalg.LinAlgError`` when Σ is singular to working precision.
    """
    values, vectors = np.linalg.eigh(cov)
    if values[0] <= values[-1] * len(cov) * np.finfo(np.float64).eps:
        raise np.linalg.LinAlgError("singular covariance")
    if method == "cholesky":
        factor = linalg.cho_factor(cov, lower=True)
        precision = linalg.cho_solve(factor, np.eye(len(cov)))
        return np.linalg.cholesky((precision + precision.T) / 2)
    values, vectors = values[::-1], vectors[:, ::-1]
    signs = np.sign(vectors[np.abs(vectors).argmax(axis=0), np.arange(len(cov))])
    vectors = vectors * np.where(signs == 0, 1.0, signs)
    scaled = vectors / np.sqrt(values)
    return scaled if method == "pca" else scaled @ vectors.T


class Whitener:
    """Affine whitening z = (x − ``mean_``) @ ``matrix_``, fitted by streaming.

    Parameters
    ----------
    method : {"cholesky", "pca", "zca"}
        ``"cholesky"`` (the study's): ``matrix_`` = cholesky(Σ⁻¹), lower triangular.
        ``"pca"``: U Λ^{-1/2} (components by decreasing variance). ``"zca"``:
        U Λ^{-1/2} Uᵀ (symmetric, closest to the input).
    eps : float
        Ridge added to the covariance, relative to its mean variance:
        Σ + eps·(tr Σ / d)·I; keeps near-constant features from blowing up.

    Attributes
    ----------
    mean_ : np.ndarray, shape (d,), float64
    matrix_ : np.ndarray, shape (d, d), float64
    covariance_ : np.ndarray, shape (d, d), float64
        The (regularised) covariance the matrix whitens.
    n_samples_ : int
        Frames seen by :meth:`fit`.
    """

    def __init__(self, method: str = "cholesky", eps: float = 1e-10) -> None:
        if method not in METHODS:
            raise HdpmusicError(f"whitening method {method!r} is not one of {METHODS}")
        if eps < 0:
            raise HdpmusicError(f"whitening eps must be >= 0, got {eps}")
        self.method = method
        self.eps = float(eps)
        self._cache: dict[tuple[Any, Any], tuple[Any, Any, Any]] = {}

    def __repr__(self) -> str:
        fitted = f", dim={len(self.mean_)}" if hasattr(self, "mean_") else ""
        return f"Whitener(method={self.method!r}, eps={self.eps}{fitted})"

    @property
    def dim(self) -> int:
        """Feature dimension d of the fitted whitener."""
        return len(self._fitted()[0])

    def fit(self, data: FrameSource | np.ndarray | torch.Tensor,
            chunk_frames: int = 65536) -> Whitener:
        """Estimate mean and covariance and build the whitening matrix.

        Parameters
        ----------
        data : FrameSource (a Corpus), np.ndarray of shape (n, d), or torch.Tensor (n, d)
            A corpus is streamed with ``iter_frames``; arrays are processed in chunks.
        chunk_frames : int

        Returns
        -------
        Whitener
            ``self``.
        """
        n, mean, cov = streaming_moments(_chunks(data, chunk_frames))
        if n < 2:
            raise DataError("whitening needs at least 2 frames")
        scale = np.trace(cov) / len(cov)
        if not np.isfinite(scale):
            raise DataError("whitening: the frames contain NaN/inf; run check_finite()")
        if scale <= 0:
            raise DataError("whitening: all frames are identical; nothing to whiten")
        cov = cov + self.eps * scale * np.eye(len(cov))
        try:
            matrix = _whitening_matrix(cov, self.method)
        except (np.linalg.LinAlgError, linalg.LinAlgError):
            raise DataError("whitening: the frame covariance is singular (constant or "
                            "linearly dependent features); raise eps") from None
        self._set(mean, matrix, n)
        self.covariance_ = cov
        return self

    def _set(self, mean: np.ndarray, matrix: np.ndarray, n_samples: int) -> None:
        self.mean_ = np.asarray(mean, dtype=np.float64)
        self.matrix_ = np.asarray(matrix, dtype=np.float64)
        self.n_samples_ = int(n_samples)
        self.inverse_matrix_ = np.linalg.inv(self.matrix_)
        self._cache.clear()

    def _fitted(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not hasattr(self, "mean_"):
            raise HdpmusicError("the whitener is not fitted; call fit() first")
        return self.mean_, self.matrix_, self.inverse_matrix_

    def _params_like(self, x: Any) -> tuple[Any, Any, Any]:
        """Mean, matrix and inverse in ``x``'s kind, dtype and device (cached)."""
        mean, matrix, inverse = self._fitted()
        if x.shape[-1] != len(mean):
            raise DataError(f"whitener fitted on dimension {len(mean)} got frames of "
                            f"shape {tuple(x.shape)}")
        if isinstance(x, np.ndarray):
            dtype = x.dtype if x.dtype.kind == "f" else np.float64
            return mean.astype(dtype), matrix.astype(dtype), inverse.astype(dtype)
        import torch

        dtype = x.dtype if x.dtype.is_floating_point else torch.float64
        key = (x.device, dtype)
        if key not in self._cache:
            self._cache[key] = tuple(torch.as_tensor(a, dtype=dtype, device=x.device)
                                     for a in (mean, matrix, inverse))
        return self._cache[key]

    def transform(self, x: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """Whiten frames.

        Parameters
        ----------
        x : np.ndarray or torch.Tensor, shape (..., d)
            Any device; floating dtypes are kept (integers become float64).

        Returns
        -------
        Same kind, device and dtype as ``x``, shape (..., d)
        """
        mean, matrix, _ = self._params_like(x)
        return (x - mean) @ matrix

    def inverse_transform(self, z: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """Undo :meth:`transform`: x = z @ ``matrix_``⁻¹ + ``mean_``.

        Parameters
        ----------
        z : np.ndarray or torch.Tensor, shape (..., d)

        Returns
        -------
        Same kind, device and dtype as ``z``, shape (..., d)
        """
        mean, _, inverse = self._params_like(z)
        return z @ inverse + mean

    def state_dict(self) -> dict[str, Any]:
        """Plain arrays and settings, for a model checkpoint.

        Returns
        -------
        dict
            ``method`` (str), ``eps`` (float), ``n_samples`` (int), ``mean`` (d,) and
            ``matrix`` (d, d) float64 arrays.
        """
        mean, matrix, _ = self._fitted()
        return {"method": self.method, "eps": self.eps, "n_samples": self.n_samples_,
                "mean": mean.copy(), "matrix": matrix.copy()}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> Whitener:
        """Rebuild a fitted whitener from :meth:`state_dict` (arrays may be tensors)."""
        try:
            whitener = cls(str(state["method"]), float(state.get("eps", 0.0)))
            mean = np.asarray(_to_numpy(state["mean"]), dtype=np.float64)
            matrix = np.asarray(_to_numpy(state["matrix"]), dtype=np.float64)
        except KeyError as err:
            raise FormatError(f"whitener state lacks {err}") from None
        if mean.ndim != 1 or matrix.shape != (mean.size, mean.size):
            raise FormatError(f"whitener state has mean {mean.shape} and matrix "
                              f"{matrix.shape}; expected (d,) and (d, d)")
        if not (np.isfinite(mean).all() and np.isfinite(matrix).all()):
            raise FormatError("whitener state contains NaN/inf")
        try:
            whitener._set(mean, matrix, int(state.get("n_samples", 0)))
        except np.linalg.LinAlgError:
            raise FormatError("whitener state has a singular matrix") from None
        return whitener


def _to_numpy(a: Any) -> np.ndarray:
    return a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)


def _chunks(data: Any, chunk_frames: int) -> Iterator[np.ndarray]:
    """Chunks of frames (m, d) from a corpus, array or tensor."""
    if hasattr(data, "iter_frames"):
        yield from data.iter_frames(chunk_frames)
        return
    if getattr(data, "ndim", 0) != 2:
        raise DataError(f"whitening expects frames of shape (n, d), got "
                        f"{getattr(data, 'shape', type(data).__name__)}")
    for start in range(0, data.shape[0], chunk_frames):
        yield _to_numpy(data[start:start + chunk_frames])
