"""One checkpoint file format for every model: a JSON header plus named tensors.

The file is written with :func:`torch.save` and read with ``weights_only=True`` (no
pickle code runs on load). The header records the format, the model name, the model's
own version, its hyper-parameters and any JSON-able training state, so that loading can
refuse a file of another model or version with a clear message, and so that
``hdpmusic transform`` can tell which model a checkpoint holds without importing it.

A frame model (HDPGMM, G1, VQ) also records what it knows of the corpus it was fitted
on, in one header field shared by every model (:func:`describe_corpus`,
:func:`corpus_header`, :func:`restore_corpus`): the feature settings, which
``transform`` and ``embed`` check
(:func:`hdpmusic.audio.features.check_feature_config`), a fingerprint of the frames,
which ``fit --resume`` checks, and the songs (:func:`fitted_songs`), which ``transform``
marks in the representation file for ``evaluate`` to check.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hdpmusic.formats.atomic import atomic_path
from hdpmusic.formats.filekind import CHECKPOINT_FORMAT, describe, require_file
from hdpmusic.formats.songset import add_songs, encode_songs, songs_in
from hdpmusic.runtime.errors import DataError, FormatError

FORMAT = CHECKPOINT_FORMAT
#: header field (and model attribute ``fitted_corpus_``) describing the training corpus
CORPUS_FIELD = "fitted_corpus"


def save_checkpoint(path: str | os.PathLike, *, model: str, version: int,
                    header: Mapping[str, Any], tensors: Mapping[str, Any]) -> None:
    """Write a checkpoint atomically.

    Parameters
    ----------
    path : path-like
    model : str
        Registry name of the model (``"hdpgmm"``, ``"g1"``, ``"vq"``, ...).
    version : int
        The model's checkpoint version; bump it when the tensors' meaning changes.
    header : mapping
        JSON-serialisable hyper-parameters and state.
    tensors : mapping of str to torch.Tensor or np.ndarray
    """
    import torch

    head = {"format": FORMAT, "model": model, "version": int(version), **header}
    payload = {
        "header": json.dumps(head, default=_json_default),
        "tensors": {k: torch.as_tensor(np.asarray(v) if not torch.is_tensor(v) else v)
                    .detach().cpu().contiguous() for k, v in tensors.items()},
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: str | os.PathLike, *, model: str | None = None,
                    version: int | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read a checkpoint; check its model name and version.

    Returns
    -------
    header : dict
        Looking up a field the file lacks (at any depth) raises :class:`FormatError`
        naming the file and the field, not ``KeyError``.
    tensors : dict of str to torch.Tensor (on the CPU)
        Likewise for a missing tensor.

    Raises
    ------
    HdpmusicError
        The file does not exist.
    FormatError
        Not an hdpmusic checkpoint (the message says what the file is instead), or a
        checkpoint of another model or version.
    """
    import torch


    require_file(path, "model file", "give the model file written by `hdpmusic fit`")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        header = json.loads(payload["header"], object_hook=lambda d: _Fields(path, d))
        tensors = _Fields(path, payload["tensors"], "tensor")
    except Exception as err:  # corrupt or foreign file: say what it is instead
        # (never repeat torch's advice to load with weights_only=False: that runs pickle)
        raise FormatError(f"{path} is not an hdpmusic model file: it is {describe(path)}"
                          ) from err
    if header.get("format") != FORMAT:
        raise FormatError(f"{path} is not an hdpmusic model file: it is {describe(path)}")
    if model is not None and header.get("model") != model:
        raise FormatError(f"{path} holds a {header.get('model')!r} model, not {model!r}")
    if version is not None and header.get("version") != version:
        raise FormatError(
            f"{path} is a {header.get('model')} checkpoint of version {header.get('version')}; "
            f"this hdpmusic reads version {version} (refit, or use the hdpmusic that wrote it)")
    return header, tensors


def read_header(path: str | os.PathLike) -> dict[str, Any]:
    """The header of a checkpoint (to dispatch on ``header['model']``)."""
    return load_checkpoint(path)[0]


def describe_corpus(corpus: Any, songs: Sequence[str] | None = None, *,
                    content: bool = True) -> dict[str, Any]:
    """What a frame model records of the corpus it is fitted on.

    Parameters
    ----------
    corpus : hdpmusic.formats.corpus.Corpus
    songs : sequence of str, optional
        The ids of the songs the fit used, where it held some of the corpus's out
        (default: all of them).
    content : bool, default=True
        Fingerprint the frames (False: ``content`` is None).

    Returns
    -------
    dict
        ``feature_config``: the corpus's feature settings (None when the file records
        none, e.g. the study's layout); ``feature_libraries``: the library versions that
        computed them (:func:`hdpmusic.audio.provenance.summarise_provenance`; None where
        not recorded); ``content``:
        :func:`hdpmusic.formats.corpus.content_fingerprint` of its frames; ``songs``: the
        song ids (:func:`hdpmusic.formats.songset.encode_songs`).
    """
    from hdpmusic.formats.corpus import content_fingerprint

    return {"feature_config": corpus.attrs.get("feature_config"),
            "feature_libraries": corpus.attrs.get("feature_libraries"),
            "content": content_fingerprint(corpus) if content else None,
            "songs": encode_songs(corpus.ids if songs is None else songs)}


