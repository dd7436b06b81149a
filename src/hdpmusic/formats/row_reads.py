"""How a corpus's frames are read: few large contiguous reads, from HDF5 or an array.

A batch of songs, or a sample of frames, is a set of row segments of the ``data`` array;
:func:`plan_runs` merges them into few runs in file order (reading through short gaps),
:func:`split_runs` bounds a run's rows, :func:`contiguous_pieces` joins segments that
follow each other in both the file and the output, and :func:`consecutive_groups` cuts a
song order into groups of bounded frames. :class:`H5Store` (an HDF5 file, opened lazily
and again after a fork) and :class:`ArrayStore` (a numpy array or torch tensor) serve the
rows.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from hdpmusic.runtime.errors import FormatError

__all__ = ["ArrayStore", "H5Store", "consecutive_groups", "contiguous_pieces", "plan_runs",
           "segment_rows", "split_runs"]


def segment_rows(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Row indices of the concatenated segments ``[starts[b], starts[b] + lengths[b])``.

    Parameters
    ----------
    starts, lengths : np.ndarray, shape (B,), int64

    Returns
    -------
    np.ndarray, shape (sum(lengths),), int64
    """
    offsets = np.concatenate(([0], np.cumsum(lengths)))
    return np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1], dtype=np.int64)


def plan_runs(starts: np.ndarray, stops: np.ndarray,
               max_gap: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge row segments into few contiguous runs to read.

    Segments are sorted by start; a segment joins the current run when it begins at most
    ``max_gap`` rows after the run's end (overlaps and duplicates are fine).

    Parameters
    ----------
    starts, stops : np.ndarray, shape (B,), int64
        Segment b is rows ``[starts[b], stops[b])`` of the file.
    max_gap : int
        Unrequested rows that may be read through to join two segments.

    Returns
    -------
    run_starts, run_stops : np.ndarray, shape (R,), int64
        The runs, in file order.
    positions : np.ndarray, shape (B,), int64
        Where segment b begins in the concatenation of the runs.
    """
    order = np.argsort(starts, kind="stable")
    s, e = starts[order], stops[order]
    reach = np.maximum.accumulate(e)
    new_run = np.ones(len(s), dtype=bool)
    new_run[1:] = s[1:] > reach[:-1] + max_gap
    first = np.flatnonzero(new_run)
    run_of = np.cumsum(new_run) - 1
    run_starts = s[first]
    run_stops = np.maximum.reduceat(e, first)
    run_offsets = np.concatenate(([0], np.cumsum(run_stops - run_starts)[:-1]))
    positions = np.empty(len(s), dtype=np.int64)
    positions[order] = run_offsets[run_of] + (s - run_starts[run_of])
    return run_starts, run_stops, positions


def contiguous_pieces(starts: np.ndarray, lengths: np.ndarray,
                       dest: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Join segments that follow each other both in the file and in the output.

    Parameters
    ----------
    starts, lengths, dest : np.ndarray, shape (B,), int64
        Segment b copies file rows ``[starts[b], starts[b] + lengths[b])`` to output rows
        from ``dest[b]``.

    Returns
    -------
    starts, lengths, dest : np.ndarray, shape (P,), int64
        The same copy as P <= B pieces, in file order.
    """
    order = np.argsort(starts, kind="stable")
    s, n, d = starts[order], lengths[order], dest[order]
    joins = np.zeros(len(s), dtype=bool)
    joins[1:] = (s[1:] == s[:-1] + n[:-1]) & (d[1:] == d[:-1] + n[:-1])
    first = np.flatnonzero(~joins)
    return s[first], np.add.reduceat(n, first) if len(s) else n, d[first]


def split_runs(run_starts: np.ndarray, run_stops: np.ndarray,
                max_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Cut runs longer than ``max_rows`` into consecutive pieces (same rows, same order)."""
    pieces = np.maximum(1, -(-(run_stops - run_starts) // max_rows))
    starts = np.repeat(run_starts, pieces)
    first = np.concatenate(([0], np.cumsum(pieces)[:-1]))
    starts += (np.arange(len(starts)) - np.repeat(first, pieces)) * max_rows
    stops = np.minimum(starts + max_rows, np.repeat(run_stops, pieces))
    return starts, stops


def consecutive_groups(order: np.ndarray, lengths: np.ndarray,
                        max_frames: int) -> Iterator[np.ndarray]:
    """Split ``order`` into consecutive groups of songs holding at most ``max_frames`` frames
    each (a longer song forms a group of its own)."""
    ends = np.cumsum(lengths[order])
    start, done = 0, 0
    while start < len(order):
        stop = max(start + 1, int(np.searchsorted(ends, done + max_frames, side="right")))
        yield order[start:stop]
        done = int(ends[stop - 1])
        start = stop


class H5Store:
    """Frames in an HDF5 file, opened lazily (and again after a fork or unpickling)."""

    def __init__(self, path: Path, cache_bytes: int) -> None:
        self.path = path
        self.cache_bytes = cache_bytes
        self._file: h5py.File | None = None
        self._pid = -1
        self._lock = threading.Lock()

    @property
    def data(self) -> h5py.Dataset:
        with self._lock:
            if self._file is None or self._pid != os.getpid():
                self._file = h5py.File(self.path, "r", rdcc_nbytes=self.cache_bytes)
                self._pid = os.getpid()
            return self._file["data"]

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "cache_bytes": self.cache_bytes}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], state["cache_bytes"])

    def _read_error(self, err: OSError) -> FormatError:
        return FormatError(f"{self.path}: cannot read frames ({err}); the file is corrupt "
                           "or truncated, re-create it")

    def read_into(self, out: np.ndarray, starts: np.ndarray, lengths: np.ndarray,
                  dest: np.ndarray) -> None:
        """Copy file rows ``[starts[b], starts[b] + lengths[b])`` to ``out[dest[b]:]``,
        in file order, one read per piece that is contiguous in both."""
        data = self.data
        pieces = zip(*(a.tolist() for a in contiguous_pieces(starts, lengths, dest)),
                     strict=True)
        try:
            for a, n, d in pieces:
                if n:
                    data.read_direct(out, np.s_[a:a + n], np.s_[d:d + n])
        except OSError as err:
            raise self._read_error(err) from None

    def read_runs(self, run_starts: np.ndarray, run_stops: np.ndarray) -> np.ndarray:
        """The concatenation of rows ``[run_starts[r], run_stops[r])``, float32 (n, d)."""
        data = self.data
        out = np.empty((int(np.sum(run_stops - run_starts)), data.shape[1]), np.float32)
        pos = 0
        try:
            for a, b in zip(run_starts.tolist(), run_stops.tolist(), strict=True):
                if b > a:
                    data.read_direct(out, np.s_[a:b], np.s_[pos:pos + b - a])
                pos += b - a
        except OSError as err:
            raise self._read_error(err) from None
        return out


class ArrayStore:
    """Frames in one host array (numpy) or device tensor (torch)."""

    def __init__(self, data: Any) -> None:
        self.data = data

    def read_runs(self, run_starts: np.ndarray, run_stops: np.ndarray) -> np.ndarray:
        rows = segment_rows(run_starts, run_stops - run_starts)
        if isinstance(self.data, np.ndarray):
            return self.data[rows].astype(np.float32, copy=False)
        import torch

        idx = torch.from_numpy(rows).to(self.data.device)
        return self.data.index_select(0, idx).to("cpu", torch.float32).numpy()
