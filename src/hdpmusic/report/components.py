"""The report's components section: the paper's Table 4, made visible and audible.

For the most loaded components of an HDPGMM over the songs of a corpus (a task file:
its tags, or its genres, name the components), :func:`components_section` gathers

* the component's corpus weight ``E[β_k]`` and its share of the songs' responsibility;
* the labels most enriched among its songs (:func:`hdpmusic.evaluation.interpretability.interpret`);
* the songs that load on it most (song-level responsibility, ``transform(kind=
  "responsibility")``);
* a feature profile: its responsibility-weighted mean frame as z-scores against all the
  frames scanned (MFCC, log onset, log chroma), drawn as a small PNG;
* an excerpt (3 s by default) of the audio where its frame responsibility
  ``p(k | x)`` (``HDPGMM.predict_proba``) is highest, as a small 22.05 kHz mono MP3 (which
  every browser plays; OGG/Vorbis where libsndfile cannot write MP3) beside the report —
  when the corpus's audio can be found
  (:func:`hdpmusic.audio.extract.audio_paths`); otherwise the section says why there is none.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hdpmusic.audio.decode import load_audio
from hdpmusic.audio.extract import audio_paths
from hdpmusic.evaluation.interpretability import (
    component_load,
    interpret,
    scan_exemplars,
    scan_songs,
    task_labels,
)
from hdpmusic.evaluation.interpretability import top_songs as song_ranking
from hdpmusic.formats.atomic import atomic_path
from hdpmusic.formats.taskdata import read_task
from hdpmusic.report.labels import file_stem
from hdpmusic.report.plots import profile_figure, save_figure
from hdpmusic.runtime.errors import HdpmusicError, ParameterError

__all__ = ["AUDIO_SR", "AUDIO_TYPES", "MIN_LOADING", "NEUTRAL_SCORE", "ComponentCard",
           "ComponentsSection", "components_section", "excerpt_suffix", "write_excerpt"]

log = logging.getLogger(__name__)

AUDIO_SR = 22050
"""Sample rate (Hz) of the excerpts written beside the report."""
_FADE_S = 0.01
_CODECS = {".mp3": ("MP3", "MPEG_LAYER_III", "audio/mpeg"),
           ".ogg": ("OGG", "VORBIS", "audio/ogg"), ".wav": ("WAV", "PCM_16", "audio/wav")}
AUDIO_TYPES = {suffix: codec[2] for suffix, codec in _CODECS.items()}
"""Media type of each excerpt file suffix (the ``type`` of its ``<source>``)."""
MIN_LOADING = 0.005
"""Least song-level responsibility of a song listed under a component (shown as 0.01;
a song below it does not load on the component)."""
NEUTRAL_SCORE = {"lift": 1.0, "log_odds": 0.0}
"""Enrichment score of a label no more frequent among a component's songs than overall."""


def excerpt_suffix() -> str:
    """``".mp3"`` where the installed libsndfile writes MP3 (1.1 and later), else
    ``".ogg"`` (Vorbis)."""
    import soundfile as sf

    return ".mp3" if "MP3" in sf.available_formats() else ".ogg"


@dataclass
class ComponentCard:
    """One component of the section.

    Attributes
    ----------
    rank : int
        1 for the most loaded.
    component : int
        Index k in the model.
    weight : float
        Corpus weight ``E[β_k]``.
    share : float
        Its share of the songs' responsibility (the load of
        :func:`~hdpmusic.evaluation.interpretability.interpret`).
    labels : list of (str, float)
        Most enriched labels and their lift (or log-odds ratio): only labels over-
        represented among its songs (lift > 1, log-odds ratio > 0).
    songs : list of (str, float, str)
        Song id, the component's song-level responsibility (at least
        :data:`MIN_LOADING`), the song's labels.
    profile : str or None
        File name of the feature profile PNG.
    audio : str or None
        File name of the excerpt.
    excerpt : str
        Where the excerpt comes from (song, time span, mean ``p(k | x)``), or why there is
        none.
    """

    rank: int
    component: int
    weight: float
    share: float
    labels: list[tuple[str, float]] = field(default_factory=list)
    songs: list[tuple[str, float, str]] = field(default_factory=list)
    profile: str | None = None
    audio: str | None = None
    excerpt: str = ""


