"""Song representations from a fitted model, and the one writer of representation files.

``hdpmusic transform``, ``hdpmusic embed``, :mod:`hdpmusic.pipeline.experiment` and the
demo all choose a model's ``transform`` options with :func:`transform_options`, compute a
corpus's representations with :func:`transform_corpus` (``embed`` computes its frames
from audio instead) and write them with :func:`write_representations`, which records
what the model and its options give (:func:`hdpmusic.representations.registry.
representation_attrs`).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hdpmusic.audio.features import check_feature_config
from hdpmusic.audio.provenance import check_feature_libraries
from hdpmusic.formats.checkpoint import fitted_songs
from hdpmusic.formats.corpus import Corpus
from hdpmusic.formats.representations import Representations
from hdpmusic.pipeline.fit import training_data
from hdpmusic.representations.registry import (
    model_input,
    model_learns,
    representation_attrs,
)
from hdpmusic.runtime.errors import ParameterError

__all__ = ["transform_corpus", "transform_options", "write_representations"]


def transform_options(name: str, model: Any, *, kind: str | None = None,
                      log: bool | None = None, min_weight: float | None = None,
                      batch_size: int | None = None) -> dict[str, Any]:
    """The keyword arguments of ``model.transform``, refusing those it does not take.

    ``kind`` and ``log`` are always passed to a model that takes them, at the model's
    default when not given, so that the representation file records them; ``min_weight``
    and ``batch_size`` only when given.

    Parameters
    ----------
    name : str
        Registry name (for the messages).
    model : object or type
        The model or its class (only the signature of ``transform`` is read).
    kind : str, optional
        HDPGMM representation kind (default: ``transform``'s,
        :data:`hdpmusic.model.kinds.EMBED_KIND`).
    log : bool, optional
        Log the share kinds and VQ's histogram (default: the model's).
    min_weight : float, optional
        HDPGMM: keep only components of at least this corpus weight.
    batch_size : int, optional
        Songs per batch.

    Returns
    -------
    dict

    Raises
    ------
    ParameterError
        An option given for a model that does not take it.
    """
    accepted = inspect.signature(model.transform).parameters
    given = {"kind": kind, "log": log, "min_weight": min_weight, "batch_size": batch_size}
    options: dict[str, Any] = {}
    for option, value in given.items():
        if option not in accepted:
            if value is not None:
                flag = ("--no-log" if value is False else "log=True") if option == "log" \
                    else "--" + option.replace("_", "-")
                raise ParameterError(f"{flag} does not apply to {name} models")
        elif value is not None:
            options[option] = value
        elif option in ("kind", "log"):
            options[option] = accepted[option].default
    return options


def transform_corpus(name: str, model: Any, corpus: Corpus, *,
                     options: Mapping[str, Any] | None = None,
                     audio_root: str | os.PathLike | None = None,
                     model_path: str | os.PathLike = "the model") -> np.ndarray:
    """Representations of the songs of a corpus (an audio model reads their audio files).

    Parameters
    ----------
    name : str
        Registry name.
    model : object
        The fitted model.
    corpus : Corpus
    options : mapping, optional
        Keyword arguments of ``model.transform`` (:func:`transform_options`).
    audio_root : path-like, optional
        Audio models: see :func:`hdpmusic.pipeline.fit.training_data`.
    model_path : path-like
        The model file, for the message when the corpus's feature settings differ from
        those of the model's training corpus (an error) or its library versions do (a
        warning, :func:`hdpmusic.audio.provenance.check_feature_libraries`).

    Returns
    -------
    np.ndarray, shape (n_songs, n_dims)

    Raises
    ------
    DataError
        Frames made with other feature settings than the model's.
    """
    data = training_data(name, corpus, audio_root)
    if model_input(name) == "frames":
        data_name = str(corpus.path or "the corpus")
        check_feature_config(model, corpus.attrs.get("feature_config"),
                             model_path=model_path, data=data_name)
        check_feature_libraries(model, corpus.attrs.get("feature_libraries"),
                                model_path=model_path, data=data_name)
    return model.transform(data, **dict(options or {}))


def write_representations(out: str | os.PathLike, ids: Sequence[str], X: np.ndarray, *,
                          name: str, model: Any, options: Mapping[str, Any],
                          source: str | os.PathLike,
                          attrs: Mapping[str, Any] | None = None,
                          overwrite: bool = False) -> Path:
    """Write a representation file recording the model and options that made it, and
    which of its songs the model was fitted on (where the model records its songs and
    its vectors depend on them: :func:`~hdpmusic.representations.registry.model_learns`).

    Parameters
    ----------
    out : path-like
    ids : sequence of str, length n_songs
    X : np.ndarray, shape (n_songs, n_dims)
    name : str
        Registry name of the model.
    model : object
        The fitted model.
    options : mapping
        The ``transform`` options used.
    source : path-like
        The model file (recorded as ``source``).
    attrs : mapping, optional
        Further attributes, e.g. ``corpus`` (the corpus file) or ``audio_root``.
    overwrite : bool, default=False
        Replace an existing file.

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    recorded = {**representation_attrs(name, model, dict(options)),
                "source": os.fspath(source), **dict(attrs or {})}
    fitted = fitted_songs(model, list(ids)) if model_learns(name) else None
    Representations(list(ids), X, recorded, fitted).save(out, overwrite=overwrite)
    return Path(out)
