"""Ragged song frames in memory or in an HDF5 file, served as packed mini-batches.

On disk a corpus is the CSR layout of the study's own code (``docs/design.md`` §3): ``data``
(N, d) float32 holds every song's frames one after another, ``indptr`` (J+1,) gives the
song boundaries (song j is ``data[indptr[j]:indptr[j+1]]``) and ``ids`` (J,) names the
songs. Files written here also carry JSON attributes (``format``, ``format_version``,
``dim`` and the user's, such as ``feature_config``, ``sr``, ``hop_length``,
``audio_root``) and, where the songs' audio files are known, ``audio_files`` (J,): each
song's audio file relative to the folder ``audio_root`` names (see
:func:`hdpmusic.audio.extract.audio_paths`); files in
the study's layout (int32 ``indptr``, string or int32 ``ids``, no attributes, extra
groups) open unchanged.

:class:`~hdpmusic.formats.corpus_writer.CorpusWriter` streams songs into a new file;
:class:`Corpus` reads one without loading it whole (:mod:`hdpmusic.formats.row_reads`)
and hands out :class:`PackedBatch` es of whole songs.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import threading
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import h5py
import numpy as np

from hdpmusic.formats import corpus_writer as _writer
from hdpmusic.formats.filekind import CORPUS_HINT, require_file
from hdpmusic.formats.row_reads import (
    ArrayStore,
    H5Store,
    consecutive_groups,
    plan_runs,
    segment_rows,
    split_runs,
)
from hdpmusic.runtime.devices import available_bytes
from hdpmusic.runtime.errors import DataError, FormatError

if TYPE_CHECKING:
    import torch

__all__ = ["Corpus", "FrameTransform", "PackedBatch", "as_corpus", "content_fingerprint",
           "corpus_fingerprint", "minibatch_indices", "require_frames"]

_READ_CACHE_BYTES = 32 << 20  # HDF5 chunk cache for compressed data (0 when uncompressed)
_SAMPLE_READ_ROWS = 1 << 18


class FrameTransform(Protocol):
    """What a batch may pass its frames through on the device (a fitted
    :class:`~hdpmusic.model.whitening.Whitener` is one)."""

    def transform(self, frames: torch.Tensor) -> torch.Tensor:
        """Map frames of shape (n, d) to frames of shape (n, d)."""
        ...


def _decode_attr(value: Any, key: str = "", where: str = "corpus") -> Any:
    """Decode one HDF5 attribute: JSON text when it parses, else a plain Python value.

    Raises
    ------
    FormatError
        JSON nested too deeply to decode (no writer of hdpmusic makes it: a damaged or
        hostile file), naming ``where`` and the attribute ``key``.
    """
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        try:
            return json.loads(value)
        except RecursionError:
            raise FormatError(f"{where}: attribute {key!r} holds JSON nested too deeply to "
                              "read; the file is damaged (re-create it)") from None
        except ValueError:
            return value
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _decode_ids(dset: h5py.Dataset, path: Path) -> list[str]:
    """Song ids from an ``ids`` dataset of strings (vlen or fixed) or integers."""
    if dset.ndim != 1:
        raise FormatError(f"{path}: 'ids' must be 1-D, got shape {dset.shape}")
    kind = dset.dtype.kind
    if kind in "iu":
        return [str(int(v)) for v in dset[()]]
    if h5py.check_string_dtype(dset.dtype) is not None:
        return [str(v) for v in dset.asstr()[()]]
    if kind == "S":
        return [v.decode("utf-8") for v in dset[()]]
    if kind == "O":
        return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in dset[()]]
    raise FormatError(f"{path}: 'ids' has dtype {dset.dtype}; expected strings or integers")


# ------------------------------------------------------------------------------ batch


@dataclass
class PackedBatch:
    """Whole songs packed without padding (CSR).

    Attributes
    ----------
    frames : torch.Tensor, shape (n, d)
        Frames of all songs, song after song.
    offsets : torch.Tensor, shape (B+1,), int64
        Song b is ``frames[offsets[b]:offsets[b+1]]``; on the same device as ``frames``.
    indices : np.ndarray, shape (B,), int64
        Positions of the songs in the corpus.
    """

    frames: torch.Tensor
    offsets: torch.Tensor
    indices: np.ndarray

    @property
    def lengths(self) -> torch.Tensor:
        """Frames per song, shape (B,), int64."""
        return self.offsets[1:] - self.offsets[:-1]

    @property
    def n_songs(self) -> int:
        """Number of songs B."""
        return len(self.indices)


class _Failure:
    """An exception raised in the prefetch thread, carried to the consumer."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


