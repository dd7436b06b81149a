"""Fit a model of the registry on a corpus and save it: the one fitting path.

``hdpmusic fit``, :mod:`hdpmusic.pipeline.experiment` and the demo all fit through
:func:`fit_model`. It gives a frame model (HDPGMM, G1, VQ) the corpus and an audio model
(KIM, CLMR) the songs' audio files (:func:`training_data`); it checkpoints a model whose
``fit`` can (HDPGMM, KIM, CLMR) and resumes one from its checkpoint after checking that
the options given and the corpus are those it was fitted with (:func:`check_resume`).
Each model's ``fit`` records what it knows of its corpus (a frame model: feature
settings, a fingerprint of the frames and the songs fitted,
:func:`hdpmusic.formats.checkpoint.record_corpus`; an audio model: the songs), which
``transform``, ``embed`` and a later resume check.
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from hdpmusic.audio.extract import audio_paths
from hdpmusic.formats.corpus import Corpus, content_fingerprint, corpus_fingerprint
from hdpmusic.representations.registry import model_class, model_input
from hdpmusic.runtime.errors import DataError, ParameterError

__all__ = ["CHECKPOINT_EVERY", "RESUME_PARAMS", "changed_params", "check_resume", "fit_model",
           "resumable", "training_data"]

#: Updates between training checkpoints of every model that writes them
CHECKPOINT_EVERY = 50
#: Parameters that a resumed fit may change: the length of training (to extend it) and
#: how the work is run; any other parameter given must match the checkpoint
RESUME_PARAMS = ("max_steps", "max_epochs", "num_workers", "verbose", "device")


def training_data(name: str, corpus: Corpus,
                  audio_root: str | os.PathLike | None = None) -> Any:
    """What model ``name`` fits on, or transforms: the corpus, or its songs' audio files.

    Parameters
    ----------
    name : str
        Registry name.
    corpus : Corpus
    audio_root : path-like, optional
        Folder (or list file) the corpus ids are relative to, for audio models (default:
        what extraction recorded, :func:`hdpmusic.audio.extract.audio_paths`); a frame
        model ignores it.

    Returns
    -------
    Corpus or list of pathlib.Path
    """
    if model_input(name) == "audio":
        return audio_paths(corpus, audio_root)
    return corpus


def resumable(cls: type) -> bool:
    """Whether a model class checkpoints its training (its ``fit`` takes ``checkpoint``
    and ``resume``)."""
    accepted = inspect.signature(cls.fit).parameters
    return "checkpoint" in accepted and "resume" in accepted


def fit_model(name: str, corpus: Corpus, out: str | os.PathLike, *,
              params: Mapping[str, Any] | None = None, resume: bool = False,
              checkpoint: str | os.PathLike | None = None,
              checkpoint_every: int = CHECKPOINT_EVERY,
              audio_root: str | os.PathLike | None = None, save: bool = True,
              flags: Mapping[str, str] | None = None,
              log: Callable[[str], None] | None = None) -> Any:
    """Fit registry model ``name`` on ``corpus`` and save it to ``out``.

    Parameters
    ----------
    name : str
        Registry name (``"hdpgmm"``, ``"g1"``, ``"vq"``, ``"kim"``, ``"clmr"``).
    corpus : Corpus
        The songs to fit on (audio models: the songs whose audio files they read).
    out : path-like
        Where the fitted model is saved.
    params : mapping, optional
        Constructor parameters; on resume, those given must match the checkpoint's except
        :data:`RESUME_PARAMS`, which are set on the resumed model.
    resume : bool, default=False
        Continue the training saved in ``checkpoint`` when that file exists.
    checkpoint : path-like, optional
        The training checkpoint of a resumable model (default: ``out`` itself).
    checkpoint_every : int, default=50
        Updates between checkpoints (0: at epoch ends only, or at the end).
    audio_root : path-like, optional
        See :func:`training_data`.
    save : bool, default=True
        Save the model (False on the non-leading ranks of a distributed fit) and remove a
        ``checkpoint`` other than ``out``.
    flags : mapping, optional
        Parameter -> the option that sets it, to name it in messages (default: the
        parameter's name).
    log : callable, optional
        Receives one line when a fit is resumed.

    Returns
    -------
    object
        The fitted model.

    Raises
    ------
    ParameterError, DataError
        See :func:`check_resume`.
    """
    cls = model_class(name)
    params = dict(params or {})
    out = Path(out)
    checkpoint = out if checkpoint is None else Path(checkpoint)
    can_resume = resumable(cls)
    if resume and not can_resume:
        raise ParameterError(f"{name} models cannot resume a fit: they train in one go")
    data = training_data(name, corpus, audio_root)
    frames = data is corpus
    if resume and checkpoint.exists():
        model = cls.load(checkpoint, **({"device": params["device"]} if "device" in params
                                        else {}))
        check_resume(checkpoint, model, params, corpus if frames else None, flags or {})
        model.set_params(**{k: v for k, v in params.items() if k in RESUME_PARAMS})
        step = getattr(model, "epoch_", None)
        where = (f"epoch {step + 1} of {model.max_epochs}, update {model.n_steps_}"
                 if step is not None else f"update {getattr(model, 'n_steps_', 0)}")
        if log is not None:
            log(f"resuming {checkpoint} at {where}")
    else:
        model = cls(**params)
    if frames and can_resume:
        model.corpus_fingerprint_ = corpus_fingerprint(corpus)
    kwargs: dict[str, Any] = {}
    accepted = inspect.signature(cls.fit).parameters
    if "ids" in accepted and not frames:
        kwargs["ids"] = corpus.ids
    if can_resume:
        kwargs.update(checkpoint=checkpoint, checkpoint_every=checkpoint_every,
                      resume=resume and checkpoint.exists())
    model.fit(data, **kwargs)
    if save:
        model.save(out)
        if checkpoint != out:
            checkpoint.unlink(missing_ok=True)
    return model


def check_resume(checkpoint: Path, model: Any, given: Mapping[str, Any],
                 corpus: Corpus | None, flags: Mapping[str, str]) -> None:
    """Refuse to resume a fit with other settings or on another corpus.

    Parameters
    ----------
    checkpoint : pathlib.Path
        The checkpoint (for the messages).
    model : object
        The model loaded from it.
    given : mapping
        Constructor parameters given now.
    corpus : Corpus or None
        The corpus given now (None for an audio model: not checked).
    flags : mapping
        Parameter -> the option that sets it (for the messages).

    Raises
    ------
    ParameterError
        A given parameter outside :data:`RESUME_PARAMS` differs from the saved one, or
        ``max_epochs`` is fewer than the epochs done.
    DataError
        The corpus has other songs or lengths (its fingerprint differs), or the same songs
        with other frames (the content fingerprint differs). A checkpoint written before
        a fingerprint was recorded is not checked for it.
    """
    saved = model.get_params()
    for param in changed_params(saved, given, ignore=RESUME_PARAMS)[:1]:
        value = given[param]
        flag = flags.get(param, param)
        raise ParameterError(
            f"{flag} {_show(value)} contradicts {checkpoint}, which was fitted with "
            f"{_show(saved[param])}: a resumed fit continues with the saved settings (only "
            f"its length may be extended); leave {flag} out, or fit afresh (`hdpmusic fit "
            "--overwrite`)")
    done = getattr(model, "epoch_", 0)
    if done > given.get("max_epochs", done):
        raise ParameterError(f"{flags.get('max_epochs', 'max_epochs')} "
                             f"{given['max_epochs']} is fewer than the {done} epochs "
                             f"{checkpoint} has done already")
    if corpus is None:
        return
    fingerprint = getattr(model, "corpus_fingerprint_", None)
    if fingerprint is not None and fingerprint != corpus_fingerprint(corpus):
        raise DataError(f"cannot resume {checkpoint}: it was fitted on another corpus "
                        f"({model.n_songs_} songs with other ids or lengths); give the "
                        "corpus it was fitted on, or fit afresh (`hdpmusic fit --overwrite`)")
    content = (getattr(model, "fitted_corpus_", None) or {}).get("content")
    if content is not None and content != content_fingerprint(corpus):
        raise DataError(f"cannot resume {checkpoint}: the corpus has the songs and lengths "
                        "it was fitted on but other frames (rescaled, or extracted "
                        "otherwise); give the corpus it was fitted on, or fit afresh "
                        "(`hdpmusic fit --overwrite`)")


def changed_params(saved: Mapping[str, Any], given: Mapping[str, Any],
                   ignore: Iterable[str] = ()) -> list[str]:
    """The given parameters whose value differs from the saved one.

    Both sides are compared as JSON values, as a checkpoint header stores them (a tuple
    reads back as a list); a parameter not saved, or in ``ignore``, is not compared.

    Returns
    -------
    list of str
        In the order of ``given``.
    """
    skip = set(ignore)
    return [k for k, v in given.items()
            if k not in skip and k in saved and _as_json(saved[k]) != _as_json(v)]


def _as_json(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda v: v.item()))


def _show(value: Any) -> str:
    """A parameter value as typed on the command line."""
    if value is None:
        return "none"
    if isinstance(value, tuple | list):
        return ",".join(map(str, value))
    return str(value)
