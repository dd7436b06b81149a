"""Audio files straight to a representation file: extraction and ``transform`` in one pass.

:func:`embed_collection` does what ``hdpmusic extract`` followed by ``hdpmusic
transform`` does, without the corpus file in between: the tracks of a folder or list
file (:func:`~hdpmusic.audio.extract.find_tracks`, so the ids are the same) are taken
``chunk_songs`` at a time; a frame model (HDPGMM, G1, VQ) gets each chunk's features
from the feature cache of :mod:`hdpmusic.audio.extract` (computed there first, in parallel,
when missing) and an audio model (KIM, CLMR) reads the chunk's files. Memory holds one
chunk of songs and the output rows. Because every track's features are cached as soon
as they are computed, a run that is killed, or rerun with more audio, recomputes only
the tracks not cached yet — and a cache made by ``hdpmusic extract`` serves ``embed``
too (pass it as ``cache``). Unreadable tracks are left out, as by ``extract``; a frame
model's are listed in ``<cache>/failures.jsonl``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hdpmusic.audio.extract import (
    check_jobs,
    compute_features,
    find_tracks,
    load_cached,
    open_cache,
    record_failures,
    track_entries,
)
from hdpmusic.audio.features import DEFAULT_CONFIG, FeatureConfig, check_feature_config
from hdpmusic.audio.provenance import check_feature_libraries, summarise_provenance
from hdpmusic.formats.atomic import check_output, remove_stale_temporaries
from hdpmusic.pipeline.transform import transform_options, write_representations
from hdpmusic.representations.registry import load_model, model_input
from hdpmusic.runtime.errors import DataError, HdpmusicError, ParameterError
from hdpmusic.runtime.progress import progress_bar
from hdpmusic.runtime.threads import worker_count

__all__ = ["EmbedReport", "embed_collection"]

log = logging.getLogger(__name__)


@dataclass
class EmbedReport:
    """Outcome of :func:`embed_collection`.

    Attributes
    ----------
    out : pathlib.Path
        The representation file written.
    n_ok : int
        Songs in it.
    n_failed : int
        Tracks left out because they could not be read (frame models: listed in
        ``failures``).
    n_cached, n_computed : int
        Frame models: tracks whose features came from the cache / were computed now
        (0 for audio models).
    failures : pathlib.Path or None
        ``failures.jsonl`` of the cache (None for audio models).
    failed_ids : list of str
    """

    out: Path
    n_ok: int
    n_failed: int = 0
    n_cached: int = 0
    n_computed: int = 0
    failures: Path | None = None
    failed_ids: list[str] = field(default_factory=list)


def embed_collection(model_path: str | os.PathLike, source: str | os.PathLike,
                     out: str | os.PathLike, *, options: dict[str, Any] | None = None,
                     device: str | None = None, cache: str | os.PathLike | None = None,
                     jobs: int = 1, chunk_songs: int = 256, overwrite: bool = False,
                     recompute: bool = False, content_hash: bool = False,
                     config: FeatureConfig | None = None, progress: bool = True,
                     backend: str | None = None) -> EmbedReport:
    """Write the representation of every track of ``source`` under a fitted model.

    Parameters
    ----------
    model_path : path-like
        A model file from ``hdpmusic fit`` (any registered model).
    source : path-like
        A folder of audio files, a list file or one audio file
        (:func:`~hdpmusic.audio.extract.find_tracks`).
    out : path-like
        The representation file (:class:`~hdpmusic.formats.representations.Representations`);
        written atomically at the end. For a frame model it records the library
        versions that computed the features (attribute ``feature_libraries``), and a
        warning says where they differ from those of the model's training corpus
        (:func:`hdpmusic.audio.provenance.check_feature_libraries`).
    options : dict, optional
        Keyword arguments of the model's ``transform`` (``kind``, ``log``, ``min_weight``,
        ``batch_size``, where it takes them: see
        :func:`hdpmusic.pipeline.transform.transform_options`); what they give is
        recorded in the file (:func:`hdpmusic.pipeline.transform.write_representations`).
    device : str, optional
        Overrides the model's saved device.
    cache : path-like, optional
        Frame models: the feature cache (default ``<out>.cache`` beside ``out``; give
        the cache of an earlier ``hdpmusic extract`` to reuse its features).
    jobs : int
        Frame models: extraction processes (-1: one per CPU granted). Audio models: audio
        decoding processes (the model's ``num_workers``; 1 decodes in this process).
        Either way at most one per CPU granted and per track
        (:func:`hdpmusic.runtime.threads.worker_count`).
    chunk_songs : int
        Songs extracted and embedded together (bounds memory).
    overwrite : bool
        Replace an existing ``out``.
    recompute, content_hash : bool
        Frame models: compute every track's features again / key the cache entries on
        the audio files' content, as in :func:`~hdpmusic.audio.extract.extract_collection`
        (give the same ``content_hash`` as the ``hdpmusic extract`` that made the cache,
        or its entries are recomputed).
    config : FeatureConfig, optional
        Feature settings of a frame model: by default those of the corpus the model was
        fitted on (as its file records them; the paper's for older files); other
        settings than those are refused.
    progress : bool
        One progress bar over the tracks.
    backend : str, optional
        joblib backend of the extraction (see :func:`~hdpmusic.audio.extract.extract_collection`).

    Returns
    -------
    EmbedReport

    Raises
    ------
    HdpmusicError
        ``out`` exists (without ``overwrite``), its folder or the cache folder cannot be
        written, no tracks, every track failed, a cache in use or made with other
        settings, features of another dimension or other settings than the model's
        (:class:`~hdpmusic.runtime.errors.DataError`), or ``out`` is the
        model file, the source or the cache. Nothing is written to ``out`` then.
    """
    out = Path(out)
    check_output(out, {"the model file": model_path, "the audio source": source,
                       "the feature cache": cache})
    check_jobs(jobs)
    if chunk_songs < 1:
        raise ParameterError(f"chunk_songs must be >= 1, got {chunk_songs}")
    if out.exists() and not overwrite:
        raise HdpmusicError(f"{out} exists; pass --overwrite (overwrite=True) to replace it")
    tracks = find_tracks(source)
    remove_stale_temporaries(out)
    name, model = load_model(model_path, device=device)
    if hasattr(model, "verbose"):
        model.verbose = False  # one bar over the tracks instead of one per chunk
    options = transform_options(name, model, **dict(options or {}))
    chunks = [tracks[lo:lo + chunk_songs] for lo in range(0, len(tracks), chunk_songs)]
    attrs: dict[str, Any] = {"audio_root": str(Path(source).resolve())}  # as a corpus
    with progress_bar(len(tracks), "embedding", unit="track", enabled=progress,
                      leave=True) as bar:
        if model_input(name) == "audio":
            workers = worker_count(jobs, len(tracks))   # within the CPUs granted
            model.num_workers = 0 if workers == 1 else workers
            ids, rows, failed = _embed_audio(model, chunks, options, bar)
            report = EmbedReport(out, len(ids), len(failed), failed_ids=sorted(failed))
        else:
            config = frame_config(model, model_path, config)
            cache = Path(cache) if cache is not None else out.with_name(out.name + ".cache")
            report, ids, rows, libraries = _embed_frames(
                model, chunks, options, cache, out, config, jobs=jobs, backend=backend,
                bar=bar, recompute=recompute, content_hash=content_hash)
            check_feature_libraries(model, libraries, model_path=model_path,
                                    data=f"the audio's features (cache {cache})")
            attrs["feature_libraries"] = libraries
    write_representations(out, ids, np.concatenate(rows), name=name, model=model,
                          options=options, source=model_path, attrs=attrs,
                          overwrite=overwrite)
    return report


def frame_config(model: Any, model_path: str | os.PathLike,
                 config: FeatureConfig | None) -> FeatureConfig:
    """The feature settings to extract for a frame model.

    Parameters
    ----------
    model : object
        The frame model (``fitted_corpus_`` records its corpus's settings, if known).
    model_path : path-like
        Its file (for the message).
    config : FeatureConfig or None
        Settings asked for (None: the model's, else the paper's).

    Returns
    -------
    FeatureConfig

    Raises
    ------
    DataError
        ``config`` differs from the settings the model was fitted on.
    """
    fitted = (getattr(model, "fitted_corpus_", None) or {}).get("feature_config")
    if config is None:
        return DEFAULT_CONFIG if fitted is None else FeatureConfig.from_dict(fitted)
    check_feature_config(model, config.to_dict(), model_path=model_path,
                         data="the extraction asked for")
    return config


def _embed_audio(model: Any, chunks: list[list[tuple[str, Path]]], options: dict[str, Any],
                 bar: Any) -> tuple[list[str], list[np.ndarray], dict[str, str]]:
    """Ids and rows of the readable tracks under an audio model (KIM, CLMR), and the
    unreadable ones (id -> error), left out as extraction leaves them out."""
    ids: list[str] = []
    rows: list[np.ndarray] = []
    failed: dict[str, str] = {}
    for part in chunks:
        try:
            rows.append(model.transform([str(path) for _, path in part], **options))
            ids.extend(song_id for song_id, _ in part)
        except DataError:  # find the unreadable track(s): one at a time
            for song_id, path in part:
                try:
                    rows.append(model.transform([str(path)], **options))
                    ids.append(song_id)
                except DataError as err:
                    failed[song_id] = str(err)
        bar.update(len(part))
    if failed:
        log.warning("%d of %d tracks failed, e.g. %s", len(failed),
                    sum(map(len, chunks)), next(iter(failed.values())))
    if not ids:
        raise HdpmusicError(f"all {len(failed)} tracks failed (first: "
                            f"{next(iter(failed.values()))})")
    return ids, rows, failed


def _embed_frames(model: Any, chunks: list[list[tuple[str, Path]]], options: dict[str, Any],
                  cache: Path, out: Path, config: FeatureConfig, *, jobs: int,
                  backend: str | None, bar: Any, recompute: bool, content_hash: bool,
                  ) -> tuple[EmbedReport, list[str], list[np.ndarray], list[dict[str, Any]]]:
    """Features through the cache, then the frame model, chunk after chunk; last, the
    library versions that computed the features of the songs embedded
    (:func:`~hdpmusic.audio.provenance.summarise_provenance`)."""
    dim = getattr(model, "n_features_in_", config.dim)
    if dim != config.dim:
        raise DataError(f"the model was fitted on {dim}-d frames; the features are "
                        f"{config.dim}-d ({config.column_names[0]}...): fit it on a corpus "
                        f"from `hdpmusic extract`")
    ids: list[str] = []
    rows: list[np.ndarray] = []
    n_cached = n_computed = 0
    tracks = [track for part in chunks for track in part]
    with open_cache(cache, config):
        tasks, failures = track_entries(tracks, cache, content_hash)
        readable = {task[0]: task for task in tasks}  # id -> (id, audio file, cache file)
        for part in chunks:
            todo = [readable[song_id] for song_id, _ in part if song_id in readable]
            statuses = compute_features(todo, config, cache=cache, jobs=jobs,
                                        progress=False, backend=backend,
                                        recompute=recompute)
            n_cached += len(todo) - len(statuses)
            n_computed += sum(status == "done" for status, _ in statuses.values())
            failures.update({song_id: error for song_id, (status, error) in statuses.items()
                             if status == "failed"})
            ok = [song_id for song_id, _, _ in todo if song_id not in failures]
            if ok:
                rows.append(model.transform([load_cached(readable[song_id][2], config)
                                             for song_id in ok], **options))
                ids.extend(ok)
            bar.update(len(part))
        failures_path = record_failures(cache, tracks, failures)
        libraries = summarise_provenance(cache, (readable[song_id][2] for song_id in ids))
    report = EmbedReport(out, len(ids), len(failures), n_cached, n_computed, failures_path,
                         sorted(failures))
    return report, ids, rows, libraries