_DONE = object()


# ----------------------------------------------------------------------------- corpus


class Corpus:
    """Ragged song frames, in memory or streamed from an HDF5 file.

    Build one with :meth:`open`, :meth:`from_arrays` or
    :class:`~hdpmusic.formats.corpus_writer.CorpusWriter`; never call the constructor
    directly. A corpus may be a view (:meth:`subset`) of selected
    songs of another; views share the frames (no copy).

    Attributes
    ----------
    sample_gap_frames : int
        In :meth:`sample_frames` from HDF5, unrequested rows read through to join two
        sampled frames into one read.
    """

    sample_gap_frames = 2048

    def __init__(self, store: H5Store | ArrayStore, indptr: np.ndarray,
                 ids: list[str], attrs: dict[str, Any], dim: int,
                 selection: np.ndarray | None = None) -> None:
        self._store = store
        self._indptr = indptr
        self._all_ids = ids
        self._attrs = attrs
        self._dim = dim
        self._selection = selection
        starts, stops = indptr[:-1], indptr[1:]
        if selection is not None:
            starts, stops = starts[selection], stops[selection]
        self._starts = starts
        self._lengths = stops - starts

    # -- construction ---------------------------------------------------------------

    @classmethod
    def from_arrays(cls, arrays: Sequence[np.ndarray], ids: Sequence[str] | None = None,
                    attrs: Mapping[str, Any] | None = None) -> Corpus:
        """An in-memory corpus from one array per song.

        Parameters
        ----------
        arrays : sequence of np.ndarray, each shape (n_j, d)
            Song frames (cast to float32); every song needs at least one frame.
        ids : sequence of str, optional
            Unique song ids (default ``"0"``, ``"1"``, ...).
        attrs : dict, optional
            JSON-serialisable attributes (saved with :meth:`save`).
        """
        if len(arrays) == 0:
            raise DataError("from_arrays: no songs given")
        ids = [str(j) for j in range(len(arrays))] if ids is None else [str(i) for i in ids]
        if len(ids) != len(arrays):
            raise DataError(f"from_arrays: {len(arrays)} songs but {len(ids)} ids")
        if len(set(ids)) != len(ids):
            raise DataError("from_arrays: song ids are not unique")
        arrays = [np.asarray(a) for a in arrays]
        dim = arrays[0].shape[1] if arrays[0].ndim == 2 else None
        for song_id, a in zip(ids, arrays, strict=True):
            if a.ndim != 2:
                raise DataError(f"from_arrays: song {song_id!r} has shape {a.shape}; each "
                                f"song is a 2-D array of shape (n_frames, n_features)")
            if a.shape[1] != dim:
                raise DataError(f"from_arrays: song {song_id!r} has shape {a.shape}, "
                                f"expected (n, {dim})")
            if a.shape[0] == 0:
                raise DataError(f"from_arrays: song {song_id!r} has no frames")
        indptr = np.concatenate(([0], np.cumsum([a.shape[0] for a in arrays]))).astype(np.int64)
        data = np.concatenate(arrays).astype(np.float32, copy=False)
        return cls(ArrayStore(data), indptr, ids, dict(attrs or {}), dim)

    @classmethod
    def open(cls, path: str | os.PathLike, *, dim: int | None = None) -> Corpus:
        """Open a corpus file (hdpmusic or study layout) for streaming.

        Only ``indptr``, ``ids`` and the attributes are read now; frames are read on
        demand.

        Parameters
        ----------
        path : path-like
        dim : int, optional
            Required feature dimension; a file of another dimension is refused.

        Raises
        ------
        FormatError
            Not an HDF5 file, missing or inconsistent datasets, a newer format version.
        DataError
            No songs, or the wrong dimension.
        """
        path = Path(path)
        require_file(path, "corpus file", f"give {CORPUS_HINT} (a folder of audio files is "
                                          "read by `hdpmusic extract`)")
        try:
            fh = h5py.File(path, "r")
        except OSError as err:
            raise FormatError(f"{path} is not a readable HDF5 file ({err}); it may be "
                              "corrupt or truncated, re-create it") from None
        with fh:
            missing = [k for k in ("data", "indptr", "ids") if not isinstance(
                fh.get(k, getlink=False), h5py.Dataset)]
            if missing:
                raise FormatError(f"{path}: missing dataset(s) {missing}; a corpus needs "
                                  "'data', 'indptr' and 'ids' (as `hdpmusic extract` and "
                                  "`hdpmusic prepare` write them)")
            data = fh["data"]
            if data.ndim != 2:
                raise FormatError(f"{path}: 'data' must be 2-D (frames, dim), "
                                  f"got shape {data.shape}")
            attrs = {k: _decode_attr(v, k, str(path)) for k, v in fh.attrs.items()}
            _check_format(attrs, path)
            indptr = _check_indptr(fh["indptr"], data.shape[0], path)
            _check_stored(data, path)
            ids = _decode_ids(fh["ids"], path)
            file_dim = int(data.shape[1])
            cache = _READ_CACHE_BYTES if data.compression or data.shuffle else 0
        if len(ids) != len(indptr) - 1:
            raise FormatError(f"{path}: {len(ids)} ids for {len(indptr) - 1} songs in indptr")
        if not ids:
            raise DataError(f"{path}: the corpus has no songs")
        if dim is not None and file_dim != dim:
            raise DataError(f"{path}: frames have dimension {file_dim}, expected {dim}; "
                            "re-extract the features with the matching configuration")
        return cls(H5Store(path, cache), indptr, ids, attrs, file_dim)

    def save(self, path: str | os.PathLike, *, overwrite: bool = False,
             compression: str | None = None, chunk_frames: int = 1 << 18) -> None:
        """Write this corpus (or view) to a new file in song order, streaming.

        Parameters
        ----------
        path : path-like
        overwrite : bool
            Replace an existing file.
        compression : str, optional
            HDF5 filter for ``data``.
        chunk_frames : int
            Frames read at a time.
        """
        attrs = {k: v for k, v in self._attrs.items() if k not in _writer.RESERVED_ATTRS}
        audio = self.audio_files() or [None] * len(self)
        with _writer.CorpusWriter(path, self._dim, attrs=attrs, overwrite=overwrite,
                          compression=compression) as writer:
            ids = self.ids
            for group in consecutive_groups(np.arange(len(self)), self._lengths, chunk_frames):
                frames, offsets = self.read(group)
                for b, j in enumerate(group.tolist()):
                    writer.append(ids[j], frames[offsets[b]:offsets[b + 1]],
                                  audio_file=audio[j])

    # -- description ----------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._lengths)

    def __repr__(self) -> str:
        where = self.path if self.path is not None else "memory"
        return (f"Corpus({len(self)} songs, {self.n_frames} frames, dim {self._dim}, "
                f"{where})")

    @property
    def ids(self) -> list[str]:
        """Song ids, in corpus order."""
        if self._selection is None:
            return self._all_ids
        return [self._all_ids[i] for i in self._selection.tolist()]

    @property
    def lengths(self) -> np.ndarray:
        """Frames per song, shape (J,), int64."""
        return self._lengths

    @property
    def n_frames(self) -> int:
        """Total frames N."""
        return int(self._lengths.sum())

    @property
    def dim(self) -> int:
        """Feature dimension d."""
        return self._dim

    @property
    def attrs(self) -> dict[str, Any]:
        """File attributes (decoded from JSON); empty for study-layout files."""
        return dict(self._attrs)

    def audio_files(self) -> list[str] | None:
        """Each song's audio file as the file records it
        (:data:`~hdpmusic.formats.corpus_writer.AUDIO_FILES`, relative to the folder of
        the ``audio_root`` attribute), in corpus order; None when the file records none
        (written before they were, the study's layout, in memory).

        Raises
        ------
        FormatError
            The dataset does not hold one string per song.
        """
        if not isinstance(self._store, H5Store):
            return None
        path = self._store.path
        try:
            with h5py.File(path, "r") as fh:
                dset = fh.get(_writer.AUDIO_FILES, getlink=False)
                if not isinstance(dset, h5py.Dataset):
                    return None
                if dset.shape != (len(self._all_ids),) or \
                        h5py.check_string_dtype(dset.dtype) is None:
                    raise FormatError(f"{path}: {_writer.AUDIO_FILES!r} must hold one string per "
                                      f"song ({len(self._all_ids)}), not {dset.dtype} of "
                                      f"shape {dset.shape}; the file is damaged (re-create "
                                      "it)")
                files = [str(v) for v in dset.asstr()[()]]
        except OSError as err:
            raise FormatError(f"{path}: cannot read {_writer.AUDIO_FILES!r} ({err})") from None
        if self._selection is None:
            return files
        return [files[i] for i in self._selection.tolist()]

    @property
    def path(self) -> Path | None:
        """The backing HDF5 file, or None for an in-memory corpus."""
        return self._store.path if isinstance(self._store, H5Store) else None

    @property
    def device(self) -> torch.device | None:
        """The device holding the frames after :meth:`to`, else None."""
        data = self._store.data if isinstance(self._store, ArrayStore) else None
        return None if data is None or isinstance(data, np.ndarray) else data.device

    # -- access ---------------------------------------------------------------------

    def __getitem__(self, j: int) -> np.ndarray:
        """Song ``j``'s frames, float32 (n_j, d)."""
        if not isinstance(j, int | np.integer):
            raise TypeError("index a corpus with an int; use subset() for several songs")
        frames, _ = self.read(np.array([j]))
        return frames

    def subset(self, indices: Sequence[int] | np.ndarray) -> Corpus:
        """A view of the songs ``indices`` (in that order), sharing the frames.

        Parameters
        ----------
        indices : array-like of int, shape (B,)
        """
        idx = self._check_indices(indices)
        selection = idx if self._selection is None else self._selection[idx]
        return Corpus(self._store, self._indptr, self._all_ids, self._attrs, self._dim,
                      selection)

    def _check_indices(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        idx = np.asarray(indices)
        if idx.ndim != 1 or (idx.size and idx.dtype.kind not in "iu"):
            raise IndexError(f"song indices must be a 1-D integer array, got {idx.dtype} "
                             f"of shape {idx.shape}")
        idx = idx.astype(np.int64)
        if idx.size and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise IndexError(f"song index out of range for a corpus of {len(self)} songs")
        return np.where(idx < 0, idx + len(self), idx)

    def minibatch_indices(self, batch_size: int, *, seed: int, epoch: int) -> list[np.ndarray]:
        """One epoch's mini-batches of whole songs: :func:`minibatch_indices` of this
        corpus's length."""
        return minibatch_indices(len(self), batch_size, seed=seed, epoch=epoch)

    def read(self, indices: Sequence[int] | np.ndarray, *, merge: bool = True,
             out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Frames of the songs ``indices``, packed in the given order.

        For a file-backed corpus the songs are read in file order straight into their
        place in the output, songs that follow each other in both joined into one read
        (no scratch copy: reading through gaps does not pay, see
        ``benchmarks/bench_corpus.py``).

        Parameters
        ----------
        indices : array-like of int, shape (B,)
        merge : bool
            Sort and join ranges (True) or read song by song in the given order (False,
            for comparison).
        out : np.ndarray, shape (n, d), float32, optional
            Where to put the frames (e.g. the host view of a pinned tensor, so that a
            batch bound for a GPU is read straight into transferable memory); returned
            as ``frames``.

        Returns
        -------
        frames : np.ndarray, shape (n, d), float32
        offsets : np.ndarray, shape (B+1,), int64
            Song b is ``frames[offsets[b]:offsets[b+1]]``.
        """
        idx = self._check_indices(indices)
        starts, lengths = self._starts[idx], self._lengths[idx]
        offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
        shape = (int(offsets[-1]), self._dim)
        if out is not None and (out.shape != shape or out.dtype != np.float32):
            raise ValueError(f"out must be float32 of shape {shape}, not {out.dtype} "
                             f"{out.shape}")
        if not (merge and isinstance(self._store, H5Store)) or idx.size == 0:
            frames = self._store.read_runs(starts, starts + lengths)
            if out is None:
                return frames, offsets
            out[...] = frames
            return out, offsets
        frames = np.empty(shape, np.float32) if out is None else out
        self._store.read_into(frames, starts, lengths, offsets[:-1])
        return frames, offsets

    # -- batches --------------------------------------------------------------------

    def load_batch(self, indices: Sequence[int] | np.ndarray, *,
                   device: str | torch.device = "cpu", dtype: torch.dtype | None = None,
                   whitener: FrameTransform | None = None) -> PackedBatch:
        """A :class:`PackedBatch` of the songs ``indices`` on ``device``.

        Parameters
        ----------
        indices : array-like of int, shape (B,)
        device : str or torch.device
        dtype : torch.dtype, optional
            Frame dtype (default float32).
        whitener : FrameTransform, optional
            Applied on the device after the transfer (e.g. a
            :class:`~hdpmusic.model.whitening.Whitener`).
        """
        return self._finish_batch(self._host_batch(indices, device), device, dtype, whitener)

    def _host_batch(self, indices: Sequence[int] | np.ndarray,
                    device: str | torch.device) -> tuple[Any, Any, np.ndarray]:
        """Frames and offsets ready for transfer: pinned on the host for a CUDA target,
        or already sliced on the device for a device-resident corpus."""
        import torch

        idx = self._check_indices(indices)
        data = getattr(self._store, "data", None)
        if isinstance(data, torch.Tensor):
            lengths = self._lengths[idx]
            rows = torch.from_numpy(segment_rows(self._starts[idx], lengths)).to(data.device)
            offsets = torch.from_numpy(np.concatenate(([0], np.cumsum(lengths))))
            return data.index_select(0, rows), offsets, idx
        if torch.device(device).type != "cuda":
            frames, offsets = self.read(idx)
            return torch.from_numpy(frames), torch.from_numpy(offsets), idx
        # read straight into pinned (page-locked) memory: no second host copy of the batch
        frames_t = torch.empty((int(self._lengths[idx].sum()), self._dim),
                               dtype=torch.float32, pin_memory=True)
        _, offsets = self.read(idx, out=frames_t.numpy())
        return frames_t, torch.from_numpy(offsets).pin_memory(), idx

    @staticmethod
    def _finish_batch(host: tuple[Any, Any, np.ndarray], device: str | torch.device,
                      dtype: torch.dtype | None, whitener: FrameTransform | None) -> PackedBatch:
        import torch

        frames, offsets, idx = host
        frames = frames.to(device, non_blocking=True).to(dtype or torch.float32)
        offsets = offsets.to(frames.device, torch.int64, non_blocking=True)
        if whitener is not None:
            frames = whitener.transform(frames)
        return PackedBatch(frames=frames, offsets=offsets, indices=idx)

    def iter_batches(self, batches: Iterable[Sequence[int] | np.ndarray], *,
                     device: str | torch.device = "cpu", dtype: torch.dtype | None = None,
                     whitener: FrameTransform | None = None, prefetch: int = 2
                     ) -> Iterator[PackedBatch]:
        """Yield :meth:`load_batch` for each batch, reading ahead in a background thread.

        Up to ``prefetch`` batches are read from disk (and pinned for a CUDA device)
        while the caller computes; the host-to-device copy is non-blocking. An exception
        in the reader is raised here; closing the iterator early stops the reader.

        Parameters
        ----------
        batches : iterable of array-like of int
            E.g. :meth:`minibatch_indices`.
        device, dtype, whitener
            As in :meth:`load_batch`.
        prefetch : int
            Batches read ahead (0: read in the caller's thread).
        """
        if prefetch <= 0 or self.device is not None:
            for indices in batches:
                yield self.load_batch(indices, device=device, dtype=dtype, whitener=whitener)
            return
        slots: queue.Queue = queue.Queue(maxsize=prefetch)
        stop = threading.Event()

        def offer(item: Any) -> bool:
            while not stop.is_set():
                try:
                    slots.put(item, timeout=0.05)
                    return True
                except queue.Full:
                    continue
            return False

        def reader() -> None:
            try:
                for indices in batches:
                    if not offer(self._host_batch(indices, device)):
                        return
            except BaseException as err:
                offer(_Failure(err))
                return
            offer(_DONE)

        thread = threading.Thread(target=reader, name="hdpmusic-prefetch", daemon=True)
        thread.start()
        try:
            while True:
                item = slots.get()
                if item is _DONE:
                    return
                if isinstance(item, _Failure):
                    raise item.error
                yield self._finish_batch(item, device, dtype, whitener)
        finally:
            stop.set()
            thread.join()

    # -- streaming ------------------------------------------------------------------

    def iter_frames(self, chunk_frames: int = 65536) -> Iterator[np.ndarray]:
        """Every frame once, in storage order, a few whole songs at a time.

        Parameters
        ----------
        chunk_frames : int
            Frames per chunk (a longer song is one chunk of its own).

        Yields
        ------
        np.ndarray, shape (m, d), float32
        """
        order = np.argsort(self._starts, kind="stable")
        for group in consecutive_groups(order, self._lengths, chunk_frames):
            yield self.read(group)[0]

    def sample_frames(self, n: int, *, seed: int) -> np.ndarray:
        """``n`` frames drawn uniformly without replacement, read without loading the
        corpus.

        Parameters
        ----------
        n : int
            At most :attr:`n_frames`.
        seed : int

        Returns
        -------
        np.ndarray, shape (n, d), float32
            In random order.
        """
        total = self.n_frames
        if not 0 <= n <= total:
            raise DataError(f"cannot sample {n} frames from a corpus of {total}")
        picks = np.random.default_rng(seed).choice(total, size=n, replace=False)
        song_ends = np.cumsum(self._lengths)
        song = np.searchsorted(song_ends, picks, side="right")
        rows = self._starts[song] + picks - (song_ends[song] - self._lengths[song])
        if not isinstance(self._store, H5Store) or n == 0:
            return self._store.read_runs(rows, rows + 1)
        run_starts, run_stops, positions = plan_runs(rows, rows + 1, self.sample_gap_frames)
        run_starts, run_stops = split_runs(run_starts, run_stops, _SAMPLE_READ_ROWS)
        run_offsets = np.concatenate(([0], np.cumsum(run_stops - run_starts)))
        order = np.argsort(positions)
        sorted_positions = positions[order]
        out = np.empty((n, self._dim), np.float32)
        for runs in consecutive_groups(np.arange(len(run_starts)), run_stops - run_starts,
                                        _SAMPLE_READ_ROWS):
            lo, hi = run_offsets[runs[0]], run_offsets[runs[-1] + 1]
            buffer = self._store.read_runs(run_starts[runs], run_stops[runs])
            a, b = np.searchsorted(sorted_positions, [lo, hi])
            take = order[a:b]
            out[take] = buffer[positions[take] - lo]
        return out

    def check_finite(self, chunk_frames: int = 1 << 18) -> None:
        """Stream over the corpus; raise if any song has NaN/inf frames.

        Raises
        ------
        DataError
            Naming (up to five of) the offending song ids.
        """
        bad: list[int] = []
        order = np.argsort(self._starts, kind="stable")
        for group in consecutive_groups(order, self._lengths, chunk_frames):
            frames, offsets = self.read(group)
            nonfinite = np.concatenate(([0], np.cumsum(~np.isfinite(frames).all(axis=1))))
            per_song = nonfinite[offsets[1:]] - nonfinite[offsets[:-1]]
            bad.extend(group[per_song > 0].tolist())
        if bad:
            ids = self.ids
            names = ", ".join(repr(ids[j]) for j in sorted(bad)[:5])
            more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
            where = self.path or "in-memory corpus"
            raise DataError(f"{where}: {len(bad)} song(s) have NaN/inf frames: {names}{more}; "
                            "re-extract them or leave them out with subset()")

    def to(self, device: str | torch.device, dtype: torch.dtype | None = None) -> Corpus:
        """The whole corpus (or view) as one tensor on ``device``.

        Afterwards :meth:`load_batch` slices the tensor with no disk access.

        Parameters
        ----------
        device : str or torch.device
        dtype : torch.dtype, optional
            Default float32.

        Raises
        ------
        DataError
            When the frames obviously do not fit in the device's free memory.
        """
        import torch

        device = torch.device(device)
        dtype = dtype or torch.float32
        need = self.n_frames * self._dim * torch.empty((), dtype=dtype).element_size()
        free = available_bytes(device)
        if free is not None and need > 0.9 * free:
            raise DataError(f"{self.path or 'corpus'}: {need / 2**30:.1f} GiB of frames do "
                            f"not fit in the {free / 2**30:.1f} GiB free on {device}; stream "
                            "it from disk instead (do not call to())")
        out = torch.empty((self.n_frames, self._dim), dtype=dtype, device=device)
        row = 0
        for group in consecutive_groups(np.arange(len(self)), self._lengths, 1 << 20):
            frames = torch.from_numpy(self.read(group)[0])
            out[row:row + len(frames)].copy_(frames)
            row += len(frames)
        indptr = np.concatenate(([0], np.cumsum(self._lengths))).astype(np.int64)
        return Corpus(ArrayStore(out), indptr, self.ids, self._attrs, self._dim)


def corpus_fingerprint(corpus: Corpus) -> str:
    """A hash of a corpus's song ids and lengths, in order (to tell corpora apart).

    Two corpora with the same songs of the same lengths in the same order share it; the
    frames themselves are not read.

    Parameters
    ----------
    corpus : Corpus

    Returns
    -------
    str
        ``"sha256:<hex>"``.
    """
    digest = hashlib.sha256()
    for song_id, length in zip(corpus.ids, corpus.lengths.tolist(), strict=True):
        digest.update(f"{song_id}\t{length}\n".encode())
    return "sha256:" + digest.hexdigest()


def content_fingerprint(corpus: Corpus, *, n_songs: int = 16, n_frames: int = 16) -> str:
    """A hash of a fixed sample of a corpus's frames (to tell apart corpora whose ids and
    lengths agree but whose frames differ, e.g. rescaled or extracted otherwise).

    The sample is up to ``n_frames`` frames from the middle of each of up to ``n_songs``
    songs spread evenly over the corpus order: one small read per song.

    Parameters
    ----------
    corpus : Corpus
    n_songs, n_frames : int
        Size of the sample.

    Returns
    -------
    str
        ``"sha256:<hex>"`` of the sampled float32 frames.
    """
    songs = np.unique(np.linspace(0, len(corpus) - 1, min(len(corpus), n_songs)).astype(int))
    lengths = corpus.lengths[songs]
    take = np.minimum(lengths, n_frames)
    starts = corpus._starts[songs] + (lengths - take) // 2
    frames = corpus._store.read_runs(starts, starts + take)
    return "sha256:" + hashlib.sha256(np.ascontiguousarray(frames, "<f4").tobytes()).hexdigest()


def _check_format(attrs: Mapping[str, Any], path: Path) -> None:
    """Refuse a file written by another program or a newer version of this one."""
    fmt = attrs.get("format")
    if fmt is not None and fmt != _writer.FORMAT:
        raise FormatError(f"{path}: format {fmt!r} is not a corpus ({_writer.FORMAT!r})")
    version = attrs.get("format_version")
    if version is not None and int(version) > _writer.FORMAT_VERSION:
        raise FormatError(f"{path}: corpus format version {version} is newer than this "
                          f"hdpmusic reads ({_writer.FORMAT_VERSION}); upgrade hdpmusic")


def _check_stored(data: h5py.Dataset, path: Path) -> None:
    """Refuse a ``data`` dataset that declares more frames than the file stores.

    A contiguous dataset must occupy its full size; a chunked one (compressed or not)
    needs every chunk that its shape declares. External and virtual datasets are not
    checked.

    Raises
    ------
    FormatError
        Frames declared but not stored: the file is truncated or damaged.
    """
    if data.size == 0 or data.external or data.is_virtual:
        return
    if data.chunks is None:
        stored, full = data.id.get_storage_size(), data.size * data.dtype.itemsize
        missing = stored < full
    else:
        full = int(np.prod([-(-n // c) for n, c in zip(data.shape, data.chunks, strict=True)]))
        stored = data.id.get_num_chunks()
        missing = stored < full
    if missing:
        n, d = data.shape
        raise FormatError(f"{path}: 'data' declares {n} frames of dimension {d} "
                          f"({n * d * data.dtype.itemsize / 2**30:.3g} GiB) but the file "
                          f"stores only {_stored_part(data, stored, full)}; it is truncated "
                          "or damaged, re-create it")


def _stored_part(data: h5py.Dataset, stored: int, full: int) -> str:
    """What a dataset stores: bytes (contiguous) or chunks (chunked)."""
    if data.chunks is None:
        return f"{stored} of {full} bytes"
    return f"{stored} of its {full} chunks"


def _check_indptr(dset: h5py.Dataset, n_rows: int, path: Path) -> np.ndarray:
    """Read and validate ``indptr``: 1-D integers from 0 to ``n_rows``, non-decreasing."""
    if dset.ndim != 1 or dset.dtype.kind not in "iu" or dset.shape[0] < 1:
        raise FormatError(f"{path}: 'indptr' must be a non-empty 1-D integer array, got "
                          f"{dset.dtype} of shape {dset.shape}")
    indptr = dset[()].astype(np.int64)
    if indptr[0] != 0 or indptr[-1] != n_rows or np.any(np.diff(indptr) < 0):
        raise FormatError(f"{path}: 'indptr' must rise from 0 to the {n_rows} rows of "
                          f"'data' (got {indptr[0]} .. {indptr[-1]}, "
                          f"{'not ' if np.any(np.diff(indptr) < 0) else ''}monotone); "
                          "the file is inconsistent, re-create it")
    return indptr


def as_corpus(X: Any) -> Corpus:
    """A :class:`~hdpmusic.formats.corpus.Corpus` from a corpus or a list of per-song arrays.

    Parameters
    ----------
    X : Corpus or sequence of np.ndarray, each shape (n_j, d)

    Returns
    -------
    Corpus
        ``X`` itself, or an in-memory corpus of the arrays (ids ``"0"``, ``"1"``, ...).

    Raises
    ------
    DataError
        One 2-D array (ambiguous: one song or many?), a path (open it with
        :meth:`Corpus.open`), or an unsupported type.
    """
    if isinstance(X, Corpus):
        return X
    if isinstance(X, str | os.PathLike):
        raise DataError(f"{os.fspath(X)!r} is a path: open the corpus file first "
                        f"(hdpmusic.Corpus.open(path)) and pass that")
    if isinstance(X, np.ndarray) and X.ndim == 2:
        raise DataError("pass a list of per-song (n_frames, d) arrays or a Corpus, "
                        "not one 2-D array")
    if isinstance(X, Sequence | np.ndarray):
        return Corpus.from_arrays([np.asarray(x, dtype=np.float32) for x in X])
    raise DataError(f"cannot use {type(X).__name__} as a corpus")


def require_frames(corpus: Corpus, what: str) -> None:
    """Refuse a corpus holding songs without frames (files in the study's layout may).

    Parameters
    ----------
    corpus : Corpus
    what : str
        What cannot be computed, for the message (e.g. ``"G1 features"``).

    Raises
    ------
    DataError
        Naming (up to five of) the empty songs.
    """
    empty = np.flatnonzero(corpus.lengths == 0)
    if empty.size:
        ids = corpus.ids
        names = ", ".join(repr(ids[j]) for j in empty[:5].tolist())
        more = f" and {empty.size - 5} more" if empty.size > 5 else ""
        where = corpus.path or "in-memory corpus"
        raise DataError(f"{where}: {empty.size} song(s) have no frames: {names}{more}; "
                        f"{what} are undefined for them — leave them out with subset()")


def minibatch_indices(n_songs: int, batch_size: int, *, seed: int,
                      epoch: int) -> list[np.ndarray]:
    """One epoch's mini-batches of ``n_songs`` songs, reproducible from ``(seed, epoch)``
    (:meth:`Corpus.minibatch_indices` of a corpus of that length).

    Parameters
    ----------
    n_songs : int
    batch_size : int
    seed, epoch : int
        Non-negative; the permutation is drawn from ``default_rng([seed, epoch])``.

    Returns
    -------
    list of np.ndarray, each shape (<= batch_size,), int64
        A permutation of ``range(n_songs)`` split into batches (the last may be smaller).
    """
    if batch_size < 1:
        raise DataError(f"batch_size must be >= 1, got {batch_size}")
    if seed < 0 or epoch < 0:
        raise DataError(f"seed and epoch must be non-negative, got {seed}, {epoch}")
    perm = np.random.default_rng([seed, epoch]).permutation(n_songs)
    return [perm[i:i + batch_size] for i in range(0, len(perm), batch_size)]


#: names release 0.1 had here, now in :mod:`hdpmusic.formats.corpus_writer`
_MOVED = ("AUDIO_FILES", "FORMAT", "FORMAT_VERSION", "CorpusWriter")


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        warnings.warn(f"hdpmusic.formats.corpus.{name} moved to "
                      f"hdpmusic.formats.corpus_writer; the old path goes in the next release",
                      DeprecationWarning, stacklevel=2)
        return getattr(_writer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
