"""hdpmusic: music representations from a GPU-accelerated HDP Gaussian mixture model.

The public API is imported lazily so that ``import hdpmusic`` stays cheap (no torch,
no librosa) until a name is used.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

__version__ = "0.1.0"

# OpenMP threads that spin at barriers waiting for descheduled peers make the many small
# parallel regions of the local step many times slower on a busy machine (a K 64 fit on
# 2 cores at load 10: 189 s spinning, 11.5 s passive). Sleeping waiters cost time on an
# idle machine (benchmarks/bench_contention.py, one run on 2 idle cores: 12.7 s passive vs
# 8.4 s spinning; beside one busy neighbour 14.4 s vs 22.0 s), so a user of a dedicated
# machine may set OMP_WAIT_POLICY=ACTIVE. Read by the OpenMP runtime when torch loads it,
# so it is set before any hdpmusic module imports torch; a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

_EXPORTS = {
    "FeatureConfig": "hdpmusic.features",
    "extract_features": "hdpmusic.features",
    "Corpus": "hdpmusic.corpus",
    "Whitener": "hdpmusic.whitening",
    "HDPGMM": "hdpmusic.model.hdpgmm",
    "G1": "hdpmusic.baselines.g1",
    "VQCodebook": "hdpmusic.baselines.vq",
    "KIM": "hdpmusic.baselines.kim",
    "CLMR": "hdpmusic.baselines.clmr",
    "Representations": "hdpmusic.representations",
    "HdpmusicError": "hdpmusic.errors",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hdpmusic' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return __all__
