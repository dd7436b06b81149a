"""Data parallelism over processes with :mod:`torch.distributed`.

Every rank holds the same global parameters. For each global mini-batch a rank runs the
local step on its own disjoint shard of the songs; one ``all_reduce`` (sum) of a flat
float64 buffer — sufficient statistics, local bounds and counters — gives every rank the
same batch statistics, so every rank applies the identical global update. Launch with
``torchrun --nproc-per-node N -m hdpmusic fit ...`` (NCCL on GPUs, gloo on CPUs).
"""

from __future__ import annotations

import datetime
import os

import numpy as np
import torch
from torch import Tensor

from hdpmusic.runtime.errors import HdpmusicError

#: seconds a collective may wait for a peer before the run fails (instead of hanging)
DEFAULT_TIMEOUT_S = 600


def world() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) without an initialised process group."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def init_from_env(device: str = "auto", timeout_s: float = DEFAULT_TIMEOUT_S) -> str:
    """Join the process group described by torchrun's environment, if any.

    Parameters
    ----------
    device : str
        The requested device; ``"auto"``/``"cuda"`` become ``cuda:<LOCAL_RANK>`` on GPUs.
    timeout_s : float
        Collective timeout: a dead or stuck peer fails the run after this long.

    Returns
    -------
    str
        The device this rank should use.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or torch.distributed.is_initialized():
        return device
    local = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and device in ("auto", "cuda")
    backend = "nccl" if use_cuda else "gloo"
    if use_cuda:
        device = f"cuda:{local}"
        torch.cuda.set_device(local)
    elif device == "auto":
        device = "cpu"
    torch.distributed.init_process_group(
        backend=backend, timeout=datetime.timedelta(seconds=timeout_s))
    return device


def shard(indices: np.ndarray, rank: int, size: int) -> np.ndarray:
    """This rank's disjoint share of a global mini-batch (contiguous, balanced)."""
    return np.array_split(np.asarray(indices), size)[rank]


def all_reduce_sum(buffer: Tensor) -> Tensor:
    """Sum ``buffer`` over ranks in place; a failed or timed-out peer raises clearly."""
    rank, size = world()
    if size == 1:
        return buffer
    try:
        torch.distributed.all_reduce(buffer)
    except Exception as err:  # DistBackendError, RuntimeError from gloo/NCCL
        raise HdpmusicError(
            f"rank {rank} of {size}: a peer process died or timed out during all_reduce "
            f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}); "
            "the run stops here — resume it from the last checkpoint") from err
    return buffer
