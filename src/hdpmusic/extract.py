"""Feature extraction of a whole collection: parallel, cached per track, resumable.

:func:`extract_collection` finds the tracks (a directory, a list file or one audio
file), computes :func:`~hdpmusic.features.extract_features` for each track not cached
yet, in worker processes (joblib/loky, one BLAS/numba thread each), and caches every
track's features as ``<cache>/<hh>/<quoted id>.npy`` (``hh``: two hex digits of the
id's SHA-1; written to a temporary name and renamed, so a killed run leaves only
complete files and a rerun redoes no finished track). Failed tracks are listed in
``<cache>/failures.jsonl`` and retried by the next run. Finally the cached features are
streamed, one track at a time, into a corpus file (:class:`hdpmusic.corpus.CorpusWriter`),
which appears only when complete.

The cache remembers the feature settings it was made with (``<cache>/features.json``) and
refuses a run with other settings; a lock file keeps two runs from sharing it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from hdpmusic.atomic import atomic_path
from hdpmusic.errors import DataError, HdpmusicError, ParameterError
from hdpmusic.features import DEFAULT_CONFIG, FeatureConfig, extract_features
from hdpmusic.progress import progress_bar

__all__ = [
    "AUDIO_EXTENSIONS",
    "ExtractionReport",
    "audio_paths",
    "cache_path",
    "extract_collection",
    "extract_track",
    "find_tracks",
]

log = logging.getLogger(__name__)

#: file name extensions taken as audio when a directory is searched
AUDIO_EXTENSIONS = frozenset({".wav", ".wave", ".flac", ".ogg", ".oga", ".mp3", ".au",
                              ".snd", ".aiff", ".aif", ".aifc", ".m4a", ".opus"})

_CONFIG_FILE = "features.json"
_FAILURES_FILE = "failures.jsonl"
_LOCK_FILE = ".lock"


@dataclass
class ExtractionReport:
    """Outcome of :func:`extract_collection`.

    Attributes
    ----------
    corpus : pathlib.Path
        The corpus file written.
    n_ok : int
        Tracks in the corpus (``n_cached + n_computed``).
    n_failed : int
        Tracks that failed (listed in ``failures``; not in the corpus).
    n_cached : int
        Tracks found in the cache, not recomputed by this run.
    n_computed : int
        Tracks computed by this run.
    failures : pathlib.Path
        The ``failures.jsonl`` file (empty when nothing failed).
    failed_ids : list of str
        Ids of the failed tracks, sorted.
    """

    corpus: Path
    n_ok: int
    n_failed: int
    n_cached: int
    n_computed: int
    failures: Path
    failed_ids: list[str] = field(default_factory=list)


def find_tracks(source: str | os.PathLike) -> list[tuple[str, Path]]:
    """``(id, path)`` of every track of a directory, a list file or one audio file.

    Parameters
    ----------
    source : path-like
        * a directory: searched recursively for files with an extension in
          :data:`AUDIO_EXTENSIONS` (hidden files and folders skipped); ids are the paths
          relative to it, with ``/`` separators, sorted;
        * a list file (UTF-8 text): one track per line, ``path`` or ``path<TAB>id``;
          relative paths are resolved against the list file's folder; the id defaults
          to the path as written; blank lines and lines starting with ``#`` are skipped;
        * one audio file: its file name is the id.

    Returns
    -------
    list of (str, pathlib.Path)

    Raises
    ------
    HdpmusicError
        ``source`` does not exist, holds no audio / names no track, or a list file
        repeats an id.
    """
    source = Path(source)
    if source.is_dir():
        tracks = []
        for root, dirs, files in os.walk(source):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in files:
                if not name.startswith(".") and Path(name).suffix.lower() in AUDIO_EXTENSIONS:
                    path = Path(root) / name
                    tracks.append((path.relative_to(source).as_posix(), path))
        if not tracks:
            raise HdpmusicError(f"{source}: no audio files found (looked for "
                                f"{', '.join(sorted(AUDIO_EXTENSIONS))}); give a folder "
                                f"of audio files or a list file")
        return sorted(tracks)
    if not source.exists():
        raise HdpmusicError(f"{source}: no such directory or list file")
    if source.suffix.lower() in AUDIO_EXTENSIONS:
        return [(source.name, source)]
    try:
        lines = source.read_text(encoding="utf-8").splitlines()
    except (UnicodeDecodeError, OSError) as err:
        raise HdpmusicError(f"{source}: not a directory, an audio file or a UTF-8 list "
                            f"file of paths ({type(err).__name__})") from None
    tracks = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, 1):
        line = line.rstrip("\r")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        path, _, song_id = line.partition("\t")
        path, song_id = path.strip(), song_id.strip() or path.strip()
        if song_id in seen:
            raise HdpmusicError(f"{source}: line {number}: track id {song_id!r} already "
                                f"used on line {seen[song_id]}; ids must be unique")
        seen[song_id] = number
        full = Path(path).expanduser()
        tracks.append((song_id, full if full.is_absolute() else source.parent / full))
    if not tracks:
        raise HdpmusicError(f"{source}: the list file names no tracks "
                            f"(one 'path' or 'path<TAB>id' per line)")
    return tracks


def cache_path(cache: str | os.PathLike, song_id: str) -> Path:
    """Where a track's features are cached.

    ``<cache>/<hh>/<id, percent-quoted>.npy`` with ``hh`` the first two hex digits of
    the SHA-1 of the id (at most 256 folders); every id maps to its own file, and ids
    too long for a file name end in their full SHA-1 instead.
    """
    digest = hashlib.sha1(song_id.encode("utf-8")).hexdigest()
    name = quote(song_id, safe=" !$&'()+,-.;=@[]^_`{}~")
    if len(name) > 180 or name.startswith("."):
        name = f"{name[:120].lstrip('.')}~{digest}"
    return Path(cache) / digest[:2] / f"{name}.npy"


def extract_track(path: str | os.PathLike, target: str | os.PathLike,
                  config: FeatureConfig = DEFAULT_CONFIG) -> tuple[str, str | None]:
    """Compute one track's features into ``target`` atomically, unless it exists.

    Parameters
    ----------
    path : path-like
        The audio file.
    target : path-like
        The ``.npy`` cache file (see :func:`cache_path`).
    config : FeatureConfig

    Returns
    -------
    status : {"cached", "done", "failed"}
    error : str or None
        One-line reason of a failure.
    """
    target = Path(target)
    if target.exists():
        return "cached", None
    try:
        features = extract_features(path, config=config)
    except DataError as err:
        return "failed", _one_line(str(err))
    except Exception as err:  # anything a decoder may throw: keep the run going
        return "failed", _one_line(f"{path}: {type(err).__name__}: {err}")
    with atomic_path(target) as tmp, open(tmp, "wb") as fh:
        np.save(fh, features, allow_pickle=False)
    return "done", None


def extract_collection(source: str | os.PathLike, out: str | os.PathLike, *, jobs: int = 1,
                       cache: str | os.PathLike | None = None, overwrite: bool = False,
                       config: FeatureConfig = DEFAULT_CONFIG, progress: bool = True,
                       backend: str | None = None) -> ExtractionReport:
    """Extract the features of every track of ``source`` and pack them into ``out``.

    Parameters
    ----------
    source : path-like
        A directory of audio files, a list file or one audio file (see
        :func:`find_tracks`).
    out : path-like
        The corpus file to write (HDF5, :class:`hdpmusic.corpus.CorpusWriter`); attrs
        ``feature_config``, ``columns``, ``sr``, ``hop_length`` describe the features.
    jobs : int
        Worker processes (``-1``: one per core). ``1`` runs in this process.
    cache : path-like, optional
        Feature cache folder (default ``<out>.cache`` beside ``out``); kept after the
        run, so a rerun — after a kill, or with more audio — only computes what is
        missing. Delete it when the corpus is final.
    overwrite : bool
        Replace an existing ``out``.
    config : FeatureConfig
        Feature settings (default: the paper's).
    progress : bool
        Show a progress bar (tqdm, on stderr).
    backend : str, optional
        joblib backend for ``jobs != 1`` (default ``"loky"`` processes; ``"dask"``
        inside a ``dask.distributed.Client`` context runs the tracks on a cluster;
        features are bit-identical to a local run when the workers' BLAS uses one
        thread, as dask's nanny-started workers do by default — OpenBLAS ignores
        limits set from a worker thread).

    Returns
    -------
    ExtractionReport

    Raises
    ------
    HdpmusicError
        ``out`` exists (without ``overwrite``), no tracks are found, the cache was made
        with other settings or is in use, or every track failed. Nothing is written to
        ``out`` then.
    """
    from hdpmusic.corpus import CorpusWriter

    out = Path(out)
    if jobs == 0:
        raise ParameterError("jobs must be a positive number of processes or -1 (all cores)")
    if out.exists() and not overwrite:
        raise HdpmusicError(f"{out} exists; pass --overwrite (overwrite=True) to replace it")
    tracks = find_tracks(source)
    cache = Path(cache) if cache is not None else out.with_name(out.name + ".cache")
    with _cache_lock(cache):
        _check_cache_config(cache, config)
        statuses = _run_jobs(tracks, cache, config, jobs=jobs, progress=progress,
                             backend=backend)
        failures = {song_id: error for song_id, (status, error) in statuses.items()
                    if status == "failed"}
        failures_path = cache / _FAILURES_FILE
        with atomic_path(failures_path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
            for song_id, path in tracks:
                if song_id in failures:
                    fh.write(json.dumps({"id": song_id, "path": str(path),
                                         "error": failures[song_id]},
                                        ensure_ascii=False) + "\n")
        n_cached = sum(status == "cached" for status, _ in statuses.values())
        n_computed = sum(status == "done" for status, _ in statuses.values())
        ok = [song_id for song_id, _ in tracks if song_id not in failures]
        if failures:
            log.warning("%d of %d tracks failed (listed in %s), e.g. %s", len(failures),
                        len(tracks), failures_path, next(iter(failures.values())))
        if not ok:
            raise HdpmusicError(f"all {len(tracks)} tracks failed; see {failures_path} "
                                f"(first: {next(iter(failures.values()))})")
        attrs = {"feature_config": config.to_dict(), "columns": config.column_names,
                 "sr": config.sr, "hop_length": config.hop_length}
        attrs["audio_root"] = str(Path(source).resolve())  # see audio_paths
        with CorpusWriter(out, config.dim, attrs=attrs, overwrite=overwrite) as writer:
            for song_id in ok:
                writer.append(song_id, _load_cached(cache_path(cache, song_id), config))
    log.debug("%s: %d tracks (%d from the cache, %d computed), %d failed", out, len(ok),
              n_cached, n_computed, len(failures))
    return ExtractionReport(out, len(ok), len(failures), n_cached, n_computed,
                            failures_path, sorted(failures))


def _one_line(text: str) -> str:
    return " ".join(text.split()) or "unknown error"


def _load_cached(path: Path, config: FeatureConfig) -> np.ndarray:
    """A cached track's features, checked (a bad file is named with the fix)."""
    try:
        frames = np.load(path, allow_pickle=False)
    except Exception as err:
        raise HdpmusicError(f"{path}: unreadable cache file ({type(err).__name__}); "
                            f"delete it and rerun to recompute the track") from err
    if frames.ndim != 2 or frames.shape[1] != config.dim or frames.dtype != np.float32:
        raise HdpmusicError(f"{path}: cache file holds {frames.dtype} {frames.shape}, "
                            f"expected float32 (n, {config.dim}); delete it and rerun")
    return frames


@contextlib.contextmanager
def _cache_lock(cache: Path) -> Iterator[None]:
    """Hold an exclusive lock on the cache; clear temporary files of killed runs."""
    cache.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        fcntl = None  # type: ignore[assignment]
    with open(cache / _LOCK_FILE, "a+") as fh:
        if fcntl is not None:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise HdpmusicError(f"{cache} is in use by another extraction; wait for "
                                    f"it to finish or pass another --cache") from None
        # temporary files left by a killed run (named by atomic_path)
        for stale in [*cache.glob(".*.tmp-*"), *cache.glob("*/.*.tmp-*")]:
            with contextlib.suppress(OSError):
                stale.unlink()
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _check_cache_config(cache: Path, config: FeatureConfig) -> None:
    """Record the settings in a new cache; refuse a cache made with other settings."""
    meta = cache / _CONFIG_FILE
    want = {"feature_config": config.to_dict(), "columns": config.column_names}
    if meta.exists():
        try:
            have = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            have = None
        if have != want:
            raise HdpmusicError(f"{cache} holds features made with other settings (see "
                                f"{meta}); pass another --cache or delete that folder")
        return
    with atomic_path(meta) as tmp:
        tmp.write_text(json.dumps(want, indent=1), encoding="utf-8")


def _run_jobs(tracks: list[tuple[str, Path]], cache: Path, config: FeatureConfig, *,
              jobs: int, progress: bool,
              backend: str | None) -> dict[str, tuple[str, str | None]]:
    """Status of every track, computing the ones not cached yet (in parallel)."""
    statuses: dict[str, tuple[str, str | None]] = {}
    todo = []
    for song_id, path in tracks:
        if cache_path(cache, song_id).exists():
            statuses[song_id] = ("cached", None)
        else:
            todo.append((song_id, path))
    if jobs != 1 or backend is not None:  # largest first: no long track left for the end
        todo.sort(key=lambda track: -_file_size(track[1]))
    with progress_bar(len(tracks), "extracting", unit="track", enabled=progress,
                      initial=len(tracks) - len(todo), leave=True) as bar:
        for song_id, status, error in _map(todo, cache, config, jobs=jobs, backend=backend):
            statuses[song_id] = (status, error)
            bar.update(1)
    return statuses


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _map(todo: list[tuple[str, Path]], cache: Path, config: FeatureConfig, *, jobs: int,
         backend: str | None) -> Iterator[tuple[str, str, str | None]]:
    """Run :func:`_job` on every track, yielding results as they finish."""
    from threadpoolctl import threadpool_limits

    if not todo:
        return
    if jobs == 1 and backend is None:
        with threadpool_limits(limits=1):  # same numbers as in the worker processes
            for song_id, path in todo:
                yield _job(song_id, path, cache_path(cache, song_id), config)
        return
    from joblib import Parallel, delayed, parallel_config

    from hdpmusic.threads import n_jobs

    context = (parallel_config(backend=backend) if backend else
               parallel_config(backend="loky", inner_max_num_threads=1))
    calls = (delayed(_job)(song_id, path, cache_path(cache, song_id), config,
                           backend is not None)
             for song_id, path in todo)
    with context:
        yield from Parallel(n_jobs=n_jobs(jobs), return_as="generator_unordered")(calls)


def _job(song_id: str, path: Path, target: Path, config: FeatureConfig,
         limit_threads: bool = False) -> tuple[str, str, str | None]:
    """One track (a worker's task): ``(id, status, error)``."""
    if limit_threads:  # loky workers already start with one thread per library
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1):
            return (song_id, *extract_track(path, target, config))
    return (song_id, *extract_track(path, target, config))


