"""VQ codebook: mini-batch k-means on frames, songs as histograms of codewords.

The study's baseline is ``Pipeline([StandardScaler(),
MiniBatchKMeans(K)])`` fitted on every frame of the corpus loaded into RAM (≈74 GB for
the MSD), with a song's feature the normalised histogram of its frames' hard
assignments. Here the same estimator streams: standardisation statistics in one pass
(:func:`hdpmusic.model.whitening.streaming_moments`), k-means++ seeding on a sample of frames
(:meth:`Corpus.sample_frames`), then scikit-learn's mini-batch update rule (Sculley
2010 with per-centre learning rates 1/count, low-count centre reassignment and
early stopping on the smoothed inertia) applied to mini-batches drawn from chunks of
songs read in random order — in torch, on the GPU when there is one, with the
assignment as one GEMM ‖x‖² − 2xcᵀ + ‖c‖² and no host synchronisation inside a chunk.
"""

from __future__ import annotations

import logging
import math
import os
import time
from numbers import Integral, Real
from typing import Any, ClassVar, NoReturn

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from torch import Tensor

from hdpmusic.formats.checkpoint import (
    corpus_header,
    load_checkpoint,
    record_corpus,
    restore_corpus,
    save_checkpoint,
)
from hdpmusic.formats.corpus import as_corpus, require_frames
from hdpmusic.model.whitening import streaming_moments
from hdpmusic.runtime.devices import resolve_device, song_index
from hdpmusic.runtime.errors import DataError, FormatError
from hdpmusic.runtime.progress import progress_bar
from hdpmusic.runtime.validation import Boolean, Interval, Options, validate_params

__all__ = ["VQCodebook"]

log = logging.getLogger(__name__)

CHECKPOINT_MODEL = "vq"
CHECKPOINT_VERSION = 1
_ASSIGN_ELEMENTS = 1 << 24  # frames × clusters of one distance block (64 MiB in float32)


