"""Feature extraction of a whole collection: parallel, cached per track, resumable.

``extract_collection`` finds the audio files, computes :func:`extract_features` for each
in worker processes (joblib, one BLAS thread each), caches every track's features as
``<cache>/<hh>/<id>.npy`` (written to a temporary name, then renamed, so a killed run
leaves only complete files), skips tracks already cached, records failures in
``<cache>/failures.jsonl``, and finally packs the cache into a corpus file by streaming.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hdpmusic.errors import DataError, HdpmusicError
from hdpmusic.features import DEFAULT_CONFIG, FeatureConfig, extract_features

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".ogg", ".oga", ".mp3", ".au", ".snd",
                              ".aiff", ".aif", ".m4a", ".opus"})


@dataclass
class ExtractionReport:
    """Outcome of :func:`extract_collection`."""

    corpus: Path | None
    n_ok: int
    n_failed: int
    n_cached: int
    failures: Path | None = None
    failed_ids: list[str] = field(default_factory=list)


def find_tracks(source: str | os.PathLike) -> list[tuple[str, Path]]:
    """(id, path) of every track of a directory, a list file, or a single audio file.

    A single audio file gets its file name as id. A directory is searched recursively for
    audio files; ids are paths relative to it (POSIX separators). A list file holds one
    track per line: ``path`` or ``path<TAB>id``; relative paths are resolved against the
    list file's folder; blank lines and lines starting with ``#`` are skipped.
    """
    source = Path(source)
    if source.is_file() and source.suffix.lower() in AUDIO_EXTENSIONS:
        return [(source.name, source)]
    if source.is_dir():
        tracks = [(p.relative_to(source).as_posix(), p) for p in sorted(source.rglob("*"))
                  if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file()]
        if not tracks:
            raise HdpmusicError(f"{source}: no audio files found (looked for "
                                f"{', '.join(sorted(AUDIO_EXTENSIONS))})")
        return tracks
    if not source.is_file():
        raise HdpmusicError(f"{source}: no such directory or list file")
    tracks = []
    for line in source.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        path, _, song_id = line.rstrip("\n").partition("\t")
        full = Path(path) if Path(path).is_absolute() else source.parent / path
        tracks.append((song_id or path, full))
    if not tracks:
        raise HdpmusicError(f"{source}: the list file names no tracks")
    ids = [t[0] for t in tracks]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise HdpmusicError(f"{source}: track id {dup!r} appears twice")
    return tracks


def cache_path(cache: Path, song_id: str) -> Path:
    """Where a track's features are cached: ``<cache>/<hh>/<id with / as __>.npy``."""
    digest = hashlib.sha1(song_id.encode()).hexdigest()[:2]
    return cache / digest / (song_id.replace("/", "__") + ".npy")


def extract_track(path: Path, target: Path, config: FeatureConfig) -> tuple[str, str | None]:
    """Compute one track's features into ``target`` atomically (a worker's job).

    Returns
    -------
    status : {"cached", "done", "failed"}
    error : str or None
    """
    if target.exists():
        return "cached", None
    try:
        features = extract_features(path, config=config)
    except DataError as err:
        return "failed", str(err)
    except Exception as err:  # anything a decoder may throw: keep the run going
        return "failed", f"{path}: {type(err).__name__}: {err}"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.save(fh, features)
    os.replace(tmp, target)
    return "done", None


def extract_collection(source: str | os.PathLike, out: str | os.PathLike, *, jobs: int = 1,
                       cache: str | os.PathLike | None = None, overwrite: bool = False,
                       config: FeatureConfig = DEFAULT_CONFIG, progress: bool = True,
                       backend: str | None = None) -> ExtractionReport:
    """Extract features of every track of ``source`` and pack them into ``out``.

    Parameters
    ----------
    source : path
        A directory of audio files or a list file (see :func:`find_tracks`).
    out : path
        The corpus file to write (HDF5; refused if it exists unless ``overwrite``).
    jobs : int
        Worker processes (``-1``: one per core).
    cache : path, optional
        Feature cache folder (default ``<out>.cache``); reused by later runs.
    overwrite : bool
    config : FeatureConfig
    progress : bool
        A progress bar.
    backend : str, optional
        joblib backend (default ``"loky"`` processes; ``"dask"`` inside a
        ``dask.distributed`` client context runs the same jobs on a cluster).

    Returns
    -------
    ExtractionReport

    Raises
    ------
    HdpmusicError
        ``out`` exists, no tracks are found, or every track failed.
    """
    from hdpmusic.corpus import CorpusWriter

    out = Path(out)
    if out.exists() and not overwrite:
        raise HdpmusicError(f"{out} exists; pass --overwrite (overwrite=True) to replace it")
    tracks = find_tracks(source)
    cache = Path(cache) if cache is not None else out.with_name(out.name + ".cache")
    cache.mkdir(parents=True, exist_ok=True)
    statuses = _run_jobs(tracks, cache, config, jobs=jobs, progress=progress, backend=backend)
    failures = {song_id: error for song_id, (status, error) in statuses.items()
                if status == "failed"}
    failures_path = cache / "failures.jsonl"
    with open(failures_path, "w") as fh:
        for song_id, path in tracks:
            if song_id in failures:
                fh.write(json.dumps({"id": song_id, "path": str(path),
                                     "error": failures[song_id]}) + "\n")
    n_cached = sum(status == "cached" for status, _ in statuses.values())
    ok = [(song_id, path) for song_id, path in tracks if song_id not in failures]
    if not ok:
        raise HdpmusicError(f"all {len(tracks)} tracks failed; see {failures_path} "
                            f"(first: {next(iter(failures.values()))})")
    attrs = {"feature_config": config.to_dict(), "columns": config.column_names,
             "sr": config.sr, "hop_length": config.hop_length}
    if Path(source).is_dir():
        attrs["audio_root"] = str(Path(source).resolve())
    with CorpusWriter(out, config.dim, attrs=attrs, overwrite=overwrite) as writer:
        for song_id, _ in ok:
            writer.append(song_id, np.load(cache_path(cache, song_id)))
    if failures:
        log.warning("%d of %d tracks failed (listed in %s)", len(failures), len(tracks),
                    failures_path)
    return ExtractionReport(out, len(ok), len(failures), n_cached,
                            failures_path if failures else None, sorted(failures))


def _run_jobs(tracks: list[tuple[str, Path]], cache: Path, config: FeatureConfig, *,
              jobs: int, progress: bool, backend: str | None) -> dict[str, tuple[str, str | None]]:
    """Status of every track, computing the ones not cached yet in parallel."""
    from joblib import Parallel, delayed, parallel_config
    from tqdm.auto import tqdm

    todo = [(song_id, path) for song_id, path in tracks
            if not cache_path(cache, song_id).exists()]
    statuses = {song_id: ("cached", None) for song_id, _ in tracks}
    bar = tqdm(total=len(tracks), initial=len(tracks) - len(todo), unit="track",
               desc="extracting", disable=not progress, dynamic_ncols=True)
    calls = (delayed(_job)(song_id, path, cache_path(cache, song_id), config)
             for song_id, path in todo)
    context = (parallel_config(backend=backend) if backend else
               parallel_config(backend="loky", inner_max_num_threads=1))
    with bar, context:
        for song_id, status, error in Parallel(n_jobs=jobs,
                                               return_as="generator_unordered")(calls):
            statuses[song_id] = (status, error)
            bar.update(1)
    return statuses


def _job(song_id: str, path: Path, target: Path,
         config: FeatureConfig) -> tuple[str, str, str | None]:
    status, error = extract_track(path, target, config)
    return song_id, status, error
