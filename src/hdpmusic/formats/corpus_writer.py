"""Write a corpus file: songs streamed into HDF5, the file appearing only when complete.

The layout (``docs/design.md`` §3) is read by :class:`hdpmusic.formats.corpus.Corpus`:
``data`` (N, d) float32, every song's frames one after another, in chunks of about
1 MiB; ``indptr`` (J+1,) int64, the song boundaries; ``ids`` (J,) utf-8; where every
song's audio file is known, :data:`AUDIO_FILES` (J,); and JSON attributes, ``format``,
``format_version`` and ``dim`` (:data:`RESERVED_ATTRS`) besides the user's.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from hdpmusic.formats.atomic import atomic_path
from hdpmusic.runtime.errors import DataError, HdpmusicError

__all__ = ["AUDIO_FILES", "FORMAT", "FORMAT_VERSION", "RESERVED_ATTRS", "CorpusWriter",
           "corpus_bytes"]

FORMAT = "hdpmusic-corpus"
FORMAT_VERSION = 1
#: attributes every file carries, which a user may not set
RESERVED_ATTRS = ("format", "format_version", "dim")
#: The dataset of the songs' audio files (relative to the ``audio_root`` attribute)
AUDIO_FILES = "audio_files"
_FLUSH_ROWS = 1 << 16


def _default_chunk_rows(dim: int) -> int:
    """Rows per HDF5 chunk so that one chunk of float32 frames is about 1 MiB."""
    return max(256, (1 << 18) // max(dim, 1))


def corpus_bytes(n_frames: int, n_songs: int, dim: int) -> int:
    """About the size of a corpus file that :class:`CorpusWriter` writes (an upper bound).

    Parameters
    ----------
    n_frames, n_songs, dim : int
        Frames, songs and feature dimension of the corpus.

    Returns
    -------
    int
        Bytes: whole chunks of float32 frames, ``indptr``, ids (up to 256 bytes each)
        and 1 MiB of HDF5 metadata.
    """
    rows = _default_chunk_rows(dim)
    chunks = -(-max(n_frames, 1) // rows)
    return chunks * rows * dim * 4 + n_songs * (8 + 256) + (1 << 20)


def _encode_attrs(attrs: Mapping[str, Any], where: str) -> dict[str, str]:
    """JSON-encode every attribute value (one HDF5 string attribute per key)."""
    out = {}
    for key, value in attrs.items():
        try:
            out[str(key)] = json.dumps(value, default=_json_default)
        except (TypeError, ValueError) as err:
            raise HdpmusicError(
                f"{where}: attribute {key!r} is not JSON-serialisable ({err}); "
                "pass plain numbers, strings, lists or dicts") from None
    return out


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if hasattr(obj, "__dataclass_fields__"):
        import dataclasses

        return dataclasses.asdict(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


class CorpusWriter:
    """Stream songs into a new corpus file; the file appears only on success.

    Frames go to a temporary file beside ``path`` (chunked, resizable ``data`` float32,
    ``indptr`` int64, utf-8 ``ids``), which is renamed onto ``path`` when the ``with``
    block exits normally; on an exception it is removed and nothing is left.

    Parameters
    ----------
    path : path-like
        The corpus file to create.
    dim : int
        Feature dimension d; every song must have shape (n_j, d).
    attrs : dict, optional
        JSON-serialisable attributes stored with the file (``feature_config``, ``sr``,
        ``hop_length``, ``columns``, ...).
    overwrite : bool
        Replace an existing ``path``; otherwise an existing file is refused.
    compression : str, optional
        HDF5 filter for ``data`` (``"gzip"``, ``"lzf"``); None (default) reads fastest.

    Examples
    --------
    >>> with CorpusWriter("corpus.h5", 52, attrs={"sr": 22050}) as w:  # doctest: +SKIP
    ...     w.append("song-1", frames)
    """

    def __init__(self, path: str | os.PathLike, dim: int, *,
                 attrs: Mapping[str, Any] | None = None, overwrite: bool = False,
                 compression: str | None = None) -> None:
        self.path = Path(path)
        if int(dim) <= 0:
            raise DataError(f"{self.path}: dimension must be positive, got {dim}")
        self.dim = int(dim)
        user = dict(attrs or {})
        clash = sorted(set(user) & set(RESERVED_ATTRS))
        if clash:
            raise HdpmusicError(f"{self.path}: attributes {clash} are reserved; rename them")
        self._attrs = _encode_attrs(user, str(self.path))
        self.overwrite = overwrite
        self.compression = compression
        self._ids: list[str] = []
        self._audio: list[str | None] = []
        self._seen: set[str] = set()
        self._indptr: list[int] = [0]
        self._buffer: list[np.ndarray] = []
        self._buffered = 0
        self._file: h5py.File | None = None
        self._atomic: Any = None

    def __enter__(self) -> CorpusWriter:
        self._atomic = atomic_path(self.path, overwrite=self.overwrite)
        tmp = self._atomic.__enter__()
        try:
            self._file = h5py.File(tmp, "w")
            self._file.create_dataset(
                "data", shape=(0, self.dim), maxshape=(None, self.dim), dtype="f4",
                chunks=(_default_chunk_rows(self.dim), self.dim),
                compression=self.compression)
        except BaseException as err:
            self._abort(err)
            raise
        return self

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def n_frames(self) -> int:
        """Frames appended so far."""
        return self._indptr[-1]

    def append(self, song_id: str, frames: np.ndarray, *,
               audio_file: str | None = None) -> None:
        """Add one song.

        Parameters
        ----------
        song_id : str
            Unique song id.
        frames : np.ndarray, shape (n, d)
            The song's frames (cast to float32); n >= 1, all finite.
        audio_file : str, optional
            The song's audio file, relative to the folder of the ``audio_root``
            attribute; stored in :data:`AUDIO_FILES` when every song has one.
        """
        if self._file is None:
            raise HdpmusicError("CorpusWriter.append called outside its `with` block")
        song_id = str(song_id)
        frames = np.asarray(frames)
        if frames.ndim != 2 or frames.shape[1] != self.dim:
            raise DataError(f"{self.path}: song {song_id!r} has frames of shape "
                            f"{frames.shape}, expected (n, {self.dim})")
        if frames.shape[0] == 0:
            raise DataError(f"{self.path}: song {song_id!r} has no frames; skip it")
        if not np.isfinite(frames).all():
            raise DataError(f"{self.path}: song {song_id!r} has NaN/inf frames; "
                            "re-extract it or leave it out")
        if song_id in self._seen:
            raise DataError(f"{self.path}: song id {song_id!r} appended twice")
        self._seen.add(song_id)
        self._ids.append(song_id)
        self._audio.append(None if audio_file is None else str(audio_file))
        self._indptr.append(self._indptr[-1] + frames.shape[0])
        self._buffer.append(frames.astype(np.float32, copy=False))
        self._buffered += frames.shape[0]
        if self._buffered >= _FLUSH_ROWS:
            self._flush()

    def _flush(self) -> None:
        if not self._buffer:
            return
        block = np.concatenate(self._buffer) if len(self._buffer) > 1 else self._buffer[0]
        data = self._file["data"]
        start = data.shape[0]
        data.resize(start + block.shape[0], axis=0)
        data[start:] = block
        self._buffer.clear()
        self._buffered = 0

    def _finish(self) -> None:
        if not self._ids:
            raise DataError(f"{self.path}: no songs were appended; nothing to write")
        self._flush()
        f = self._file
        f.create_dataset("indptr", data=np.asarray(self._indptr, dtype=np.int64))
        f.create_dataset("ids", data=np.array(self._ids, dtype=object),
                         dtype=h5py.string_dtype("utf-8"))
        given = [a is not None for a in self._audio]
        if all(given):
            f.create_dataset(AUDIO_FILES, data=np.array(self._audio, dtype=object),
                             dtype=h5py.string_dtype("utf-8"))
        elif any(given):
            raise DataError(f"{self.path}: {given.count(False)} of {len(given)} songs were "
                            "appended without their audio file; give every song's or none")
        f.attrs.update(_encode_attrs(
            {"format": FORMAT, "format_version": FORMAT_VERSION, "dim": self.dim},
            str(self.path)))
        f.attrs.update(self._attrs)

    def _abort(self, err: BaseException) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._atomic.__exit__(type(err), err, err.__traceback__)

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> bool:
        if exc is not None:
            self._abort(exc)
            return False
        try:
            self._finish()
            self._file.close()
            self._file = None
        except BaseException as err:
            self._abort(err)
            raise
        self._atomic.__exit__(None, None, None)
        return False
