"""Model names known to the CLI, and how to load each one lazily.

A model class provides ``fit``, ``transform``, ``save`` and the classmethod ``load``;
its checkpoint header's ``model`` field is the name used here.
"""

from __future__ import annotations

import importlib
from typing import Any

from hdpmusic.errors import ParameterError

#: name -> (module, class, what fit/transform take: "frames" = a Corpus, "audio" = paths)
MODELS: dict[str, tuple[str, str, str]] = {
    "hdpgmm": ("hdpmusic.model.hdpgmm", "HDPGMM", "frames"),
}


def model_class(name: str) -> Any:
    """The class registered under ``name``."""
    try:
        module, cls, _ = MODELS[name]
    except KeyError:
        known = ", ".join(sorted(MODELS))
        raise ParameterError(f"unknown model {name!r}; known: {known}") from None
    return getattr(importlib.import_module(module), cls)


def model_input(name: str) -> str:
    """``"frames"`` or ``"audio"``."""
    model_class(name)
    return MODELS[name][2]
