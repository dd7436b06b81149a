"""hdpmusic: music representations from a GPU-accelerated HDP Gaussian mixture model.

The public API is imported lazily so that ``import hdpmusic`` stays cheap (no torch,
no librosa) until a name is used.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import os
import sys
import warnings
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
    "FeatureConfig": "hdpmusic.audio.features",
    "extract_features": "hdpmusic.audio.features",
    "Corpus": "hdpmusic.formats.corpus",
    "Whitener": "hdpmusic.model.whitening",
    "HDPGMM": "hdpmusic.model.hdpgmm",
    "G1": "hdpmusic.baselines.g1",
    "VQCodebook": "hdpmusic.baselines.vq",
    "KIM": "hdpmusic.baselines.kim",
    "CLMR": "hdpmusic.baselines.clmr",
    "Representations": "hdpmusic.formats.representations",
    "HdpmusicError": "hdpmusic.runtime.errors",
}

#: where the modules of release 0.1's flat layout live now (``docs/design.md`` §2); the
#: old paths import the new modules, with a DeprecationWarning, until the next release
MOVED = {
    "errors": "runtime.errors", "progress": "runtime.progress", "workers": "runtime.workers",
    "threads": "runtime.threads", "devices": "runtime.devices",
    "atomic": "formats.atomic", "locking": "formats.locking", "filekind": "formats.filekind",
    "csvtext": "formats.csvtext", "corpus": "formats.corpus", "taskdata": "formats.taskdata",
    "checkpoint": "formats.checkpoint",
    "audioinfo": "audio.info", "features": "audio.features", "extract": "audio.extract",
    "whitening": "model.whitening", "synthetic": "datasets.synthetic",
    "demo_data": "datasets.demo_collection", "registry": "representations.registry",
    "embed": "pipeline.embed", "experiment": "pipeline.experiment",
    "interpret": "evaluation.interpretability", "demo": "pipeline.demo",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hdpmusic' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return __all__


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports ``hdpmusic.<old>`` as the module that now lives at :data:`MOVED`'s path."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        package, _, old = fullname.rpartition(".")
        if package != __name__ or old not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: Any) -> Any:
        new = f"{__name__}.{MOVED[spec.name.rpartition('.')[2]]}"
        warnings.warn(f"{spec.name} moved to {new}; the old path goes in the next release",
                      DeprecationWarning, stacklevel=2)
        return importlib.import_module(new)

    def exec_module(self, module: Any) -> None:
        """The module is the new one, already executed."""


if not any(isinstance(finder, _MovedModules) for finder in sys.meta_path):
    sys.meta_path.append(_MovedModules())