@dataclass
class ComponentsSection:
    """The components section of one model.

    Attributes
    ----------
    model : str
        The model's name in the report.
    corpus : str
        The corpus file's name.
    label_kind : str or None
        ``"tags"``, ``"genres"`` or None (no labels in the corpus).
    score_name : str
        ``"lift"`` or ``"log-odds ratio"``.
    cards : list of ComponentCard
    notes : list of str
        What a reader should know (how many songs were scanned, why there is no audio).
    """

    model: str
    corpus: str
    label_kind: str | None
    score_name: str
    cards: list[ComponentCard]
    notes: list[str] = field(default_factory=list)


def _clock(seconds: float) -> str:
    minutes, rest = divmod(max(seconds, 0.0), 60)
    return f"{int(minutes)}:{rest:04.1f}"


def write_excerpt(audio_path: str | os.PathLike, start_s: float, seconds: float,
                  out: Path) -> float:
    """Write ``seconds`` of an audio file from ``start_s``, mono at :data:`AUDIO_SR` with
    10 ms fades, in the format ``out``'s suffix names (.mp3, .ogg, .wav; atomically).

    Returns
    -------
    float
        The excerpt's length in seconds (shorter at the end of a short file).
    """
    import soundfile as sf


    y = load_audio(audio_path, AUDIO_SR)
    n = round(seconds * AUDIO_SR)
    a = max(0, min(round(start_s * AUDIO_SR), y.size - n))
    clip = np.array(y[a:a + n], dtype=np.float32)
    fade = min(int(_FADE_S * AUDIO_SR), clip.size // 2)
    if fade:
        ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
        clip[:fade] *= ramp
        clip[-fade:] *= ramp[::-1]
    fmt, subtype, _ = _CODECS[out.suffix]
    with atomic_path(out) as tmp:
        sf.write(tmp, clip, AUDIO_SR, format=fmt, subtype=subtype)
    return clip.size / AUDIO_SR


def _song_labels(labels: Any, j: int, limit: int = 3) -> str:
    if labels is None:
        return ""
    Y, names, _ = labels
    row = Y.getrow(j)
    return ", ".join(names[t] for t in row.indices[:limit])


def _ranked(R: np.ndarray, labels: Any, top_components: int, top_labels: int,
            method: str) -> list[tuple[int, float, list[tuple[str, float]]]]:
    """(component, share, labels) of the most loaded components."""

    if labels is not None:
        Y, names, _ = labels
        rows = interpret(R, Y, names, top_components=top_components, top_tags=top_labels,
                         method=method)
        return [(r.component, r.share, [(t, float(v)) for t, v in zip(r.tags, r.scores,
                                                                       strict=True)
                                        if v > NEUTRAL_SCORE[method]]) for r in rows]
    load = component_load(R)
    order = np.argsort(-load, kind="stable")[:top_components]
    return [(int(k), float(load[k] / load.sum()), []) for k in order]


def _audio_files(corpus: Any, audio: bool, audio_root: str | os.PathLike | None,
                 ) -> tuple[list[str] | None, str | None]:
    """The corpus's audio files, or None and what the reader is told instead."""
    if not audio:
        return None, "Audio excerpts were not requested."

    try:
        return audio_paths(corpus, audio_root), None
    except HdpmusicError as err:
        return None, f"No audio excerpts: the corpus's audio is not available ({err})."


def components_section(model: Any, model_name: str, corpus_path: str | os.PathLike,
                       out_dir: str | os.PathLike, *, top_components: int = 8,
                       top_labels: int = 5, top_songs: int = 5, seconds: float = 3.0,
                       audio: bool = True, audio_root: str | os.PathLike | None = None,
                       method: str = "lift", max_songs: int = 500, seed: int = 0,
                       ) -> ComponentsSection:
    """Compute the section and write its images and excerpts into ``out_dir``.

    Parameters
    ----------
    model : HDPGMM
        Fitted.
    model_name : str
        Names the files (``<model>_component_<k>.png`` / ``.mp3``) and the section.
    corpus_path : path-like
        A corpus file with the songs' frames; its tags (or genres) label the components.
    out_dir : path-like
        The report's folder.
    top_components, top_labels, top_songs : int
        Components shown; labels and songs listed per component.
    seconds : float
        Length of each excerpt.
    audio : bool
        Write excerpts (needs the corpus's audio files).
    audio_root : path-like, optional
        Where the audio is, overriding what the corpus records.
    method : {"lift", "log_odds"}
        Enrichment score of the labels.
    max_songs : int
        Frames of at most this many songs (plus each component's top songs) are scanned
        for the profiles and excerpts (:func:`hdpmusic.evaluation.interpretability.scan_songs`).
    seed : int
        Seeds that sample.

    Returns
    -------
    ComponentsSection
    """
    from hdpmusic.formats.corpus import Corpus

    if top_components < 1 or top_songs < 1 or top_labels < 1 or not seconds > 0:
        raise ParameterError("top_components, top_labels, top_songs and seconds must be "
                             "positive")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    corpus = Corpus.open(corpus_path)
    labels = task_labels(read_task(corpus_path))
    R = model.transform(corpus, kind="responsibility", log=False, components="all")
    ranked = _ranked(R, labels, top_components, top_labels, method)
    components = [k for k, _, _ in ranked]
    attrs = corpus.attrs
    sr, hop = float(attrs.get("sr", 22050)), float(attrs.get("hop_length", 512))
    width = max(1, round(seconds * sr / hop))
    songs = scan_songs(R, components, max_songs=max_songs, per_component=4 * top_songs,
                       seed=seed)
    found = scan_exemplars(model.predict_proba, corpus, components, songs, width=width)
    z = found.zscores()
    weights = np.asarray(model.weights_, dtype=np.float64)
    ids = corpus.ids
    notes = ["Components are ranked by their share of the songs' responsibility over "
             "this corpus, the first figure of each card.",
             f"Feature profiles and excerpts from the frames of {found.n_songs} of "
             f"{len(ids)} songs ({found.n_frames} frames); profiles are z-scores of the "
             "component's responsibility-weighted mean frame against all those frames."]
    paths, audio_note = _audio_files(corpus, audio, audio_root)
    notes += [audio_note] if audio_note else []
    slug = file_stem(model_name)
    cards = []
    for c, (k, share, top) in enumerate(ranked):
        order, values = song_ranking(R, k, top_songs)
        card = ComponentCard(c + 1, k, float(weights[k]), share, top,
                             [(ids[j], float(v), _song_labels(labels, j))
                              for j, v in zip(order, values, strict=True)
                              if v >= MIN_LOADING])
        card.profile = f"{slug}_component_{k}.png"
        save_figure(profile_figure(z[c], attrs.get("columns"),
                                   f"component {k}: mean frame vs all frames"),
                    out / card.profile, dpi=100)
        j = int(found.song[c])
        t0 = found.start[c] * hop / sr
        where = (f"{ids[j]}, {_clock(t0)}–{_clock(t0 + seconds)}, mean p(k | x) = "
                 f"{found.strength[c]:.2f}")
        card.excerpt = where
        if paths is not None:
            name = f"{slug}_component_{k}{excerpt_suffix()}"
            try:
                write_excerpt(paths[j], t0, seconds, out / name)
                card.audio = name
            except HdpmusicError as err:
                log.warning("no excerpt of component %d: %s", k, err)
                card.excerpt = f"{where} (audio unreadable: {err})"
        cards.append(card)
    return ComponentsSection(model_name, Path(corpus_path).name,
                             labels[2] if labels else None,
                             "lift" if method == "lift" else "log-odds ratio", cards, notes)