class VQCodebook(TransformerMixin, BaseEstimator):
    """Vector-quantisation codebook learnt by streaming mini-batch k-means.

    Parameters
    ----------
    n_clusters : int, default=256
        Codebook size K (the study used 32, 64, 128 and 256).
    standardize : bool, default=True
        Scale every feature to zero mean and unit variance before clustering (the
        study's ``StandardScaler``; constant features are left unscaled).
    batch_size : int, default=1024
        Frames per k-means update (scikit-learn's default is 1024; larger batches use a
        GPU better).
    max_epochs : int, default=100
        Upper bound on the passes over the corpus.
    max_no_improvement : int or None, default=10
        Stop after this many consecutive updates without a new minimum of the
        exponentially weighted average of the per-frame mini-batch inertia (scikit-
        learn's rule; checked at the end of every chunk read, so a few more updates may
        run). None: always run ``max_epochs``.
    reassignment_ratio : float, default=0.01
        Centres whose accumulated count falls below this fraction of the largest are
        moved to random frames of the current mini-batch, whenever a centre has no
        frames yet or ``10 * n_clusters`` frames have passed since the last check.
    init : {"k-means++", "random"}, default="k-means++"
        Seeding of the centres from a sample of frames: ``sklearn.cluster.kmeans_plusplus``
        or distinct random frames.
    init_size : int, optional, default=None
        Frames sampled for the seeding (default ``max(3 * batch_size, 3 * n_clusters)``
        as scikit-learn's, at most the corpus).
    read_frames : int, default=262144
        Frames read from the corpus at a time (whole songs, in random order per epoch);
        the mini-batches of one chunk are a random partition of its frames.
    device : str, default="auto"
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...
    random_state : int, default=0
        Seed of the sampling, the seeding, the song order and the mini-batches.
    verbose : bool, default=True
        Progress bar and one log line per epoch.

    Attributes
    ----------
    cluster_centers_ : np.ndarray, shape (K, d), float64
        The codewords in the original feature space.
    counts_ : np.ndarray, shape (K,), float64
        Frames accumulated per centre by the updates (reassignments reset them).
    inertia_ : float
        Sum over the training frames of the squared distance to the nearest centre, in
        the space the clustering runs in (standardised when ``standardize``), computed
        by a final pass with the final centres (as scikit-learn's ``inertia_``).
    mean_, scale_ : np.ndarray, shape (d,), float64
        The standardisation (zeros and ones when ``standardize=False``).
    n_steps_ : int
        Updates made.
    n_features_in_ : int
    history_ : list of dict
        One record per epoch: epoch, steps, frames, batch_inertia (mean per-frame
        inertia of the epoch's mini-batches, before each update), ewa_inertia,
        reassigned, seconds, frames_per_s, and stopped (``"no improvement"`` on the
        epoch that ended the fit early).
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "n_clusters": [Interval(Integral, 1, None)],
        "standardize": [Boolean()],
        "batch_size": [Interval(Integral, 1, None)],
        "max_epochs": [Interval(Integral, 1, None)],
        "max_no_improvement": [Interval(Integral, 1, None), None],
        "reassignment_ratio": [Interval(Real, 0, 1, closed="left")],
        "init": [Options({"k-means++", "random"})],
        "init_size": [Interval(Integral, 1, None), None],
        "read_frames": [Interval(Integral, 1, None)],
        "random_state": [Interval(Integral, 0, None)],
        "verbose": [Boolean()],
    }

    def __init__(self, n_clusters: int = 256, *, standardize: bool = True,
                 batch_size: int = 1024, max_epochs: int = 100,
                 max_no_improvement: int | None = 10, reassignment_ratio: float = 0.01,
                 init: str = "k-means++", init_size: int | None = None,
                 read_frames: int = 1 << 18, device: str = "auto", random_state: int = 0,
                 verbose: bool = True) -> None:
        self.n_clusters = n_clusters
        self.standardize = standardize
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.max_no_improvement = max_no_improvement
        self.reassignment_ratio = reassignment_ratio
        self.init = init
        self.init_size = init_size
        self.read_frames = read_frames
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------------ fit
    def fit(self, X: Any, y: None = None) -> VQCodebook:
        """Learn the codebook by streaming mini-batches of frames from the corpus.

        Parameters
        ----------
        X : Corpus or sequence of np.ndarray, each shape (n_j, d)
            Songs without frames are allowed (they contribute nothing).
        y : ignored

        Returns
        -------
        VQCodebook
            ``self``.

        Raises
        ------
        DataError
            Fewer frames than ``n_clusters``, or NaN/inf frames.
        """
        self._validate_params()
        corpus = as_corpus(X)
        record_corpus(self, X)
        n_frames = corpus.n_frames
        if n_frames < self.n_clusters:
            raise DataError(f"the corpus has {n_frames} frames, fewer than n_clusters="
                            f"{self.n_clusters}")
        dev = resolve_device(self.device)
        self.n_features_in_ = int(corpus.dim)
        self._set_scaling(*self._scaling(corpus), dev)
        self._centers = self._seed(corpus, dev)
        self._weight_sums = torch.zeros(self.n_clusters, dtype=torch.float64, device=dev)
        self.n_steps_, self.history_ = 0, []
        gen = torch.Generator(device=dev).manual_seed(int(self.random_state))
        state = _Convergence(self.max_no_improvement, n_frames)
        since_reassign = torch.zeros((), dtype=torch.int64, device=dev)
        for epoch in range(self.max_epochs):
            start, steps0, frames_done = time.perf_counter(), self.n_steps_, 0
            inertias: list[Tensor] = []
            reassigned = torch.zeros((), dtype=torch.int64, device=dev)
            stopped = False
            groups = self._read_groups(corpus, epoch)
            bar = progress_bar(len(groups), f"VQ epoch {epoch + 1}/{self.max_epochs}",
                               unit="chunk", enabled=self.verbose)
            for batch in corpus.iter_batches(groups, device=dev):
                x = self._standardized(batch.frames, corpus)
                perm = torch.randperm(len(x), generator=gen, device=dev)
                parts = torch.tensor_split(perm, max(1, math.ceil(len(x) / self.batch_size)))
                chunk = []
                for rows in parts:
                    inertia, n_moved, since_reassign = self._step(x[rows], since_reassign)
                    chunk.append(inertia)
                    reassigned += n_moved
                self.n_steps_ += len(parts)
                frames_done += len(x)
                inertias.append(torch.stack(chunk))
                bar.update(1)
                if state.update(inertias[-1].cpu().numpy(), [len(r) for r in parts]):
                    stopped = True
                    break
            bar.close()
            seconds = time.perf_counter() - start
            record = {"epoch": epoch, "steps": self.n_steps_ - steps0, "frames": frames_done,
                      "batch_inertia": float(torch.cat(inertias).mean()),
                      "ewa_inertia": state.ewa if state.ewa is not None else float("nan"),
                      "reassigned": int(reassigned), "seconds": seconds,
                      "frames_per_s": frames_done / max(seconds, 1e-9)}
            if stopped:
                record["stopped"] = "no improvement"
            self.history_.append(record)
            if self.verbose:
                log.info("VQ epoch %d: %d updates, batch inertia/frame %.4g, ewa %.4g, "
                         "%d reassigned, %.0f frames/s", epoch + 1, record["steps"],
                         record["batch_inertia"], record["ewa_inertia"],
                         record["reassigned"], record["frames_per_s"])
            if stopped:
                break
        self.inertia_ = float(self._total_inertia(corpus))
        return self

    def _step(self, x: Tensor, since_reassign: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """One mini-batch update (scikit-learn's ``_mini_batch_step``), sync-free.

        Parameters
        ----------
        x : Tensor, shape (n, d)
            Standardised frames in random order.
        since_reassign : Tensor, shape (), int64
            Frames since the last reassignment check.

        Returns
        -------
        inertia : Tensor, shape ()
            Mean squared distance of the batch's frames to their centre before the update.
        n_reassigned : Tensor, shape (), int64
        since_reassign : Tensor, shape (), int64
        """
        K, n = self.n_clusters, x.shape[0]
        c, ws = self._centers, self._weight_sums
        # scikit-learn decides on the reassignment before the update
        since_reassign = since_reassign + n
        check = (ws == 0).any() | (since_reassign >= 10 * K)
        since_reassign = torch.where(check, 0, since_reassign)
        labels, dist = _assign(x, c)
        counts = torch.bincount(labels, minlength=K).to(ws.dtype)
        sums = torch.zeros_like(c).index_add_(0, labels, x)
        ws = ws + counts
        rate = (counts / ws.clamp_min(1.0)).to(c.dtype)
        c = c + rate[:, None] * (sums / counts.clamp_min(1.0).to(c.dtype)[:, None] - c)
        n_moved = torch.zeros((), dtype=torch.int64, device=x.device)
        if self.reassignment_ratio > 0:
            low = check & (ws < self.reassignment_ratio * ws.max())
            rank = torch.argsort(torch.argsort(ws))
            low &= rank < int(0.5 * n)             # at most half the batch becomes centres
            slot = (torch.cumsum(low, 0) - 1).clamp(0, n - 1)
            c = torch.where(low[:, None], x[slot], c)   # x is in random order
            keep_min = torch.where(low, torch.inf, ws).min()
            ws = torch.where(low, keep_min, ws)
            n_moved = low.sum()
        self._centers, self._weight_sums = c, ws
        return dist.mean(), n_moved, since_reassign

    # ------------------------------------------------------------------ transform
    def transform(self, X: Any, log: bool = True, *, log_floor: float = 1e-8,
                  batch_size: int | None = None) -> np.ndarray:
        """Per-song normalised histogram of the frames' nearest codewords.

        Parameters
        ----------
        X : Corpus or sequence of np.ndarray, each shape (n_j, d)
        log : bool
            Return ``log(max(h, log_floor))`` (the paper's feature) instead of h.
        log_floor : float
        batch_size : int, optional
            Songs per batch (default: consecutive songs of about ``read_frames`` frames).

        Returns
        -------
        np.ndarray, shape (J, n_clusters), float32
            Rows of h sum to 1.

        Raises
        ------
        DataError
            A song without frames (named), frames of another dimension, NaN/inf frames.
        """
        corpus = self._check_corpus(X)
        require_frames(corpus, "codeword histograms")
        K = self.n_clusters
        out = np.empty((len(corpus), K), dtype=np.float32)
        for batch in corpus.iter_batches(self._ordered_groups(corpus, batch_size),
                                         device=self._centers.device):
            labels, _ = self._labels(self._standardized(batch.frames, corpus))
            song = song_index(batch.lengths, labels.device, total=len(labels))
            hist = torch.bincount(song * K + labels, minlength=batch.n_songs * K)
            hist = hist.view(batch.n_songs, K).to(torch.float64)
            hist /= batch.lengths.to(torch.float64)[:, None]
            out[batch.indices] = hist.float().cpu().numpy()
        return np.log(np.maximum(out, log_floor)) if log else out

    def transform_frames(self, frames: np.ndarray) -> np.ndarray:
        """One vector per frame (the HEAR timestamp embedding): the one-hot code of its
        nearest codeword.

        Parameters
        ----------
        frames : np.ndarray, shape (n, d)

        Returns
        -------
        np.ndarray, shape (n, n_clusters), float32
        """
        return np.eye(self.n_clusters, dtype=np.float32)[self.predict(frames)]

    def predict(self, frames: np.ndarray) -> np.ndarray:
        """Index of the nearest codeword of every frame.

        Parameters
        ----------
        frames : np.ndarray, shape (n, d)

        Returns
        -------
        np.ndarray, shape (n,), int64
        """
        self._check_fitted()
        x = np.asarray(frames)
        if x.ndim != 2 or x.shape[1] != self.n_features_in_:
            raise DataError(f"frames must have shape (n, {self.n_features_in_}), got {x.shape}")
        t = torch.as_tensor(x, dtype=torch.float32, device=self._centers.device)
        return self._labels(self._standardized(t, None))[0].cpu().numpy()

    def score(self, X: Any, y: None = None) -> float:
        """Negative mean squared distance of the frames to their nearest codeword.

        Parameters
        ----------
        X : Corpus or sequence of np.ndarray, each shape (n_j, d)
        y : ignored

        Returns
        -------
        float
            −inertia / frames, in the clustering space (higher is better).
        """
        corpus = self._check_corpus(X)
        return -float(self._total_inertia(corpus)) / max(corpus.n_frames, 1)

    @property
    def cluster_centers_(self) -> np.ndarray:
        self._check_fitted()
        c = self._centers.double().cpu().numpy()
        return c * self.scale_ + self.mean_

    @property
    def counts_(self) -> np.ndarray:
        self._check_fitted()
        return self._weight_sums.cpu().numpy()

    @property
    def mean_(self) -> np.ndarray:
        self._check_fitted()
        return self._mean.double().cpu().numpy()

    @property
    def scale_(self) -> np.ndarray:
        self._check_fitted()
        return self._scale.double().cpu().numpy()

    # ---------------------------------------------------------------- persistence
    def save(self, path: str | os.PathLike) -> None:
        """Write parameters, codebook, standardisation and history (atomically)."""
        self._check_fitted()
        header = {"params": self.get_params(), "n_features_in": self.n_features_in_,
                  "n_steps": self.n_steps_, "inertia": self.inertia_,
                  "history": self.history_, **corpus_header(self)}
        tensors = {"centers": self._centers, "mean": self._mean, "scale": self._scale,
                   "weight_sums": self._weight_sums}
        save_checkpoint(path, model=CHECKPOINT_MODEL, version=CHECKPOINT_VERSION,
                        header=header, tensors=tensors)

    @classmethod
    def load(cls, path: str | os.PathLike, *, device: str | None = None) -> VQCodebook:
        """Load a model written by :meth:`save` (``device`` overrides the saved one)."""
        header, t = load_checkpoint(path, model=CHECKPOINT_MODEL, version=CHECKPOINT_VERSION)
        model = cls(**header["params"])
        if device is not None:
            model.device = device
        dev = resolve_device(model.device)
        d, K = int(header["n_features_in"]), model.n_clusters
        shapes = {"centers": (K, d), "mean": (d,), "scale": (d,), "weight_sums": (K,)}
        for name, shape in shapes.items():
            if name not in t or tuple(t[name].shape) != shape:
                raise FormatError(f"{path}: tensor {name!r} missing or not of shape {shape}")
        model.n_features_in_ = d
        model._set_scaling(t["mean"].numpy(), t["scale"].numpy(), dev)
        model._centers = t["centers"].to(dev, torch.float32)
        model._weight_sums = t["weight_sums"].to(dev, torch.float64)
        model.n_steps_ = int(header["n_steps"])
        model.inertia_ = float(header["inertia"])
        model.history_ = list(header["history"])
        restore_corpus(model, header)
        return model

    # -------------------------------------------------------------------- helpers
    def _scaling(self, corpus: Any) -> tuple[np.ndarray, np.ndarray]:
        """Feature means and scales (StandardScaler's), streamed over the corpus."""
        d = corpus.dim
        if not self.standardize:
            return np.zeros(d), np.ones(d)

        _, mean, cov = streaming_moments(corpus.iter_frames(self.read_frames))
        scale = np.sqrt(np.diag(cov))
        if not (np.isfinite(mean).all() and np.isfinite(scale).all()):
            _name_nonfinite_songs(corpus)
        scale[scale < 10 * np.finfo(np.float64).eps] = 1.0   # constant features
        return mean, scale

    def _set_scaling(self, mean: np.ndarray, scale: np.ndarray, dev: torch.device) -> None:
        self._mean = torch.as_tensor(mean, dtype=torch.float32, device=dev)
        self._scale = torch.as_tensor(scale, dtype=torch.float32, device=dev)

    def _standardized(self, frames: Tensor, corpus: Any = None) -> Tensor:
        """Frames in the clustering space; NaN/inf refused, naming the corpus's songs
        that hold them when ``corpus`` (the frames' source) is given."""
        x = (frames.to(torch.float32) - self._mean) / self._scale
        if not bool(torch.isfinite(x).all()):
            if corpus is not None:
                _name_nonfinite_songs(corpus)
            raise DataError("NaN or infinite values in the frames")
        return x

    def _seed(self, corpus: Any, dev: torch.device) -> Tensor:
        """Initial centres (K, d) in the clustering space, from a sample of frames."""
        size = self.init_size or max(3 * self.batch_size, 3 * self.n_clusters)
        size = min(max(size, self.n_clusters), corpus.n_frames)
        sample = corpus.sample_frames(size, seed=self.random_state).astype(np.float64)
        z = (sample - self._mean.double().cpu().numpy()) / self._scale.double().cpu().numpy()
        if not np.isfinite(z).all():
            _name_nonfinite_songs(corpus)
        if self.init == "k-means++":
            from sklearn.cluster import kmeans_plusplus

            centers, _ = kmeans_plusplus(z, self.n_clusters, random_state=self.random_state)
        else:
            rng = np.random.default_rng(self.random_state)
            centers = z[rng.choice(len(z), size=self.n_clusters, replace=False)]
        return torch.as_tensor(centers, dtype=torch.float32, device=dev)

    def _read_groups(self, corpus: Any, epoch: int) -> list[np.ndarray]:
        """Songs in random order, cut into chunks of about ``read_frames`` frames."""
        order = np.random.default_rng([self.random_state, epoch]).permutation(len(corpus))
        return _split_by_frames(order, corpus.lengths, self.read_frames)

    def _ordered_groups(self, corpus: Any, batch_size: int | None) -> list[np.ndarray]:
        order = np.arange(len(corpus))
        if batch_size:
            return [order[lo:lo + batch_size] for lo in range(0, len(order), batch_size)]
        return _split_by_frames(order, corpus.lengths, self.read_frames)

    def _labels(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Nearest centre and squared distance of every frame, in blocks of rows."""
        rows = max(1, _ASSIGN_ELEMENTS // self.n_clusters)
        parts = [_assign(x[lo:lo + rows], self._centers) for lo in range(0, len(x), rows)]
        if len(parts) == 1:
            return parts[0]
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])

    def _total_inertia(self, corpus: Any) -> float:
        total = torch.zeros((), dtype=torch.float64, device=self._centers.device)
        for batch in corpus.iter_batches(self._ordered_groups(corpus, None),
                                         device=self._centers.device):
            total += self._labels(self._standardized(batch.frames, corpus))[1].sum(
                dtype=torch.float64)
        return float(total)

    def _check_corpus(self, X: Any) -> Any:
        self._check_fitted()
        corpus = as_corpus(X)
        if corpus.dim != self.n_features_in_:
            raise DataError(f"the corpus has {corpus.dim}-d frames; the codebook was "
                            f"fitted on {self.n_features_in_}-d frames")
        return corpus

    def _check_fitted(self) -> None:
        if not hasattr(self, "_centers"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("this VQCodebook is not fitted yet; call fit first")

    def _validate_params(self) -> None:
        validate_params(self)


class _Convergence:
    """scikit-learn's early stopping on the smoothed per-frame mini-batch inertia."""

    def __init__(self, max_no_improvement: int | None, n_frames: int) -> None:
        self.max_no_improvement = max_no_improvement
        self.n_frames = n_frames
        self.step = 0
        self.ewa: float | None = None
        self.ewa_min: float | None = None
        self.no_improvement = 0

    def update(self, inertias: np.ndarray, sizes: list[int]) -> bool:
        """Feed the per-frame inertias of consecutive updates; True when it should stop."""
        for inertia, size in zip(inertias.tolist(), sizes, strict=True):
            self.step += 1
            if self.step == 1:          # the inertia of the initial centres
                continue
            if self.ewa is None:
                self.ewa = inertia
            else:
                alpha = min(size * 2.0 / (self.n_frames + 1), 1.0)
                self.ewa = self.ewa * (1 - alpha) + inertia * alpha
            if self.ewa_min is None or self.ewa < self.ewa_min:
                self.no_improvement, self.ewa_min = 0, self.ewa
            else:
                self.no_improvement += 1
            if (self.max_no_improvement is not None
                    and self.no_improvement >= self.max_no_improvement):
                return True
        return False


def _assign(x: Tensor, centers: Tensor) -> tuple[Tensor, Tensor]:
    """Nearest centre by one GEMM: argmin_k ‖c_k‖² − 2 x·c_k, plus ‖x‖² for the distance.

    Parameters
    ----------
    x : Tensor, shape (n, d)
    centers : Tensor, shape (K, d)

    Returns
    -------
    labels : Tensor, shape (n,), int64
    dist : Tensor, shape (n,)
        Squared distance to the nearest centre (clamped at 0).
    """
    partial = torch.addmm((centers * centers).sum(1), x, centers.T, alpha=-2.0)
    best, labels = partial.min(1)
    return labels, (best + (x * x).sum(1)).clamp_min(0.0)


def _split_by_frames(order: np.ndarray, lengths: np.ndarray,
                     max_frames: int) -> list[np.ndarray]:
    """Cut ``order`` into consecutive groups of about ``max_frames`` frames (at least one
    song each)."""
    ends = np.cumsum(lengths[order])
    if len(ends) == 0:
        return []
    cuts = np.searchsorted(ends, np.arange(max_frames, ends[-1], max_frames), side="left") + 1
    cuts = np.unique(cuts[(cuts > 0) & (cuts < len(order))])
    return [g for g in np.split(order, cuts) if len(g)]


def _name_nonfinite_songs(corpus: Any) -> NoReturn:
    """Raise the error that names the songs of ``corpus`` holding NaN/inf frames.

    Raises
    ------
    DataError
        From :meth:`~hdpmusic.formats.corpus.Corpus.check_finite` (up to five ids), or, when
        every frame is finite (the values overflowed once standardised), saying so.
    """
    corpus.check_finite()
    raise DataError(f"{corpus.path or 'corpus'}: the frames overflow float32 once "
                    "standardised; rescale the features")
