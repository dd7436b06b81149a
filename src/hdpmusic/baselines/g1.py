"""G1: each song summarised by one diagonal Gaussian — the mean and spread of its frames.

The study fits ``GaussianMixture(n_components=1,
covariance_type="diag", reg_covar=1e-6)`` to every song's raw frames and keeps
``[mean, sqrt(diag covariance)]``. That fit has a closed form — the population mean and
variance of the frames, plus ``reg_covar`` on the variance — which is what is computed
here, streaming packed batches of songs to the device and reducing per song with
segment sums (no Python loop over songs, no iterative EM).
"""

from __future__ import annotations

import os
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin

from hdpmusic.formats.checkpoint import (
    corpus_header,
    load_checkpoint,
    record_corpus,
    restore_corpus,
    save_checkpoint,
)
from hdpmusic.formats.corpus import as_corpus, require_frames
from hdpmusic.runtime.devices import resolve_device, song_index
from hdpmusic.runtime.errors import DataError
from hdpmusic.runtime.validation import Interval, validate_params

__all__ = ["G1", "song_moments"]

CHECKPOINT_MODEL = "g1"
CHECKPOINT_VERSION = 1


class G1(TransformerMixin, BaseEstimator):
    """Per-song mean and standard deviation of the frames (the study's G1 baseline).

    For a song with frames x_1..x_n (d-dimensional) the representation is

        [μ, σ],  μ = (1/n) Σ_i x_i,  σ = sqrt((1/n) Σ_i (x_i − μ)² + reg_covar)

    (element-wise; 2d values, 104 for the 52-d features). This is exactly the fitted
    ``sklearn.mixture.GaussianMixture(1, covariance_type="diag", reg_covar=reg_covar)``
    of the study: the population (1/n) variance, with ``reg_covar`` added before the
    square root. ``reg_covar=0`` gives ``np.std`` (ddof=0).

    Parameters
    ----------
    reg_covar : float, default=1e-6
        Added to every variance (default 1e-6, the study's and scikit-learn's).
    batch_size : int, default=1024
        Songs per packed batch in :meth:`transform`.
    device : str, default="auto"
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...
        The reductions run in float64 there.

    Attributes
    ----------
    n_features_in_ : int
        Frame dimension d seen by :meth:`fit`.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "reg_covar": [Interval(Real, 0, None)],
        "batch_size": [Interval(Integral, 1, None)],
    }

    def __init__(self, reg_covar: float = 1e-6, *, batch_size: int = 1024,
                 device: str = "auto") -> None:
        self.reg_covar = reg_covar
        self.batch_size = batch_size
        self.device = device

    def fit(self, X: Any, y: None = None) -> G1:
        """Record the frame dimension (G1 has nothing to learn across songs).

        Parameters
        ----------
        X : Corpus or sequence of np.ndarray, each shape (n_j, d)
        y : ignored

        Returns
        -------
        G1
            ``self``.
        """
        self._validate_params()
        self.n_features_in_ = int(as_corpus(X).dim)
        record_corpus(self, X)
        return self

    def transform_frames(self, frames: np.ndarray) -> np.ndarray:
        """One vector per frame (the HEAR timestamp embedding): the frame itself.

        Parameters
        ----------
        frames : np.ndarray, shape (n, d)

        Returns
        -------
        np.ndarray, shape (n, d), float32
        """
        self._check_fitted()
        return np.asarray(frames, dtype=np.float32)

    def transform(self, X: Any, *, batch_size: int | None = None) -> np.ndarray:
        """Mean and standard deviation of every song's frames.

        Parameters
        ----------
        X : Corpus or sequence of np.ndarray, each shape (n_j, d)
        batch_size : int, optional
            Songs per batch (default ``self.batch_size``).

        Returns
        -------
        np.ndarray, shape (J, 2d), float32
            Row j is ``[mean (d), std (d)]`` of song j, in corpus order.

        Raises
        ------
        DataError
            A song without frames, frames of another dimension, or NaN/inf frames.
        """
        self._check_fitted()
        self._validate_params()
        corpus = as_corpus(X)
        if corpus.dim != self.n_features_in_:
            raise DataError(f"the corpus has {corpus.dim}-d frames; G1 was fitted on "
                            f"{self.n_features_in_}-d frames")
        require_frames(corpus, "G1 features")
        n = batch_size or self.batch_size
        order = [np.arange(lo, min(lo + n, len(corpus))) for lo in range(0, len(corpus), n)]
        out = np.empty((len(corpus), 2 * corpus.dim), dtype=np.float32)
        dev = resolve_device(self.device)
        for batch in corpus.iter_batches(order, device=dev, dtype=torch.float64):
            mean, std = song_moments(batch.frames, batch.lengths, self.reg_covar)
            out[batch.indices] = torch.cat([mean, std], dim=1).float().cpu().numpy()
        bad = np.flatnonzero(~np.isfinite(out).all(axis=1))
        if bad.size:
            ids = corpus.ids
            names = ", ".join(repr(ids[j]) for j in bad[:5].tolist())
            raise DataError(f"{bad.size} song(s) have NaN/inf frames: {names}; run "
                            "Corpus.check_finite() and leave them out")
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """``mean_<f>`` then ``std_<f>`` for every input feature ``f`` (shape (2d,))."""
        self._check_fitted()
        names = (list(input_features) if input_features is not None
                 else [f"x{i}" for i in range(self.n_features_in_)])
        return np.array([f"mean_{f}" for f in names] + [f"std_{f}" for f in names],
                        dtype=object)

    # ---------------------------------------------------------------- persistence
    def save(self, path: str | os.PathLike) -> None:
        """Write the parameters and the frame dimension (atomically)."""
        self._check_fitted()
        save_checkpoint(path, model=CHECKPOINT_MODEL, version=CHECKPOINT_VERSION,
                        header={"params": self.get_params(),
                                "n_features_in": self.n_features_in_,
                                **corpus_header(self)},
                        tensors={})

    @classmethod
    def load(cls, path: str | os.PathLike, *, device: str | None = None) -> G1:
        """Load a model written by :meth:`save` (``device`` overrides the saved one)."""
        header, _ = load_checkpoint(path, model=CHECKPOINT_MODEL, version=CHECKPOINT_VERSION)
        model = cls(**header["params"])
        if device is not None:
            model.device = device
        model.n_features_in_ = int(header["n_features_in"])
        restore_corpus(model, header)
        return model

    # -------------------------------------------------------------------- checks
    def _check_fitted(self) -> None:
        if not hasattr(self, "n_features_in_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("this G1 is not fitted yet; call fit first")

    def _validate_params(self) -> None:
        validate_params(self)


def song_moments(frames: torch.Tensor, lengths: torch.Tensor,
                 reg_covar: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-song mean and standard deviation of a packed batch (two-pass, segment sums).

    Parameters
    ----------
    frames : torch.Tensor, shape (n, d)
        The songs' frames, song after song.
    lengths : torch.Tensor, shape (B,), int64
        Frames per song (all >= 1), on the device of ``frames``.
    reg_covar : float
        Added to the variances before the square root.

    Returns
    -------
    mean, std : torch.Tensor, each shape (B, d), dtype of ``frames``
    """
    B, d = len(lengths), frames.shape[1]
    song = song_index(lengths, frames.device, total=frames.shape[0])
    count = lengths.to(frames.dtype)[:, None]
    mean = frames.new_zeros(B, d).index_add_(0, song, frames) / count
    centred = frames - mean[song]
    var = frames.new_zeros(B, d).index_add_(0, song, centred * centred) / count
    return mean, torch.sqrt(var + reg_covar)
