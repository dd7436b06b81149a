"""hdpmusic: music representations from a GPU-accelerated HDP Gaussian mixture model.

The public API is imported lazily so that ``import hdpmusic`` stays cheap (no torch,
no librosa) until a name is used.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

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
