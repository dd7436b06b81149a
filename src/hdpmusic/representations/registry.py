"""Model names known to the CLI, and how to load each one lazily.

A model class provides ``fit``, ``transform``, ``save`` and the classmethod ``load``;
its checkpoint header's ``model`` field is the name used here. Frame models take a
:class:`~hdpmusic.formats.corpus.Corpus` (or a list of per-song frame arrays); audio models
take a list of audio file paths.
"""

from __future__ import annotations

import importlib
import inspect
import os
from dataclasses import dataclass
from typing import Any, Literal

from hdpmusic.formats.checkpoint import read_header
from hdpmusic.runtime.errors import ParameterError

Input = Literal["frames", "audio"]


@dataclass(frozen=True)
class Entry:
    """How the registry knows a model.

    Attributes
    ----------
    module, cls : str
        Where its class lives (imported only when the model is asked for).
    input : {"frames", "audio"}
        What ``fit`` and ``transform`` take: a Corpus, or the songs' audio file paths.
    label : str
        Its name in tables and figures.
    learns : bool
        Whether a song's vector depends on the songs the model was fitted on (a song it
        saw may come out differently from one it did not); False for G1, a closed form
        of each song's own frames.
    """

    module: str
    cls: str
    input: Input
    label: str
    learns: bool = True


#: name (the checkpoint header's ``model`` field) -> entry; the one place model names live
MODELS: dict[str, Entry] = {
    "hdpgmm": Entry("hdpmusic.model.hdpgmm", "HDPGMM", "frames", "HDPGMM"),
    "g1": Entry("hdpmusic.baselines.g1", "G1", "frames", "G1", learns=False),
    "vq": Entry("hdpmusic.baselines.vq", "VQCodebook", "frames", "VQ"),
    "kim": Entry("hdpmusic.baselines.kim", "KIM", "audio", "KIM"),
    "clmr": Entry("hdpmusic.baselines.clmr", "CLMR", "audio", "CLMR"),
}


def known_models() -> str:
    """The registered names for messages and help: ``"hdpgmm, g1, vq, kim or clmr"``."""
    names = list(MODELS)
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]


def _entry(name: str) -> Entry:
    try:
        return MODELS[name]
    except KeyError:
        raise ParameterError(f"unknown model {name!r}; known: {known_models()}") from None


def model_class(name: str) -> Any:
    """The class registered under ``name`` (its module is imported now).

    Raises
    ------
    ParameterError
        An unknown name, or a model whose module cannot be imported (e.g. a missing
        optional dependency).
    """
    entry = _entry(name)
    try:
        return getattr(importlib.import_module(entry.module), entry.cls)
    except (ImportError, AttributeError) as err:
        raise ParameterError(f"model {name!r} is not available in this installation "
                             f"({type(err).__name__}: {err})") from None


def model_input(name: str) -> Input:
    """``"frames"`` or ``"audio"`` (checks the name, imports nothing)."""
    return _entry(name).input


def model_learns(name: str) -> bool:
    """Whether a song's vector depends on the songs the model was fitted on (:class:`Entry`)."""
    return _entry(name).learns


def load_model(path: str | os.PathLike, *, device: str | None = None) -> tuple[str, Any]:
    """Load any fitted model from its checkpoint file, whatever its kind.

    Parameters
    ----------
    path : path-like
        A model file written by ``save`` (``hdpmusic fit``).
    device : str, optional
        Overrides the saved device (``"cpu"``, ``"cuda"``, ``"auto"``, ...).

    Returns
    -------
    name : str
        The registry name from the checkpoint header (``"hdpgmm"``, ``"g1"``, ...).
    model : object
        The loaded estimator.

    Raises
    ------
    ParameterError
        An unknown or unavailable model, or ``device`` for a model that has none.
    FormatError
        Not a checkpoint file (see :mod:`hdpmusic.formats.checkpoint`).
    """

    name = read_header(path)["model"]
    cls = model_class(name)
    if device is None:
        return name, cls.load(path)
    if "device" not in inspect.signature(cls.load).parameters:
        raise ParameterError(f"--device does not apply to {name} models")
    return name, cls.load(path, device=device)


def representation_attrs(name: str, model: Any, options: dict[str, Any]) -> dict[str, Any]:
    """What a representation file records of a model's ``transform(data, **options)``:
    ``model`` (the registry name), and the model's ``transform_attrs(**options)`` where it
    has one (HDPGMM: ``kind``, ``log`` resolved, ``components`` kept, ``min_weight``),
    else the ``kind`` and ``log`` options given."""
    describe = getattr(model, "transform_attrs", None)
    if describe is not None:
        return {"model": name, **describe(**options)}
    return {"model": name, **{k: options[k] for k in ("kind", "log") if k in options}}