def record_corpus(model: Any, X: Any, songs: Sequence[str] | None = None) -> None:
    """Set ``model.fitted_corpus_`` to what a fit on ``X`` records.

    Parameters
    ----------
    model : object
        The estimator being fitted.
    X : Corpus or other
        Its training data: a corpus is described (:func:`describe_corpus`); anything else
        (arrays, which carry no song ids) records nothing (None).
    songs : sequence of str, optional
        As in :func:`describe_corpus`.
    """
    from hdpmusic.formats.corpus import Corpus

    model.fitted_corpus_ = describe_corpus(X, songs) if isinstance(X, Corpus) else None


def extend_record(record: Mapping[str, Any] | None, X: Any, *, start: bool
                  ) -> dict[str, Any] | None:
    """What a model fitted batch by batch (``partial_fit``) records after one more batch.

    The first batch starts the record as :func:`record_corpus` would, but without the
    frames' fingerprint: such a model is fitted on no one fixed corpus, so ``fit --resume``
    has none to check (a model that :meth:`fit` began loses it too). Each later batch adds
    its songs. A batch of arrays (which carry no ids) leaves the songs unknown (None) from
    then on, as a record that knew none stays.

    Parameters
    ----------
    record : mapping or None
        ``model.fitted_corpus_`` before this batch (ignored when ``start``).
    X : Corpus or other
        The batch.
    start : bool
        This batch is the model's first.

    Returns
    -------
    dict or None
        The new ``fitted_corpus_``.

    Raises
    ------
    DataError
        The batch's feature settings differ from the record's (one model would be fitted
        on frames of two kinds).
    """
    from hdpmusic.formats.corpus import Corpus

    corpus = X if isinstance(X, Corpus) else None
    if start:
        return None if corpus is None else describe_corpus(corpus, content=False)
    if record is None:
        return None
    config = record.get("feature_config")
    theirs = None if corpus is None else corpus.attrs.get("feature_config")
    differ = sorted(k for k in (config or {}).keys() & (theirs or {}).keys()
                    if config[k] != theirs[k])
    if differ:
        raise DataError("this batch's features were extracted with "
                        + ", ".join(f"{k}={theirs[k]}" for k in differ)
                        + " but the model's earlier batches with "
                        + ", ".join(f"{k}={config[k]}" for k in differ)
                        + ": give it frames of one kind")
    songs = record.get("songs")
    if songs is not None:
        songs = None if corpus is None else add_songs(songs, corpus.ids)
    return {**record, "content": None, "songs": songs,
            "feature_libraries": _add_libraries(record.get("feature_libraries"), corpus)}


def _add_libraries(rows: list[dict[str, Any]] | None, corpus: Any
                   ) -> list[dict[str, Any]] | None:
    """A record's ``feature_libraries`` with a batch's tracks added (its set's count, or
    unrecorded ones); unknown (None) once a batch is not a corpus, as the songs are."""
    if rows is None or corpus is None:
        return None
    batch = corpus.attrs.get("feature_libraries") or [{"tracks": len(corpus),
                                                       "libraries": None}]
    counts: dict[str, int] = {}
    for row in [*rows, *batch]:
        key = json.dumps(row["libraries"], sort_keys=True)
        counts[key] = counts.get(key, 0) + int(row["tracks"])
    return [{"tracks": n, "libraries": json.loads(key)}
            for key, n in sorted(counts.items(),
                                 key=lambda item: (-item[1], item[0] == "null", item[0]))]


def corpus_header(model: Any) -> dict[str, Any]:
    """The header entry of ``model.fitted_corpus_`` (None when it records no corpus)."""
    return {CORPUS_FIELD: getattr(model, "fitted_corpus_", None)}


def restore_corpus(model: Any, header: Mapping[str, Any]) -> None:
    """Set ``model.fitted_corpus_`` from a header (None for files written before it)."""
    model.fitted_corpus_ = header.get(CORPUS_FIELD)


def fitted_songs(model: Any, ids: Sequence[str]) -> np.ndarray | None:
    """Which of ``ids`` the model was fitted on, as far as its record tells.

    Parameters
    ----------
    model : object
        A frame model with ``fitted_corpus_`` (:func:`restore_corpus`).
    ids : sequence of str

    Returns
    -------
    np.ndarray of bool, shape (len(ids),), or None
        None when the model records no songs (fitted on arrays rather than a corpus, an
        audio model given no ids, or saved before songs were recorded).
    """
    record = getattr(model, "fitted_corpus_", None) or {}
    if record.get("songs") is None:
        return None
    return songs_in(record["songs"], ids)


class _Fields(dict):
    """A checkpoint's header (or tensors) whose missing entries raise a clear error."""

    def __init__(self, path: str | os.PathLike, items: Mapping[str, Any],
                 what: str = "field") -> None:
        super().__init__(items)
        self._path, self._what = path, what

    def __missing__(self, key: str) -> Any:
        raise FormatError(f"{self._path}: the checkpoint lacks the {self._what} {key!r}; it "
                          "is damaged or was written by another program (refit the model)")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"cannot store {type(obj).__name__} in a checkpoint header")
