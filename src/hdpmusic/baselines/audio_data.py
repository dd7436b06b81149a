"""Audio input of the self-supervised baselines (KIM, CLMR): songs, random crops, chunks.

A *reader* turns an audio file into an array whose last axis is time: :class:`RawAudio`
gives the mono signal, shape (n_samples,); KIM's reader gives a dB mel spectrogram,
shape (n_mels, n_frames). A reader's ``signal(y)`` gives the same from a decoded mono
signal, and its ``step`` is the samples per step of that time axis. Readers are small
picklable callables, so the same code runs in the main process and in
:class:`torch.utils.data.DataLoader` workers.

Training draws *views* — random crops of a fixed length along the time axis — from
:class:`CropDataset`. Its items are keys ``(songs, seed)``: the songs to crop (two views
per pair) and the seed of the crop positions and augmentations. The keys come from
:class:`StepBatches`, which derives everything random from ``(random_state, step)``.
Hence a run is reproducible whatever ``num_workers`` is (no per-worker random state is
involved) and a run resumed at step t draws exactly the batches an uninterrupted run
draws from step t on — only the step counter has to be saved.

Whole-song inference uses :func:`split_chunks` (non-overlapping chunks) through
:class:`Chunked` and :func:`iter_songs`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import numpy as np
from torch.utils.data import DataLoader, Dataset, Sampler

from hdpmusic.audio.decode import load_audio
from hdpmusic.runtime.errors import DataError, ParameterError

__all__ = [
    "SR",
    "Chunked",
    "CropDataset",
    "RawAudio",
    "StepBatches",
    "check_batch_size",
    "check_paths",
    "iter_songs",
    "random_crop",
    "split_chunks",
    "worker_errors",
]

#: sample rate of both deep baselines (Hz)
SR = 22050

#: a training item: the songs to take one crop from each, and the seed of the crops
Key = tuple[tuple[int, ...], int]
Reader = Callable[[str], np.ndarray]
Partial = Literal["pad", "drop"]


@dataclass(frozen=True)
class RawAudio:
    """Reader of the mono signal at ``sr`` Hz (:func:`hdpmusic.audio.decode.load_audio`).

    Calling it with a path returns an np.ndarray of shape (n_samples,), float32, and
    raises :class:`DataError` naming the file when it is missing, unreadable, empty or
    silent.
    """

    sr: int = SR
    #: samples of audio per step of the output's time axis
    step = 1

    def __call__(self, path: str) -> np.ndarray:
        return load_audio(path, self.sr)

    def signal(self, y: np.ndarray) -> np.ndarray:
        """What a file holding the mono signal ``y`` (at ``sr``) reads as: ``y`` itself."""
        return y


@dataclass(frozen=True)
class Chunked:
    """Reader wrapper: the output of ``reader`` split into chunks (:func:`split_chunks`).

    Calling it with a path returns an np.ndarray of shape (n_chunks, ..., length).
    """

    reader: Reader
    length: int
    partial: Partial

    def __call__(self, path: str) -> np.ndarray:
        return split_chunks(self.reader(path), self.length, self.partial)


def random_crop(x: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """A crop of ``length`` steps of the last axis at a uniformly random position.

    Parameters
    ----------
    x : np.ndarray, shape (..., n)
    length : int
    rng : np.random.Generator

    Returns
    -------
    np.ndarray, shape (..., length)
        A copy; when ``n < length`` the whole of ``x`` followed by zeros.
    """
    n = x.shape[-1]
    if n < length:
        return np.concatenate([x, np.zeros((*x.shape[:-1], length - n), x.dtype)], axis=-1)
    start = int(rng.integers(0, n - length + 1))
    return x[..., start:start + length].copy()


def split_chunks(x: np.ndarray, length: int, partial: Partial) -> np.ndarray:
    """Non-overlapping chunks of ``length`` steps of the last axis.

    Parameters
    ----------
    x : np.ndarray, shape (..., n)
    length : int
    partial : {"pad", "drop"}
        What to do with a last chunk shorter than ``length``: zero-pad it (KIM), or drop
        it (CLMR) — unless it is the only one (``n < length``), which is always padded.

    Returns
    -------
    np.ndarray, shape (n_chunks, ..., length)
        ``n_chunks = ceil(n / length)`` for ``"pad"``, ``max(1, n // length)`` for
        ``"drop"``.
    """
    n = x.shape[-1]
    n_chunks = -(-n // length) if partial == "pad" or n < length else n // length
    total = n_chunks * length
    if total > n:
        x = np.concatenate([x, np.zeros((*x.shape[:-1], total - n), x.dtype)], axis=-1)
    chunks = x[..., :total].reshape(*x.shape[:-1], n_chunks, length)
    return np.ascontiguousarray(np.moveaxis(chunks, -2, 0))


def check_paths(paths: Sequence[str | os.PathLike]) -> list[str]:
    """The paths as strings, after checking that there is at least one and all exist.

    Raises
    ------
    DataError
        No paths, or missing files (up to five named).
    """
    names = [os.fspath(p) for p in paths]
    if not names:
        raise DataError("no audio files given")
    missing = [p for p in names if not os.path.isfile(p)]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5
                                          else "")
        raise DataError(f"{len(missing)} audio file(s) do not exist: {shown}")
    return names


def check_batch_size(batch_size: int, n_songs: int) -> None:
    """Raise :class:`ParameterError` unless a batch of distinct songs fits in the songs."""
    if batch_size > n_songs:
        raise ParameterError(f"batch_size {batch_size} is larger than the number of songs "
                             f"({n_songs}); lower batch_size or add songs")


class CropDataset(Dataset):
    """Random crops of songs, for training; decoded songs are kept in memory up to a budget.

    Parameters
    ----------
    paths : sequence of str
        The audio files (song j is ``paths[j]``).
    reader : callable
        path → np.ndarray (..., n), e.g. :class:`RawAudio`.
    length : int
        Crop length along the last axis (samples or frames).
    augment : callable, optional
        ``augment(crop, rng) -> crop``, applied to every crop with the item's generator.
    cache_bytes : int
        Decoded songs are kept (per process: each loader worker has its own cache) until
        they take this many bytes; songs after that are decoded again at every use.

    Notes
    -----
    ``dataset[(songs, seed)]`` returns ``(crops, songs)``: crops of shape
    (len(songs), ..., length) float32 — one random crop of every listed song, positions
    and augmentations drawn from ``np.random.default_rng(seed)`` — and the song indices,
    shape (len(songs),), int64.
    """

    def __init__(self, paths: Sequence[str], reader: Reader, length: int, *,
                 augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
                 cache_bytes: int = 2 << 30) -> None:
        self.paths = list(paths)
        self.reader = reader
        self.length = length
        self.augment = augment
        self.cache_bytes = cache_bytes
        self._cache: dict[int, np.ndarray] = {}
        self._cached = 0

    def __len__(self) -> int:
        return len(self.paths)

    def song(self, j: int) -> np.ndarray:
        """The reader's output for song ``j`` (from the cache when it is there)."""
        x = self._cache.get(j)
        if x is None:
            x = self.reader(self.paths[j])
            if self._cached + x.nbytes <= self.cache_bytes:
                self._cache[j] = x
                self._cached += x.nbytes
        return x

    def __getitem__(self, key: Key) -> tuple[np.ndarray, np.ndarray]:
        songs, seed = key
        rng = np.random.default_rng(seed)
        crops = []
        for j in songs:
            crop = random_crop(self.song(j), self.length, rng)
            crops.append(self.augment(crop, rng) if self.augment is not None else crop)
        return np.stack(crops).astype(np.float32, copy=False), np.asarray(songs, np.int64)


class StepBatches(Sampler[list[Key]]):
    """Keys of the training batches for steps ``start, …, stop − 1``.

    Every epoch visits the songs in a fresh random order, ``batch_size`` anchor songs
    per step (a last incomplete batch is dropped, as in the study's CLMR loader);
    ``views`` turns the anchors into the songs of every item (e.g. the same song twice
    for CLMR, a same-or-other pair for KIM). Everything is a function of
    ``(seed, step)``.

    Parameters
    ----------
    n_songs : int
    batch_size : int
        At most ``n_songs``.
    seed : int
    start, stop : int
        First and one-past-last step.
    views : callable
        ``views(anchors, rng, n_songs) -> np.ndarray (batch_size, n_views)`` of song
        indices, ``anchors`` of shape (batch_size,).
    """

    def __init__(self, n_songs: int, batch_size: int, seed: int, start: int, stop: int,
                 views: Callable[[np.ndarray, np.random.Generator, int], np.ndarray]) -> None:
        check_batch_size(batch_size, n_songs)
        self.n_songs = n_songs
        self.batch_size = batch_size
        self.seed = seed
        self.start = start
        self.stop = stop
        self.views = views

    @property
    def steps_per_epoch(self) -> int:
        """Full batches per pass over the songs."""
        return self.n_songs // self.batch_size

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def batch(self, step: int) -> list[Key]:
        """The keys of one step's batch."""
        epoch, position = divmod(step, self.steps_per_epoch)
        order = np.random.default_rng((self.seed, 0, epoch)).permutation(self.n_songs)
        anchors = order[position * self.batch_size:(position + 1) * self.batch_size]
        rng = np.random.default_rng((self.seed, 1, step))
        songs = self.views(anchors, rng, self.n_songs)
        seeds = rng.integers(0, 2**63 - 1, size=len(anchors))
        return [(tuple(int(j) for j in row), int(s)) for row, s in zip(songs, seeds,
                                                                        strict=True)]

    def __iter__(self) -> Iterator[list[Key]]:
        for step in range(self.start, self.stop):
            yield self.batch(step)


class _Songs(Dataset):
    """``reader(paths[j])`` for song j (for whole-song passes)."""

    def __init__(self, paths: Sequence[str], reader: Reader) -> None:
        self.paths = list(paths)
        self.reader = reader

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, j: int) -> np.ndarray:
        return self.reader(self.paths[j])


def iter_songs(paths: Sequence[str], reader: Reader, *, num_workers: int = 0,
               ) -> Iterator[np.ndarray]:
    """``reader(path)`` for every path, in order, read by ``num_workers`` processes.

    Yields
    ------
    np.ndarray
        The reader's output for each song.

    Raises
    ------
    DataError
        A file that cannot be read (its message names the file).
    """
    loader = DataLoader(_Songs(paths, reader), batch_size=None, shuffle=False,
                        num_workers=num_workers)
    with worker_errors():
        for x in loader:
            yield np.asarray(x)


@contextmanager
def worker_errors() -> Iterator[None]:
    """Re-raise a :class:`DataError` from a loader worker with its own one-line message.

    PyTorch re-raises a worker's exception in the main process with the worker's
    traceback in the message; the CLI prints messages on one line, so only the original
    message is kept.
    """
    try:
        yield
    except DataError as err:
        text = str(err).rstrip()
        if "Original Traceback" not in text:
            raise
        last = text.splitlines()[-1]
        raise DataError(last.split(": ", 1)[1] if ": " in last else last) from None
