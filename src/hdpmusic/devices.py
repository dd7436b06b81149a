"""Helpers shared by the torch estimators: device resolution, frame inputs, song segments.

Kept free of model code so that HDPGMM, the frame baselines (G1, VQ) and evaluation can
all use the same rules: ``device="auto"`` means CUDA when present, else the CPU; a
frame model accepts a :class:`~hdpmusic.corpus.Corpus` or a list of per-song arrays; a
packed batch's per-song reductions use a frame → song index (no Python loop over songs).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hdpmusic.errors import DataError, ParameterError

if TYPE_CHECKING:
    import torch

    from hdpmusic.corpus import Corpus

__all__ = ["DEVICE_TYPES", "as_corpus", "compute_device", "require_frames", "resolve_device",
           "song_index"]

#: The torch device types hdpmusic computes on (others lack float64, or hold no data)
DEVICE_TYPES = ("cpu", "cuda")


def resolve_device(device: str | torch.device) -> torch.device:
    """The torch device for ``device``: ``"auto"`` picks CUDA when present, else the CPU.

    Parameters
    ----------
    device : str or torch.device
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...

    Returns
    -------
    torch.device

    Raises
    ------
    ParameterError
        An invalid device string, or a CUDA device that is not there.
    """
    import torch

    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ParameterError(f"invalid device {device!r}: {err}") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ParameterError(f"device {device!r} requested but CUDA is not available; "
                             "use device 'cpu' or 'auto'")
    if resolved.index is not None and resolved.index >= torch.cuda.device_count():
        raise ParameterError(f"device {device!r} requested but this machine has "
                             f"{torch.cuda.device_count()} CUDA device(s)")
    return resolved


def compute_device(device: str | torch.device) -> torch.device:
    """:func:`resolve_device`, refusing the device types no fit or transform runs on.

    The command line checks every ``--device`` with it before any work (``meta`` is
    still accepted by :func:`resolve_device` for torch's ``Module.to_empty`` idiom).

    Parameters
    ----------
    device : str or torch.device

    Returns
    -------
    torch.device

    Raises
    ------
    ParameterError
        As :func:`resolve_device`, or a type outside :data:`DEVICE_TYPES` (``mps``
        lacks float64; ``meta`` holds no data, so a model fitted there is empty).
    """
    resolved = resolve_device(device)
    if resolved.type not in DEVICE_TYPES:
        raise ParameterError(f"device {str(device)!r} is not supported: hdpmusic computes "
                             "on 'cpu' or 'cuda' ('cuda:N'); use --device cpu, cuda or auto")
    return resolved


def as_corpus(X: Any) -> Corpus:
    """A :class:`~hdpmusic.corpus.Corpus` from a corpus or a list of per-song arrays.

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
        One 2-D array (ambiguous: one song or many?) or an unsupported type.
    """
    from hdpmusic.corpus import Corpus

    if isinstance(X, Corpus):
        return X
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


def song_index(lengths: np.ndarray | torch.Tensor, device: torch.device,
               total: int | None = None) -> torch.Tensor:
    """Song position of every frame of a packed batch.

    Parameters
    ----------
    lengths : np.ndarray or torch.Tensor, shape (B,), int
        Frames per song.
    device : torch.device
    total : int, optional
        Σ lengths when known (spares a device-to-host sync on CUDA).

    Returns
    -------
    torch.Tensor, shape (Σ lengths,), int64
        ``[0]*lengths[0] + [1]*lengths[1] + ...`` on ``device``.
    """
    import torch

    lengths = torch.as_tensor(lengths, device=device)
    return torch.repeat_interleave(torch.arange(len(lengths), device=device), lengths,
                                   output_size=total)
