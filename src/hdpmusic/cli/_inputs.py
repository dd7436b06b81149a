"""Opening the files a verb is given, with messages that say what was given instead."""

from __future__ import annotations

import os
from typing import Any

from hdpmusic.formats.filekind import CORPUS_HINT, describe
from hdpmusic.representations.registry import model_input
from hdpmusic.runtime.errors import FormatError, ParameterError


def open_corpus(path: str | os.PathLike, verb: str, *, dim: int | None = None) -> Any:
    """:meth:`hdpmusic.formats.corpus.Corpus.open`, saying what the file is when it is no corpus.

    Parameters
    ----------
    path : path-like
    verb : str
        The command, for the message (``"fit"``).
    dim : int, optional
        As in :meth:`~hdpmusic.formats.corpus.Corpus.open`.

    Returns
    -------
    hdpmusic.formats.corpus.Corpus

    Raises
    ------
    FormatError
        An audio, text, model, representation or other file: ``PATH is an audio file
        (WAV); `hdpmusic fit` expects a corpus .h5 made by `hdpmusic extract` or
        `hdpmusic prepare```. A damaged HDF5 file keeps the corpus reader's message.
    """
    from hdpmusic.formats.corpus import Corpus

    try:
        return Corpus.open(path, dim=dim)
    except FormatError:
        kind = describe(path)
        if "HDF5" in kind or kind == "a corpus file":
            raise
        raise FormatError(f"{path} is {kind}, not a corpus; `hdpmusic {verb}` expects "
                          f"{CORPUS_HINT}") from None


def refuse_audio_root(name: str, audio_root: str | None) -> None:
    """``--audio-root`` is an error with a frame model (it reads no audio).

    Raises
    ------
    ParameterError
    """

    if audio_root is not None and model_input(name) != "audio":
        raise ParameterError(f"--audio-root applies to audio models only, not {name}")
