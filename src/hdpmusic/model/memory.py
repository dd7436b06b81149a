"""What an HDPGMM fit holds in memory: refused before it starts when a device cannot hold
it (:func:`check_memory`), and the corpus held on the GPU when it fits there
(:func:`hold_on_gpu`)."""

from __future__ import annotations

import logging
from typing import Any

import torch

from hdpmusic.model.optimisers import optimiser_for
from hdpmusic.runtime.devices import available_bytes, resolve_device
from hdpmusic.runtime.errors import ParameterError

__all__ = ["check_memory", "hold_on_gpu", "memory_needs"]

log = logging.getLogger(__name__)


def memory_needs(model: Any, corpus: Any) -> dict[torch.device, int]:
    """Bytes a fit on ``corpus`` holds at least, per device.

    From K, T, d and the batch: the statistics and global parameters, the larger of the
    initial assignments and one batch's local step, and the optimiser's own state
    (memoized: the per-batch statistics).

    Parameters
    ----------
    model : HDPGMM
        Its parameters (``n_components``, ``n_song_components``, ``batch_size``,
        ``dtype``, ``init_samples``, ``device``, ``algorithm``) are read.
    corpus : Corpus
        Non-empty.

    Returns
    -------
    dict of torch.device to int
    """
    K, T, d = model.n_components, model.n_song_components, corpus.dim
    songs = min(model.batch_size, len(corpus))
    frames = -(-corpus.n_frames * songs // len(corpus))
    item = 8 if model.dtype == "float64" else 4
    local = item * (frames * (K + T) + songs * T * K)
    init = 16 * min(model.init_samples, corpus.n_frames) * K
    needs = {resolve_device(model.device): 4 * 8 * K * (3 + d + d * d) + max(local, init)}
    for where, size in optimiser_for(model.algorithm)().memory_needs(model, corpus).items():
        needs[where] = needs.get(where, 0) + size
    return needs


def check_memory(model: Any, corpus: Any) -> None:
    """Refuse a fit whose arrays cannot fit in the memory available, before any is
    allocated (:func:`memory_needs`; an empty corpus is left to the fit to refuse).

    Raises
    ------
    ParameterError
        Naming the need, the memory available and what to lower.
    """
    if len(corpus) == 0:
        return
    for dev, need in memory_needs(model, corpus).items():
        free = available_bytes(dev)
        if free is not None and need > free:
            raise ParameterError(
                f"fitting K={model.n_components} components (T={model.n_song_components}) "
                f"on {corpus.dim}-d frames, {min(model.batch_size, len(corpus))} songs "
                f"per batch, needs about {need / 2**30:.3g} GiB on {dev}, which has "
                f"{free / 2**30:.3g} GiB available: lower n_components (--n-components) "
                "or batch_size (--batch-size)")


def hold_on_gpu(corpus: Any, device: torch.device, share: float = 0.5) -> Any:
    """The corpus moved to a CUDA device when its frames take under ``share`` of the free
    memory (batches are then sliced on the GPU); otherwise it streams from its storage."""
    if device.type != "cuda" or corpus.device is not None:
        return corpus
    need = corpus.n_frames * corpus.dim * 4
    if need > share * torch.cuda.mem_get_info(device)[0]:
        return corpus
    log.info("holding the corpus on %s (%.2f GiB)", device, need / 2**30)
    return corpus.to(device)
