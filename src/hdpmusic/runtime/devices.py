"""Helpers shared by the torch estimators: device resolution, free memory, song segments.

Kept free of model code so that HDPGMM, the frame baselines (G1, VQ) and evaluation can
all use the same rules: ``device="auto"`` means CUDA when present, else the CPU; what may
be held on a device is read from its free memory (:func:`available_bytes`); a packed
batch's per-song reductions use a frame → song index (no Python loop over songs).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from hdpmusic.runtime.errors import ParameterError

if TYPE_CHECKING:
    import torch

__all__ = ["DEVICE_TYPES", "available_bytes", "compute_device", "resolve_device", "song_index"]

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


def available_bytes(device: torch.device) -> int | None:
    """Free memory on ``device`` in bytes (None when it cannot be told).

    Parameters
    ----------
    device : torch.device
        ``cuda`` (the driver's free memory) or ``cpu`` (``MemAvailable`` of
        ``/proc/meminfo``, else the available physical pages).

    Returns
    -------
    int or None
    """
    import torch

    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    if device.type == "cpu":
        try:
            with open("/proc/meminfo") as fh:
                for line in fh:
                    if line.startswith("MemAvailable:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        try:
            return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return None
    return None
