"""The training loop, inference and persistence shared by the deep baselines (KIM, CLMR).

:class:`SelfSupervisedAudio` is the scikit-learn-style estimator both models derive
from: ``fit`` / ``partial_fit`` on a list of audio files, ``transform`` to one vector per
song, ``save`` / ``load`` through :mod:`hdpmusic.formats.checkpoint`. A subclass supplies only
what differs between the models: the reader (raw samples or a dB mel spectrogram), the
network, how the two views of a training item are chosen, the loss, and how a song's
chunk embeddings are pooled.

Reproducibility. The network is initialised on the CPU from ``random_state`` (the same
weights on every device); the batches are a function of ``(random_state, step)``
(:class:`~hdpmusic.baselines.audio_data.StepBatches`); and the torch generator that
drives dropout is re-seeded from ``(random_state, step)`` before every step, inside a
forked RNG so the caller's global state is untouched. A checkpoint therefore needs only
the weights, the optimiser state and the step counter, and a run resumed from it gives
the same result as an uninterrupted run with the same seed, whatever ``num_workers``.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from torch import Tensor, nn
from torch.utils.data import DataLoader

from hdpmusic.baselines.audio_data import (
    Chunked,
    CropDataset,
    Partial,
    Reader,
    StepBatches,
    check_batch_size,
    check_paths,
    iter_songs,
    split_chunks,
    worker_errors,
)
from hdpmusic.formats.checkpoint import (
    corpus_header,
    load_checkpoint,
    restore_corpus,
    save_checkpoint,
)
from hdpmusic.formats.songset import encode_songs
from hdpmusic.runtime.devices import resolve_device
from hdpmusic.runtime.errors import DataError, FormatError, HdpmusicError
from hdpmusic.runtime.validation import Boolean, Interval, validate_params

__all__ = ["SelfSupervisedAudio"]

Augment = Any  # callable (crop, rng) -> crop, or None


class SelfSupervisedAudio(TransformerMixin, BaseEstimator):
    """Base class of the self-supervised audio models: training loop, inference, files.

    Parameters
    ----------
    batch_size : int
        Training items per step (each item is a pair of crops); also the number of
        chunks per forward pass in :meth:`transform` unless given there.
    max_epochs : int
        Length of :meth:`fit` in passes over the songs (``n_songs // batch_size`` steps
        each), unless ``max_steps`` is set.
    max_steps : int or None
        Length of :meth:`fit` in optimiser steps (overrides ``max_epochs``).
    learning_rate, weight_decay : float
        Adam's step size and L2 penalty.
    num_workers : int
        Loader processes decoding audio (0: in the main process).
    cache_bytes : int
        Decoded songs each loader process keeps in memory (see
        :class:`~hdpmusic.baselines.audio_data.CropDataset`).
    device : str
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...
    random_state : int
        Seed of the initialisation, the batches, the crops and dropout.
    verbose : bool
        A progress bar with the loss and the steps per second.

    Attributes
    ----------
    network_ : torch.nn.Module
        The trained network, on the model's device.
    optimizer_ : torch.optim.Adam
    n_steps_ : int
        Optimiser steps taken so far.
    n_songs_ : int
        Songs of the training set.
    songs_fingerprint_ : str
        Hash of the training songs' ids (or file names) in order; resuming on another
        list of songs is refused.
    history_ : list of dict
        One record per step: ``step``, ``loss``, ``seconds`` (wall time since the
        previous step, data loading included).
    """

    #: registry / checkpoint name and checkpoint version (set by subclasses)
    model_name: ClassVar[str]
    checkpoint_version: ClassVar[int]
    #: what :meth:`transform` does with a last chunk shorter than the crop
    partial: ClassVar[Partial]

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "batch_size": [Interval(Integral, 2, None)],
        "max_epochs": [Interval(Integral, 0, None)],
        "max_steps": [Interval(Integral, 0, None), None],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None)],
        "num_workers": [Interval(Integral, 0, None)],
        "cache_bytes": [Interval(Integral, 0, None)],
        "random_state": [Interval(Integral, 0, None)],
        "verbose": [Boolean()],
    }

    def __init__(self, *, batch_size: int, max_epochs: int, max_steps: int | None,
                 learning_rate: float, weight_decay: float, num_workers: int,
                 cache_bytes: int, device: str, random_state: int, verbose: bool) -> None:
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.max_steps = max_steps
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.num_workers = num_workers
        self.cache_bytes = cache_bytes
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------ subclass hooks
    def _reader(self) -> Reader:
        """path → array (..., n) whose last axis is time (picklable)."""
        raise NotImplementedError

    def _crop_length(self) -> int:
        """Length of a training crop and of an inference chunk along the time axis."""
        raise NotImplementedError

    def _augment(self) -> Augment:
        """``augment(crop, rng) -> crop`` applied to every training crop, or None."""
        return None

    def _build_network(self) -> nn.Module:
        """A freshly initialised network (called under a seeded generator)."""
        raise NotImplementedError

    def _views(self, anchors: np.ndarray, rng: np.random.Generator, n_songs: int,
               ) -> np.ndarray:
        """Songs of every training item, shape (batch_size, 2), from the anchor songs."""
        raise NotImplementedError

    def _prepare(self, paths: list[str]) -> None:
        """Fit what the model needs before training starts (default: nothing)."""

    def _loss(self, crops: Tensor, songs: Tensor) -> Tensor:
        """Scalar loss of a batch: crops (B, 2, ..., length), songs (B, 2) int64."""
        raise NotImplementedError

    def _embed(self, chunks: Tensor) -> Tensor:
        """Embeddings (n, D) of chunks (n, ..., length) on the device (eval mode)."""
        raise NotImplementedError

    def _pool(self, embeddings: Tensor) -> Tensor:
        """A song's vector from its chunk embeddings (n_chunks, D)."""
        raise NotImplementedError

    def _extra_state(self) -> tuple[dict[str, Any], dict[str, Tensor]]:
        """Model-specific header entries and tensors to save (default: none)."""
        return {}, {}

    def _restore_extra(self, header: dict[str, Any], tensors: dict[str, Tensor]) -> None:
        """Restore what :meth:`_extra_state` saved (default: nothing)."""

    def _validate_params(self) -> None:
        """Raise :class:`ParameterError` for an invalid setting (subclasses extend)."""
        validate_params(self)

    # ------------------------------------------------------------------ public API
    def fit(self, audio_paths: Sequence[str | os.PathLike], ids: Sequence[str] | None = None,
            *, checkpoint: str | os.PathLike | None = None, checkpoint_every: int = 0,
            resume: bool = False) -> SelfSupervisedAudio:
        """Train until ``max_steps`` (or ``max_epochs``) steps have been taken.

        Parameters
        ----------
        audio_paths : sequence of path-like, length J
            The training songs (read at 22 050 Hz, mono).
        ids : sequence of str, length J, optional
            Song ids; with the order of the songs they identify the training set, so
            that resuming on other songs (or the same songs in another order) is
            refused. Default: the file names.
        checkpoint : path, optional
            Where to save the model (atomically) every ``checkpoint_every`` steps if > 0
            and at the end.
        checkpoint_every : int
        resume : bool
            Continue a fitted (e.g. :meth:`load`-ed) model from its step counter instead
            of starting afresh; with the same songs and seed the result equals an
            uninterrupted run.

        Returns
        -------
        SelfSupervisedAudio
            ``self``.
        """
        paths = check_paths(audio_paths)
        fingerprint = _fingerprint(paths, ids)
        if resume and hasattr(self, "network_"):
            self._check_songs(fingerprint, len(paths))
        else:
            self._initialise(paths, fingerprint)
        self._record_songs(ids)
        self._train(paths, self._total_steps(), checkpoint, checkpoint_every)
        if checkpoint is not None:
            self.save(checkpoint)
        return self

    def partial_fit(self, audio_paths: Sequence[str | os.PathLike],
                    ids: Sequence[str] | None = None, *, n_steps: int = 1,
                    ) -> SelfSupervisedAudio:
        """Take ``n_steps`` more optimiser steps (initialising the model on first use).

        Parameters
        ----------
        audio_paths : sequence of path-like, length J
            The training songs; after the first call, the same songs in the same order.
        ids : sequence of str, length J, optional
            As in :meth:`fit`.
        n_steps : int

        Returns
        -------
        SelfSupervisedAudio
            ``self``. Calls of ``n_steps`` s1, s2, ... give the same model as one
            call of s1 + s2 + ... steps.
        """
        paths = check_paths(audio_paths)
        fingerprint = _fingerprint(paths, ids)
        if hasattr(self, "network_"):
            self._check_songs(fingerprint, len(paths))
        else:
            self._initialise(paths, fingerprint)
        self._record_songs(ids)
        self._train(paths, self.n_steps_ + n_steps, None, 0)
        return self

    def _record_songs(self, ids: Sequence[str] | None) -> None:
        """Record the training songs, which ``transform`` marks as fitted (no ids: none
        known)."""
        self.fitted_corpus_ = None if ids is None else {"songs": encode_songs(ids)}

    def transform(self, audio_paths: Sequence[str | os.PathLike], *,
                  batch_size: int | None = None) -> np.ndarray:
        """One vector per song from the embeddings of its non-overlapping chunks.

        Parameters
        ----------
        audio_paths : sequence of path-like, length J
        batch_size : int, optional
            Chunks per forward pass (default ``self.batch_size``).

        Returns
        -------
        np.ndarray, shape (J, D), float32
            Row j pools the chunk embeddings of ``audio_paths[j]`` (see the subclass
            for D and the pooling); store it with
            ``hdpmusic.formats.representations.Representations(ids, X, attrs)``.

        Raises
        ------
        DataError
            A missing or unreadable file (named in the message).
        """
        self._check_fitted()
        paths = check_paths(audio_paths)
        size = batch_size or self.batch_size
        reader = Chunked(self._reader(), self._crop_length(), self.partial)
        rows: list[np.ndarray] = []
        pending: list[np.ndarray] = []
        for chunks in iter_songs(paths, reader, num_workers=self.num_workers):
            pending.append(chunks)
            if sum(len(c) for c in pending) >= size:
                rows.extend(self._embed_songs(pending, size))
                pending = []
        if pending:
            rows.extend(self._embed_songs(pending, size))
        return np.stack(rows).astype(np.float32, copy=False)

    @property
    def chunk_samples(self) -> int:
        """Samples of 22 050 Hz audio in one inference chunk (its hop: chunks do not
        overlap)."""
        return self._crop_length() * self._reader().step

    def signal_chunks(self, y: np.ndarray) -> np.ndarray:
        """The chunks :meth:`transform` cuts from a file holding the mono signal ``y``.

        Parameters
        ----------
        y : np.ndarray, shape (n_samples,), float32
            At 22 050 Hz.

        Returns
        -------
        np.ndarray, shape (n_chunks, ..., length)
        """
        self._check_fitted()
        return split_chunks(self._reader().signal(y), self._crop_length(), self.partial)

    def embed_chunks(self, songs: Sequence[np.ndarray], *,
                     batch_size: int | None = None) -> list[Tensor]:
        """Embeddings of every chunk of every song, in eval mode, on the model's device.

        Parameters
        ----------
        songs : sequence of np.ndarray, each shape (n_chunks_j, ..., length)
            Chunks as from :meth:`signal_chunks`.
        batch_size : int, optional
            Chunks per forward pass (default ``self.batch_size``).

        Returns
        -------
        list of Tensor, each shape (n_chunks_j, D)
        """
        self._check_fitted()
        size = batch_size or self.batch_size
        device = next(self.network_.parameters()).device
        chunks = torch.from_numpy(np.concatenate(songs))
        self.network_.eval()
        with torch.inference_mode():
            emb = torch.cat([self._embed(chunks[i:i + size].to(device))
                             for i in range(0, len(chunks), size)])
        return list(torch.split(emb, [len(c) for c in songs]))

    def pool(self, embeddings: Tensor) -> Tensor:
        """A song's representation (D',) from its chunk embeddings (n_chunks, D)."""
        return self._pool(embeddings)

    # ---------------------------------------------------------------- persistence
    def save(self, path: str | os.PathLike) -> None:
        """Write the parameters, weights, optimiser state and step counter (atomically)."""
        self._check_fitted()
        optim = self.optimizer_.state_dict()
        tensors: dict[str, Tensor] = {f"net.{k}": v for k, v in
                                      self.network_.state_dict().items()}
        tensors.update({f"opt.{pid}.{name}": value for pid, state in optim["state"].items()
                        for name, value in state.items()})
        extra_header, extra_tensors = self._extra_state()
        tensors.update(extra_tensors)
        header = {"params": self.get_params(), "n_steps": self.n_steps_,
                  "n_songs": self.n_songs_, "songs_fingerprint": self.songs_fingerprint_,
                  "optimizer_groups": optim["param_groups"], "history": self.history_,
                  **corpus_header(self), **extra_header}
        save_checkpoint(path, model=self.model_name, version=self.checkpoint_version,
                        header=header, tensors=tensors)

    @classmethod
    def load(cls, path: str | os.PathLike, *, device: str | None = None,
             ) -> SelfSupervisedAudio:
        """Load a model written by :meth:`save` (``device`` overrides the saved one).

        Raises
        ------
        FormatError
            Not a checkpoint of this model and version, or weights of other shapes.
        """
        header, tensors = load_checkpoint(path, model=cls.model_name,
                                          version=cls.checkpoint_version)
        model = cls(**header["params"])
        if device is not None:
            model.device = device
        model._validate_params()
        model._restore_extra(header, tensors)
        network = model._new_network()
        state: dict[int, dict[str, Tensor]] = {}
        for key, value in tensors.items():
            if key.startswith("opt."):
                _, pid, name = key.split(".", 2)
                state.setdefault(int(pid), {})[name] = value
        try:
            network.load_state_dict({k[4:]: v for k, v in tensors.items()
                                     if k.startswith("net.")})
            network.to(resolve_device(model.device))
            optimizer = model._new_optimizer(network)
            optimizer.load_state_dict({"state": state,
                                       "param_groups": header["optimizer_groups"]})
        except (RuntimeError, ValueError, KeyError) as err:
            raise FormatError(f"{path}: the weights do not fit a {cls.__name__} with the "
                              f"saved parameters ({str(err).splitlines()[0]})") from err
        model.network_, model.optimizer_ = network, optimizer
        model.n_steps_ = int(header["n_steps"])
        model.n_songs_ = int(header["n_songs"])
        model.songs_fingerprint_ = header["songs_fingerprint"]
        model.history_ = list(header["history"])
        restore_corpus(model, header)
        return model

    # -------------------------------------------------------------------- internals
    def _initialise(self, paths: list[str], fingerprint: str) -> None:
        self._validate_params()
        check_batch_size(self.batch_size, len(paths))
        self._prepare(paths)
        self.network_ = self._new_network().to(resolve_device(self.device))
        self.optimizer_ = self._new_optimizer(self.network_)
        self.n_steps_, self.n_songs_ = 0, len(paths)
        self.songs_fingerprint_ = fingerprint
        self.history_: list[dict[str, float]] = []

    def _new_network(self) -> nn.Module:
        """The network initialised on the CPU from ``random_state`` (global RNG untouched)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.random_state)
            return self._build_network()

    def _new_optimizer(self, network: nn.Module) -> torch.optim.Adam:
        return torch.optim.Adam(network.parameters(), lr=self.learning_rate,
                                weight_decay=self.weight_decay)

    def _total_steps(self) -> int:
        if self.max_steps is not None:
            return self.max_steps
        return self.max_epochs * (self.n_songs_ // self.batch_size)

    def _train(self, paths: list[str], stop: int, checkpoint: str | os.PathLike | None,
               checkpoint_every: int) -> None:
        """Take steps ``n_steps_ … stop − 1``."""
        from tqdm.auto import tqdm

        if self.n_steps_ >= stop:
            return
        device = next(self.network_.parameters()).device
        dataset = CropDataset(paths, self._reader(), self._crop_length(),
                              augment=self._augment(), cache_bytes=self.cache_bytes)
        batches = StepBatches(self.n_songs_, self.batch_size, self.random_state,
                              self.n_steps_, stop, self._views)
        loader = DataLoader(dataset, batch_sampler=batches, num_workers=self.num_workers,
                            pin_memory=device.type == "cuda")
        bar = tqdm(total=stop, initial=self.n_steps_, unit="step", desc=self.model_name,
                   disable=not self.verbose, leave=False, dynamic_ncols=True)
        devices = [device] if device.type == "cuda" else []
        self.network_.train()
        try:
            with torch.random.fork_rng(devices=devices), worker_errors():
                tick = time.perf_counter()
                for crops, songs in loader:
                    torch.manual_seed(_step_seed(self.random_state, self.n_steps_))
                    self.optimizer_.zero_grad(set_to_none=True)
                    loss = self._loss(crops.to(device, non_blocking=True),
                                      songs.to(device, non_blocking=True))
                    loss.backward()
                    self.optimizer_.step()
                    value = float(loss.detach())
                    if not math.isfinite(value):
                        raise HdpmusicError(f"{self.model_name}: the loss is {value} at step "
                                            f"{self.n_steps_ + 1}; lower learning_rate")
                    self.n_steps_ += 1
                    now = time.perf_counter()
                    self.history_.append({"step": self.n_steps_, "loss": value,
                                          "seconds": now - tick})
                    tick = now
                    bar.update(1)
                    bar.set_postfix(loss=f"{value:.4f}")
                    if checkpoint is not None and checkpoint_every > 0 \
                            and self.n_steps_ % checkpoint_every == 0:
                        self.save(checkpoint)
        finally:
            bar.close()

    def _embed_songs(self, songs: list[np.ndarray], size: int) -> list[np.ndarray]:
        """Pooled vectors of songs given as chunk arrays (n_chunks_j, ..., length)."""
        return [self._pool(part).float().cpu().numpy()
                for part in self.embed_chunks(songs, batch_size=size)]

    def _check_songs(self, fingerprint: str, n_songs: int) -> None:
        if n_songs != self.n_songs_ or fingerprint != self.songs_fingerprint_:
            raise DataError(f"cannot continue training: the model was trained on another "
                            f"list of songs ({self.n_songs_} songs; now {n_songs}); pass the "
                            "same songs in the same order, or fit afresh")

    def _check_fitted(self) -> None:
        if not hasattr(self, "network_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; "
                                 "call fit first")


def _fingerprint(paths: list[str], ids: Sequence[str] | None) -> str:
    """SHA-256 of the songs' ids (default: file names), in order."""
    if ids is not None and len(ids) != len(paths):
        raise DataError(f"{len(ids)} ids for {len(paths)} audio files")
    names = [str(i) for i in ids] if ids is not None else [os.path.basename(p) for p in paths]
    return hashlib.sha256("\n".join(names).encode()).hexdigest()


def _step_seed(random_state: int, step: int) -> int:
    """The torch seed of one training step (dropout), a function of the seed and step."""
    high, low = np.random.SeedSequence((random_state, 2, step)).generate_state(2)
    return (int(high) << 31) ^ int(low)
