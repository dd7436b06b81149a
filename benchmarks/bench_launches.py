"""Kernel launches and host syncs of an HDPGMM fit, per pass and by phase; one JSON line.

On a GPU a small fit is bound by its launches, not its arithmetic: each PyTorch operation
costs the host some microseconds to issue whatever its size, and each device-to-host read
(``.item()``, ``int(t)``, ``.tolist()``, ``.numpy()``, ``nonzero``) stalls the host until
the device has caught up (issue 20, goal 3: the planted benchmark on a GPU no slower than
on 16 CPU cores). Both are properties of the code, not of the device, so they are counted
here on any device, the CPU included, by PyTorch's dispatch and function modes:

* ``kernels``: dispatched operations that compute (views and aliases left out: they
  launch nothing);
* ``syncs``: device-to-host reads: ``_local_scalar_dense`` (``item``, ``int``, ``float``,
  ``bool``), operations whose output size depends on the data (``nonzero``, ``unique``,
  ``masked_select``, ``equal``), and ``tolist`` / ``numpy`` / ``__array__``.

Each is attributed to the phase it runs in: ``local_iterations`` (the song-level
coordinate ascent), ``batch_step`` (the rest of a batch: E_q[log p], statistics, song
terms), ``end_of_pass`` (moves, the ELBO, stopping) and ``other``. The fit is the planted
benchmark's (``bench_convergence.py``'s 300 training songs, K 64, T 16, batch 100, η0 0,
memoized with moves, to convergence) unless told otherwise; ``local_iter_per_song`` is the
mean number of local iterations a song needed.

    python benchmarks/bench_launches.py [--algorithm online] [--device cpu]
        [--as-device cuda]    # counted as a GPU would run it (its buckets, its Φ chunks)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from hdpmusic import HDPGMM
from hdpmusic.datasets.synthetic import planted_hdp
from hdpmusic.model import expectations as ex
from hdpmusic.model import hdpgmm

#: innermost function of the fit → its phase (the first one found up the stack wins)
PHASES = {"local_step": "local_iterations", "infer_batch": "batch_step",
          "_end_pass": "end_of_pass"}
SYNC_OPS = ("aten::_local_scalar_dense", "aten::nonzero", "aten::unique", "aten::_unique",
            "aten::masked_select", "aten::equal")
HOST_READS = ("tolist", "numpy", "__array__")


def phase() -> str:
    """The phase the operation being counted runs in: the first function of
    :data:`PHASES` up the stack from the counting mode's caller, else ``"other"``."""
    frame = sys._getframe(2)
    while frame is not None:
        name = PHASES.get(frame.f_code.co_name)
        if name is not None:
            return name
        frame = frame.f_back
    return "other"


class Counts(TorchDispatchMode):
    """Kernels and data-dependent syncs by phase."""

    def __init__(self) -> None:
        super().__init__()
        self.kernels: Counter[str] = Counter()
        self.syncs: Counter[str] = Counter()
        self.ops: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if not func.is_view:
            where = phase()
            self.kernels[where] += 1
            self.ops[func.name()] += 1
            if func.name().startswith(SYNC_OPS):
                self.syncs[where] += 1
        return func(*args, **(kwargs or {}))


class HostReads(TorchFunctionMode):
    """``tolist`` / ``numpy`` / ``__array__`` of tensors, by phase (no dispatch of their own)."""

    def __init__(self, into: Counter[str]) -> None:
        super().__init__()
        self.into = into

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") in HOST_READS:
            self.into[phase()] += 1
        return func(*args, **(kwargs or {}))


@contextmanager
def choices_as(device: str | None) -> Iterator[None]:
    """The fit's device-dependent choices (its length buckets' ``min_bucket_frames``
    and the rows of Φ(x) built at a time) made as on ``device``, wherever it runs."""
    if device is None:
        yield
        return
    dev = torch.device(device)
    rows, min_frames = ex.feature_chunk_rows, hdpgmm.min_bucket_frames
    with (mock.patch.object(ex, "feature_chunk_rows", lambda _: rows(dev)),
          mock.patch.object(hdpgmm, "min_bucket_frames", lambda _, k: min_frames(dev, k))):
        yield


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--algorithm", choices=["memoized", "online"], default="memoized")
    parser.add_argument("--max-epochs", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--as-device", default=None,
                        help="make the fit's device-dependent choices as on this device, "
                             "e.g. cuda (default: the fit's own device)")
    parser.add_argument("--top", type=int, default=8, help="most frequent operations listed")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    train = planted_hdp(seed=0, songs=400).songs[:300]     # as bench_convergence.py
    model = HDPGMM(n_components=64, n_song_components=16, batch_size=100, eta0=0.0,
                   algorithm=args.algorithm, max_epochs=args.max_epochs, device=args.device,
                   verbose=False, random_state=0)
    counts = Counts()
    t0 = time.perf_counter()
    with counts, HostReads(counts.syncs), choices_as(args.as_device):
        model.fit(train)
    seconds = time.perf_counter() - t0
    passes = len(model.passes_)
    per_pass = {"kernels": {k: round(v / passes) for k, v in counts.kernels.most_common()},
                "syncs": {k: round(v / passes, 1) for k, v in counts.syncs.most_common()}}
    print(json.dumps({
        "device": args.device, "algorithm": args.algorithm,
        "as_device": args.as_device or args.device, "passes": passes,
        "batches_per_pass": len(model.history_) / passes,
        "local_iter_per_song": round(sum(h["local_iter"] for h in model.history_)
                                     / len(model.history_), 2),
        "kernels_per_pass": round(sum(counts.kernels.values()) / passes),
        "syncs_per_pass": round(sum(counts.syncs.values()) / passes, 1),
        "by_phase_per_pass": per_pass,
        "top_ops_per_pass": {k: round(v / passes) for k, v in counts.ops.most_common(args.top)},
        "seconds_counted": round(seconds, 1)}))


if __name__ == "__main__":
    main()
