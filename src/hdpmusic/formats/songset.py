"""A compact record of a set of song ids: which songs a model was fitted on.

A model whose vectors depend on the songs it was fitted on (HDPGMM, VQ) gives the songs
it saw sharper vectors than those it did not. A checkpoint records its songs with
:func:`encode_songs` (4 bytes a song: the sorted 32-bit BLAKE2b hashes of the ids,
base64 text for the JSON header), :func:`add_songs` extends such a set (a model fitted
batch by batch), and :func:`songs_in` tells, for any ids, which of them are in the set.
Two distinct ids share a hash with probability 2^−32, so of ``n`` unseen songs checked
against a set of ``m`` about ``n·m / 2^32`` are wrongly counted in (one in
4,300 for a million fitted songs): a share, not a proof, which is all
:mod:`hdpmusic.evaluation.fitted` needs.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable

import numpy as np

from hdpmusic.runtime.errors import FormatError

__all__ = ["add_songs", "encode_songs", "songs_in"]

_HASH = np.dtype("<u4")


def _hashes(ids: Iterable[str]) -> np.ndarray:
    """The 32-bit BLAKE2b hash of each id's UTF-8 text → uint32 (n,)."""
    digests = b"".join(hashlib.blake2b(str(i).encode(), digest_size=_HASH.itemsize).digest()
                       for i in ids)
    return np.frombuffer(digests, dtype=_HASH)


def encode_songs(ids: Iterable[str]) -> str:
    """The set of ``ids`` as text (base64 of their sorted unique 32-bit hashes).

    Parameters
    ----------
    ids : iterable of str

    Returns
    -------
    str
        4/3 characters per 8 bits: about 5.3 characters a song.
    """
    return _encode(np.unique(_hashes(ids)))


def add_songs(encoded: str, ids: Iterable[str]) -> str:
    """The set written by :func:`encode_songs` with ``ids`` added, as such text
    (parameters and errors as in :func:`songs_in`)."""
    return _encode(np.union1d(_decode(encoded), _hashes(ids)))


def songs_in(encoded: str, ids: Iterable[str]) -> np.ndarray:
    """Which of ``ids`` are in a set written by :func:`encode_songs`.

    Parameters
    ----------
    encoded : str
    ids : iterable of str

    Returns
    -------
    np.ndarray of bool, shape (n_ids,)

    Raises
    ------
    FormatError
        ``encoded`` is not such a record (a damaged file).
    """
    members = _decode(encoded)
    wanted = _hashes(ids)
    if members.size == 0:
        return np.zeros(wanted.shape, dtype=bool)
    at = np.minimum(np.searchsorted(members, wanted), members.size - 1)
    return members[at] == wanted


def _encode(hashes: np.ndarray) -> str:
    """Sorted unique hashes (m,) as the text :func:`encode_songs` writes."""
    return base64.b64encode(hashes.astype(_HASH).tobytes()).decode("ascii")


def _decode(encoded: str) -> np.ndarray:
    """The sorted hashes of a set written by :func:`encode_songs` → uint32 (m,)."""
    try:
        raw = base64.b64decode(encoded.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError, AttributeError):
        raw = b"\0"
    if len(raw) % _HASH.itemsize:
        raise FormatError("the record of a model's fitted songs is damaged (refit the model "
                          "to restore it)")
    return np.frombuffer(raw, dtype=_HASH)