def audio_paths(corpus: Any, audio_root: str | os.PathLike | None = None) -> list[str]:
    """The audio file of every song of a corpus, in corpus order.

    ``hdpmusic extract`` records what it read (a folder, a list file or one audio file)
    in the corpus attribute ``audio_root``; the songs' ids map back to their files
    through it as through :func:`find_tracks`.

    Parameters
    ----------
    corpus : Corpus
    audio_root : path-like, optional
        A folder the ids are relative paths in, or a list file (``path<TAB>id`` lines)
        naming every id; overrides the recorded one.

    Returns
    -------
    list of str, length J

    Raises
    ------
    HdpmusicError
        Nothing known or found where it points, or songs without an audio file.
    """
    root = audio_root or corpus.attrs.get("audio_root")
    where = corpus.path or "the corpus"
    hint = "pass --audio-root DIR|LIST, the folder its song ids are relative to or a list file"
    if not root:
        raise HdpmusicError(f"{where} does not record where its audio files are; {hint}")
    root = Path(root)
    if root.is_dir():
        paths = [root / song for song in corpus.ids]
        missing = [str(p) for p, song in zip(paths, corpus.ids, strict=True)
                   if not p.is_file()]
    elif root.is_file():
        known = dict(find_tracks(root))
        paths = [known.get(song, Path(song)) for song in corpus.ids]
        missing = [song for song in corpus.ids if song not in known or not known[song].is_file()]
    else:
        raise HdpmusicError(f"audio source {root} (for {where}) does not exist; {hint}")
    if missing:
        raise HdpmusicError(f"{len(missing)} of {len(paths)} audio files of {where} are "
                            f"missing in {root} (e.g. {missing[0]}); {hint}")
    return [str(p) for p in paths]
