"""Feature extraction of a whole collection: parallel, cached per track, resumable.

:func:`extract_collection` finds the tracks (a directory, a list file or one audio
file), computes :func:`~hdpmusic.audio.features.extract_features` for each track not cached
yet, in worker processes (joblib/loky, one BLAS/numba thread each), and caches every
track's features as ``<cache>/<hh>/<quoted id>#<key>.npy`` (``hh``: two hex digits of the
id's SHA-1; ``key``: the audio file's size and modification time, or its content hash,
so a changed file is recomputed; written to a temporary name and renamed, so a killed
run leaves only complete files and a rerun redoes no finished track). Failed tracks are
listed in ``<cache>/failures.jsonl`` and retried by the next run. Finally the cached
features are streamed, one track at a time, into a corpus file
(:class:`hdpmusic.formats.corpus_writer.CorpusWriter`), which appears only when complete.

The cache remembers the feature settings it was made with (``<cache>/features.json``) and
refuses a run with other settings; a lock file keeps two runs from sharing it. Each track
computed is recorded with the library versions that computed it
(:mod:`hdpmusic.audio.provenance`), and the corpus counts its tracks per set of versions
(attribute ``feature_libraries``).

Worker processes: librosa's numba functions are compiled once in this process before
any worker starts (:func:`hdpmusic.audio.features.warm_up`: workers, or runs, compiling at once
corrupt numba's disk cache; runs started together take turns), workers end within a second
of this process's death (:func:`hdpmusic.runtime.workers.exit_with_parent`), and a worker that
dies on a track (a crash, the kernel's out-of-memory killer) does not end the run: the
tracks it may have held are retried one at a time in fresh workers, and a track whose
worker dies again is recorded as failed. Workers are at most one per CPU granted and
per track (:func:`hdpmusic.runtime.threads.worker_count`). A track that takes longer than the
``timeout`` (:data:`DEFAULT_TIMEOUT`) is recorded as failed; a worker stuck in C code
past it ends itself. ``SIGTERM`` ends a run as Ctrl-C does (workers shut down, lock
files removed; :func:`hdpmusic.runtime.workers.terminate_as_interrupt`).

The steps are public for :mod:`hdpmusic.pipeline.embed`, which shares the cache: :func:`open_cache`,
:func:`track_entries`, :func:`compute_features`, :func:`load_cached`,
:func:`record_failures`.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import re
import stat
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from hdpmusic.audio.features import DEFAULT_CONFIG, FeatureConfig, extract_features, warm_up
from hdpmusic.audio.provenance import (
    ProvenanceLog,
    library_versions,
    mixed_libraries,
    summarise_provenance,
)
from hdpmusic.formats.atomic import (
    atomic_path,
    check_output,
    check_space,
    check_writable,
    remove_stale_temporaries,
)
from hdpmusic.formats.filekind import AUDIO_EXTENSIONS
from hdpmusic.formats.locking import exclusive_lock
from hdpmusic.runtime.errors import DataError, HdpmusicError, ParameterError
from hdpmusic.runtime.progress import progress_bar
from hdpmusic.runtime.threads import check_jobs as check
from hdpmusic.runtime.threads import n_jobs, worker_count
from hdpmusic.runtime.workers import (
    TimeLimitError,
    exit_after,
    exit_with_parent,
    quiet_resource_tracker,
    terminate_as_interrupt,
    time_limit,
)

__all__ = [
    "AUDIO_EXTENSIONS",
    "DEFAULT_TIMEOUT",
    "ExtractionReport",
    "audio_paths",
    "cache_path",
    "check_jobs",
    "compute_features",
    "extract_collection",
    "extract_track",
    "find_tracks",
    "load_cached",
    "open_cache",
    "record_failures",
    "source_key",
    "track_entries",
]

log = logging.getLogger(__name__)


_CONFIG_FILE = "features.json"
_FAILURES_FILE = "failures.jsonl"
_LOCK_FILE = ".lock"
_KEY_SEP = "#"  # between the quoted id and the key in a cache file name (quote escapes #)

#: seconds a track may take by default (an hour of audio takes about a minute)
DEFAULT_TIMEOUT = 600.0

#: seconds past its timeout after which the worker of a track stuck in C code is ended
_HARD_GRACE = 30.0

#: a track being processed: (id, audio file, cache file)
_Task = tuple[str, Path, Path]

#: a track processed: (id, status, error, library versions of a computed one)
_Result = tuple[str, str, str | None, dict[str, str] | None]


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
          :data:`AUDIO_EXTENSIONS` (hidden files and folders skipped, and files that are
          not regular files, such as a FIFO, with a warning); ids are the paths
          relative to it, with ``/`` separators, sorted (bytes of a file name that are
          not UTF-8 are written ``\\xNN`` in its id; :func:`track_entries` fails it);
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
        for path in _audio_files(source):
            tracks.append((_text(path.relative_to(source).as_posix()), path))
        if not tracks:
            raise HdpmusicError(f"{source}: no audio files found (looked for "
                                f"{', '.join(sorted(AUDIO_EXTENSIONS))}); give a folder "
                                f"of audio files or a list file")
        return sorted(tracks)
    if not source.exists():
        raise HdpmusicError(f"{source}: no such directory or list file")
    if source.suffix.lower() in AUDIO_EXTENSIONS:
        return [(_text(source.name), source)]
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
        fields = line.split("\t")
        if len(fields) > 2:
            raise HdpmusicError(f"{source}: line {number} has {len(fields)} tab-separated "
                                f"columns; a list file line is 'path' or 'path<TAB>id' (an "
                                f"id may not hold a tab)")
        path = fields[0].strip()
        song_id = (fields[1].strip() if len(fields) == 2 else "") or path
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


def _audio_files(folder: Path) -> Iterator[Path]:
    """The regular files with an audio extension under ``folder`` (not hidden ones); the
    others (a FIFO would block the reader forever, a device) are skipped with a warning."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            path = Path(root) / name
            if name.startswith(".") or path.suffix.lower() not in AUDIO_EXTENSIONS:
                continue
            if path.is_file():
                yield path
            else:
                log.warning("%s: skipped: not a regular file (a FIFO, a device or a "
                            "socket)", _text(str(path)))


def cache_path(cache: str | os.PathLike, song_id: str, key: str) -> Path:
    """Where a track's features are cached.

    ``<cache>/<hh>/<id, percent-quoted>#<key>.npy`` with ``hh`` the first two hex digits
    of the SHA-1 of the id (at most 256 folders); every id maps to its own name, and ids
    too long for a file name end in their full SHA-1 instead.

    Parameters
    ----------
    cache : path-like
        The cache folder.
    song_id : str
    key : str
        What identifies the audio the features were made from (:func:`source_key`).
    """
    digest = hashlib.sha1(song_id.encode("utf-8")).hexdigest()
    name = quote(song_id, safe=" !$&'()+,-.;=@[]^_`{}~")
    if len(name) > 180 or name.startswith("."):
        name = f"{name[:120].lstrip('.')}~{digest}"
    return Path(cache) / digest[:2] / f"{name}{_KEY_SEP}{key}.npy"


def source_key(path: str | os.PathLike, content_hash: bool = False) -> str:
    """What identifies an audio file's content in the feature cache.

    Parameters
    ----------
    path : path-like
        The audio file.
    content_hash : bool
        Hash the file's bytes (SHA-256; reads the whole file) instead of taking its size
        and modification time (a copy that does not keep modification times, such as
        ``cp`` without ``-p``, then keeps its cache entries).

    Returns
    -------
    str
        ``"<size>-<mtime in ns>"`` or ``"sha256-<32 hex digits>"``.

    Raises
    ------
    OSError
        The file cannot be read, or is not a regular file (hashing a FIFO would wait
        for a writer forever).
    """
    info = os.stat(path)
    if not stat.S_ISREG(info.st_mode):
        raise OSError(errno.EINVAL, "not a regular file: a FIFO, a device or a socket")
    if content_hash:
        with open(path, "rb") as fh:
            return "sha256-" + hashlib.file_digest(fh, "sha256").hexdigest()[:32]
    return f"{info.st_size}-{info.st_mtime_ns}"


def extract_track(path: str | os.PathLike, target: str | os.PathLike,
                  config: FeatureConfig = DEFAULT_CONFIG, recompute: bool = False,
                  timeout: float | None = None) -> tuple[str, str | None]:
    """Compute one track's features into ``target`` atomically, unless it exists.

    Parameters
    ----------
    path : path-like
        The audio file.
    target : path-like
        The ``.npy`` cache file (see :func:`cache_path`).
    config : FeatureConfig
    recompute : bool
        Compute (and replace ``target``) even if ``target`` exists.
    timeout : float, optional
        Give up after this many seconds (:func:`hdpmusic.runtime.workers.time_limit`: in the
        main thread; a decoder stuck in C code is only stopped by the worker's
        :func:`~hdpmusic.runtime.workers.exit_after`); None or 0: no limit.

    Returns
    -------
    status : {"cached", "done", "failed"}
    error : str or None
        One-line reason of a failure.
    """
    target = Path(target)
    if target.exists() and not recompute:
        return "cached", None
    try:
        with time_limit(timeout):
            features = extract_features(path, config=config)
    except TimeLimitError as err:
        return "failed", _one_line(f"{path}: {err} (--timeout); a decoder may be stuck "
                                   f"on it, or raise --timeout for a very long track")
    except DataError as err:
        return "failed", _one_line(str(err))
    except Exception as err:  # anything a decoder may throw: keep the run going
        return "failed", _one_line(f"{path}: {type(err).__name__}: {err}")
    with atomic_path(target) as tmp, open(tmp, "wb") as fh:
        np.save(fh, features, allow_pickle=False)
    return "done", None


def extract_collection(source: str | os.PathLike, out: str | os.PathLike, *, jobs: int = 1,
                       cache: str | os.PathLike | None = None, overwrite: bool = False,
                       recompute: bool = False, content_hash: bool = False,
                       config: FeatureConfig = DEFAULT_CONFIG, progress: bool = True,
                       backend: str | None = None,
                       timeout: float | None = DEFAULT_TIMEOUT) -> ExtractionReport:
    """Extract the features of every track of ``source`` and pack them into ``out``.

    Parameters
    ----------
    source : path-like
        A directory of audio files, a list file or one audio file (see
        :func:`find_tracks`).
    out : path-like
        The corpus file to write (HDF5, :class:`hdpmusic.formats.corpus_writer.CorpusWriter`); attrs
        ``feature_config``, ``columns``, ``sr``, ``hop_length`` describe the features,
        ``feature_libraries`` the library versions that computed them
        (:func:`hdpmusic.audio.provenance.summarise_provenance`).
    jobs : int
        Worker processes (``-1``: one per core). ``1`` runs in this process.
    cache : path-like, optional
        Feature cache folder (default ``<out>.cache`` beside ``out``); kept after the
        run, so a rerun — after a kill, or with more audio — only computes what is
        missing. Delete it when the corpus is final.
    overwrite : bool
        Replace an existing ``out``.
    recompute : bool
        Compute every track again, replacing its cache entry (``hdpmusic extract
        --recompute``). Otherwise a track is taken from the cache when its audio
        file is unchanged (same :func:`source_key`).
    content_hash : bool
        Key cache entries on a hash of each audio file's bytes instead of its size and
        modification time (:func:`source_key`; reads every file once more per run).
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
    timeout : float, optional
        Seconds a track may take (default :data:`DEFAULT_TIMEOUT`); a track that takes
        longer is listed as failed. A worker process stuck in a decoder's C code is
        ended ``_HARD_GRACE`` seconds later (and the track retried once, see
        :func:`compute_features`). Not enforced in dask's worker threads. None or 0: no
        limit.

    Returns
    -------
    ExtractionReport

    Raises
    ------
    HdpmusicError
        ``out`` exists (without ``overwrite``), the folder of ``out`` or the cache folder
        cannot be written, no tracks are found, the cache was made with other settings
        or is in use, or every track failed. Nothing is written to ``out`` then.
    """
    from hdpmusic.formats.corpus_writer import CorpusWriter, corpus_bytes

    out = Path(out)
    check_jobs(jobs)
    _check_timeout(timeout)
    check_output(out, {"the audio source": source, "the feature cache": cache})
    if out.exists() and not overwrite:
        raise HdpmusicError(f"{out} exists; pass --overwrite (overwrite=True) to replace it")
    tracks = find_tracks(source)
    cache = Path(cache) if cache is not None else out.with_name(out.name + ".cache")
    remove_stale_temporaries(out)
    with terminate_as_interrupt(), open_cache(cache, config):
        tasks, failures = track_entries(tracks, cache, content_hash)
        statuses = compute_features(tasks, config, cache=cache, jobs=jobs,
                                    progress=progress, backend=backend, recompute=recompute,
                                    total=len(tracks), timeout=timeout)
        failures.update({song_id: error for song_id, (status, error) in statuses.items()
                         if status == "failed"})
        targets = {song_id: target for song_id, _, target in tasks}
        failures_path = record_failures(cache, tracks, failures)
        n_cached = len(tasks) - len(statuses)
        n_computed = sum(status == "done" for status, _ in statuses.values())
        ok = [song_id for song_id, _ in tracks if song_id not in failures]
        libraries = summarise_provenance(cache, (targets[song_id] for song_id in ok))
        _warn_mixed(libraries, cache)
        attrs = {"feature_config": config.to_dict(), "columns": config.column_names,
                 "sr": config.sr, "hop_length": config.hop_length,
                 "feature_libraries": libraries}
        root, audio_files = audio_layout(source, dict(tracks), ok)   # see audio_paths
        attrs["audio_root"] = root
        cached = sum(_file_size(targets[song_id]) for song_id in ok)
        check_space(out, corpus_bytes(cached // (4 * config.dim), len(ok), config.dim))
        with CorpusWriter(out, config.dim, attrs=attrs, overwrite=overwrite) as writer:
            for song_id, audio_file in zip(ok, audio_files, strict=True):
                writer.append(song_id, load_cached(targets[song_id], config),
                              audio_file=audio_file)
    log.debug("%s: %d tracks (%d from the cache, %d computed), %d failed", out, len(ok),
              n_cached, n_computed, len(failures))
    return ExtractionReport(out, len(ok), len(failures), n_cached, n_computed,
                            failures_path, sorted(failures))


def _warn_mixed(libraries: list[dict[str, Any]], cache: Path) -> None:
    """Warn when the tracks of a corpus were computed with several library releases."""
    differ = mixed_libraries(libraries)
    if differ:
        sets = sum(row["libraries"] is not None for row in libraries)
        log.warning("the tracks were computed with %d sets of library versions (they "
                    "differ in %s; `hdpmusic corpus info` counts them); rerun with "
                    "--recompute for features of one release, or pass another --cache "
                    "than %s", sets, ", ".join(differ), cache)


def _text(name: str) -> str:
    """A file name as UTF-8 text: bytes that are not UTF-8 (which Python keeps as
    surrogate escapes) become ``\\xNN``; any other name is returned as it is."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def _one_line(text: str) -> str:
    return " ".join(text.split()) or "unknown error"


def check_jobs(jobs: int) -> None:
    """Raise :class:`ParameterError` unless ``jobs`` is -1 (one per core) or positive
    (:func:`hdpmusic.runtime.threads.check_jobs`)."""

    check(jobs)


def _check_timeout(timeout: float | None) -> None:
    """Raise :class:`ParameterError` unless ``timeout`` is None or a number >= 0."""
    if timeout is not None and not timeout >= 0:
        raise ParameterError(f"timeout {timeout:g} s (--timeout): give a number of seconds "
                             f">= 0 (0: no limit)")


@contextlib.contextmanager
def open_cache(cache: str | os.PathLike, config: FeatureConfig) -> Iterator[Path]:
    """Hold a feature cache for one run: writable, locked, and checked against ``config``.

    Yields
    ------
    pathlib.Path
        The cache folder (created when missing).

    Raises
    ------
    HdpmusicError
        The cache folder cannot be written, is in use by another run, or was made with
        other settings.
    """
    cache = check_writable(cache, "cache folder")
    with _cache_lock(cache):
        _check_cache_config(cache, config)
        yield cache


def record_failures(cache: Path, tracks: list[tuple[str, Path]],
                    failures: dict[str, str | None]) -> Path:
    """Write ``<cache>/failures.jsonl`` (one JSON line per failed track, in track order)
    and warn of the failures.

    Returns
    -------
    pathlib.Path
        The file (empty when nothing failed).

    Raises
    ------
    HdpmusicError
        Every track failed (the message names the file and the first error).
    """
    failures_path = cache / _FAILURES_FILE
    with atomic_path(failures_path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for song_id, path in tracks:
            if song_id in failures:
                fh.write(json.dumps({"id": song_id, "path": _text(str(path)),
                                     "error": failures[song_id]},
                                    ensure_ascii=False) + "\n")
    if failures:
        first = next(iter(failures.values()))
        if len(failures) == len(tracks):
            raise HdpmusicError(f"all {len(tracks)} tracks failed; see {failures_path} "
                                f"(first: {first})")
        log.warning("%d of %d tracks failed (listed in %s), e.g. %s", len(failures),
                    len(tracks), failures_path, first)
    return failures_path


def load_cached(path: str | os.PathLike, config: FeatureConfig) -> np.ndarray:
    """A cached track's features, checked (a bad file is named with the fix).

    Parameters
    ----------
    path : path-like
        The cache file (a track's entry from :func:`track_entries`).
    config : FeatureConfig

    Returns
    -------
    np.ndarray, shape (n_frames, config.dim), float32
    """
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
    with exclusive_lock(cache / _LOCK_FILE, f"{cache} is in use by another extraction; wait "
                        f"for it to finish or pass another --cache"):
        # temporary files left by a killed run (named by atomic_path)
        for stale in [*cache.glob(".*.tmp-*"), *cache.glob("*/.*.tmp-*")]:
            with contextlib.suppress(OSError):
                stale.unlink()
        yield


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


def track_entries(tracks: list[tuple[str, Path]], cache: Path,
                  content_hash: bool = False) -> tuple[list[_Task], dict[str, str]]:
    """Every readable track with its cache file; why the others cannot be read.

    Cache entries of these ids made from another version of the audio (another key, or
    the key-less names of older versions of this module) are removed.

    Parameters
    ----------
    tracks : list of (str, pathlib.Path)
        ``(id, audio file)``, as from :func:`find_tracks`.
    cache : pathlib.Path
        A cache folder held with :func:`open_cache`.
    content_hash : bool
        Key the entries on the files' content (see :func:`source_key`).

    Returns
    -------
    tasks : list of (str, pathlib.Path, pathlib.Path)
        ``(id, audio file, cache file)`` of the readable tracks, in track order.
    unreadable : dict
        ``id -> error`` of the tracks whose audio file cannot be read or whose name is
        not valid UTF-8 (an id must be text: an HDF5 string, a JSON string).
    """
    entries: dict[Path, list[Path]] = {}
    for entry in cache.glob("??/*.npy"):
        entries.setdefault(_entry_track(entry), []).append(entry)
    tasks, unreadable = [], {}
    for song_id, path in tracks:
        if _text(str(path)) != str(path):
            unreadable[song_id] = (f"{_text(str(path))}: the file name is not valid UTF-8 "
                                   f"(the corpus and failures.jsonl hold UTF-8 text); "
                                   f"rename it, e.g. with convmv, to extract it")
            continue
        try:
            target = cache_path(cache, song_id, source_key(path, content_hash))
        except OSError as err:
            unreadable[song_id] = _one_line(f"{path}: cannot read the file "
                                            f"({err.strerror or type(err).__name__})")
            continue
        for entry in entries.get(_entry_track(target), []):
            if entry != target:
                entry.unlink(missing_ok=True)
        tasks.append((song_id, path, target))
    return tasks, unreadable


def _entry_track(entry: Path) -> Path:
    """``<cache>/<hh>/<quoted id>`` of a cache file, whatever its key."""
    return entry.with_name(entry.stem.rpartition(_KEY_SEP)[0] or entry.stem)


def compute_features(tasks: list[_Task], config: FeatureConfig, *, cache: Path,
                     jobs: int = 1, progress: bool = True, backend: str | None = None,
                     recompute: bool = False, total: int | None = None,
                     timeout: float | None = DEFAULT_TIMEOUT,
                     ) -> dict[str, tuple[str, str | None]]:
    """Cache the features of every track not cached yet (in parallel).

    Parameters
    ----------
    tasks : list of (str, pathlib.Path, pathlib.Path)
        ``(id, audio file, cache file)``, from :func:`track_entries`.
    config : FeatureConfig
    cache : pathlib.Path
        The cache folder holding the tasks' cache files (held with :func:`open_cache`);
        each track computed is recorded in its :class:`~hdpmusic.audio.provenance.ProvenanceLog`
        with the library versions of the process that computed it.
    jobs, progress, backend, recompute, timeout
        As in :func:`extract_collection`.
    total : int, optional
        Tracks counted by the progress bar (default ``len(tasks)``); those not in
        ``tasks`` count as done from the start.

    Returns
    -------
    dict
        ``id -> (status, error)`` of the tracks computed (the others were cached):
        status ``"done"`` (error None) or ``"failed"`` (error: a one-line reason).
    """
    n_tracks = len(tasks) if total is None else total
    todo = tasks if recompute else [task for task in tasks if not task[2].exists()]
    if jobs != 1 or backend is not None:  # largest first: no long track left for the end
        todo = sorted(todo, key=lambda task: -_file_size(task[1]))
    statuses: dict[str, tuple[str, str | None]] = {}
    targets = {song_id: target for song_id, _, target in todo}
    with terminate_as_interrupt(), ProvenanceLog(cache) as provenance, \
            progress_bar(n_tracks, "extracting", unit="track", enabled=progress,
                         initial=n_tracks - len(todo), leave=True) as bar:
        for song_id, status, error, versions in _map(todo, config, jobs=jobs,
                                                     backend=backend, recompute=recompute,
                                                     timeout=timeout):
            statuses[song_id] = ("done" if status == "cached" else status, error)
            if versions is not None:
                provenance.record(targets[song_id], versions)
            bar.update(1)
    return statuses


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _map(todo: list[_Task], config: FeatureConfig, *, jobs: int, backend: str | None,
         recompute: bool, timeout: float | None) -> Iterator[_Result]:
    """Run :func:`_job` on every track, yielding results as they finish.

    In worker processes (unless ``jobs == 1`` without a backend), after compiling
    librosa's numba functions here (:func:`~hdpmusic.audio.features.warm_up`, which also makes
    runs started at once take turns at it). When a worker
    dies, the tracks in flight are retried one at a time (each in a fresh worker, so the
    culprit is known); a track whose worker dies again is reported as failed.
    """
    from threadpoolctl import threadpool_limits

    if not todo:
        return
    warm_up(config)
    if jobs == 1 and backend is None:
        with threadpool_limits(limits=1):  # same numbers as in the worker processes
            for song_id, path, target in todo:
                yield _job(song_id, path, target, config, recompute, timeout)
        return
    queue = deque(todo)
    while queue:
        dispatched: list[_Task] = []
        finished: set[str] = set()
        try:
            for result in _parallel(queue, dispatched, config, jobs=jobs, backend=backend,
                                    recompute=recompute, timeout=timeout):
                finished.add(result[0])
                yield result
        except BrokenProcessPool as err:  # queue: what was not dispatched
            suspects = [task for task in dispatched if task[0] not in finished]
            log.warning("a worker process died (%s); retrying its %d possible tracks one "
                        "at a time", _exit_codes(err), len(suspects))
            for task in suspects:
                try:
                    yield from _parallel(deque([task]), [], config, jobs=jobs,
                                         backend=backend, recompute=recompute,
                                         timeout=timeout)
                except BrokenProcessPool as again:
                    yield (task[0], "failed",
                           _one_line(f"{task[1]}: the worker process extracting it died "
                                     f"twice (a crash in a decoder, killed for memory, or "
                                     f"stuck past --timeout; {_exit_codes(again)})"), None)


def _parallel(queue: deque[_Task], dispatched: list[_Task], config: FeatureConfig, *,
              jobs: int, backend: str | None, recompute: bool,
              timeout: float | None) -> Iterator[_Result]:
    """Results of :func:`_job` over ``queue`` in worker processes, as they finish.

    Tasks are taken from ``queue`` only when a worker is free and appended to
    ``dispatched`` then, so after a worker died the tasks it may have held are those
    dispatched without a result, and ``queue`` holds the others.
    """
    from joblib import Parallel, delayed, parallel_config


    quiet_resource_tracker()
    context = (parallel_config(backend=backend) if backend else
               parallel_config(backend="loky", inner_max_num_threads=1,
                               initializer=_start_worker, initargs=(os.getpid(), config)))

    def calls() -> Iterable[Any]:
        while queue:
            task = queue.popleft()
            dispatched.append(task)
            yield delayed(_job)(*task, config, recompute, timeout,
                                "cluster" if backend else "worker")

    with context:
        yield from Parallel(n_jobs=_workers(jobs, len(queue), backend),
                            return_as="generator_unordered",
                            batch_size=1, pre_dispatch="n_jobs")(calls())


def _start_worker(parent_pid: int, config: FeatureConfig) -> None:
    """Set up a worker process: end it with its parent
    (:func:`~hdpmusic.runtime.workers.exit_with_parent`), and load librosa's modules and
    compiled functions (:func:`~hdpmusic.audio.features.warm_up`; compiled by the parent)
    before its first track, whose time limit should not count them."""

    exit_with_parent(parent_pid)
    warm_up(config)


def _workers(jobs: int, n_tasks: int, backend: str | None) -> int:
    """Worker processes for ``n_tasks`` tracks: local ones at most one per CPU granted
    and per track (:func:`hdpmusic.runtime.threads.worker_count`), a cluster's one per track;
    never 1 when more were asked (joblib would run the tracks in this process, where a
    crash ends the run)."""

    wanted = n_jobs(jobs)
    workers = min(wanted, n_tasks) if backend else worker_count(jobs, n_tasks)
    return max(workers, min(wanted, 2))


def _exit_codes(err: BaseException) -> str:
    """How the workers ended, from loky's message (``"exit codes: {SIGKILL(-9)}"``)."""
    found = re.search(r"exit codes of the workers are (\{.*?\})", str(err))
    return f"exit codes: {found[1]}" if found else _one_line(str(err))


def _job(song_id: str, path: Path, target: Path, config: FeatureConfig, recompute: bool,
         timeout: float | None, where: str = "here") -> _Result:
    """One track (a worker's task): ``(id, status, error, versions)``, ``versions`` the
    :func:`~hdpmusic.audio.provenance.library_versions` of the process that computed it
    (None unless its status is ``"done"``).

    ``where`` runs it: ``"here"`` (this process), ``"worker"`` (a loky worker process,
    which ends itself if the track is stuck past ``timeout``, see
    :func:`hdpmusic.runtime.workers.exit_after`) or ``"cluster"`` (a dask worker thread, limited
    to one BLAS thread here; loky workers already start with one per library).
    """
    from threadpoolctl import threadpool_limits

    with contextlib.ExitStack() as stack:
        if where == "cluster":
            stack.enter_context(threadpool_limits(limits=1))
        if where == "worker" and timeout:
            stack.enter_context(exit_after(timeout + _HARD_GRACE))
        status, error = extract_track(path, target, config, recompute, timeout)
    return song_id, status, error, library_versions() if status == "done" else None


def audio_layout(source: str | os.PathLike, tracks: dict[str, Path],
                 ids: list[str]) -> tuple[str, list[str]]:
    """Where the audio of the songs ``ids`` is, as the corpus records it.

    Parameters
    ----------
    source : path-like
        What :func:`find_tracks` read: a folder, a list file or one audio file.
    tracks : dict
        id -> audio file, as :func:`find_tracks` gives them.
    ids : list of str
        The songs of the corpus, in order.

    Returns
    -------
    audio_root : str
        A folder: ``source`` itself (resolved) when it is one, else the deepest folder
        holding every song's file (a list file, which may be temporary: ``prepare``
        keeps its list in the feature cache, is not needed again).
    audio_files : list of str
        Each song's file relative to it (for a folder, the ids).
    """
    files = [os.path.abspath(tracks[song_id]) for song_id in ids]
    source = Path(source)
    if source.is_dir():
        base = os.path.abspath(source)
        return str(source.resolve()), [os.path.relpath(f, base) for f in files]
    base = os.path.commonpath([os.path.dirname(f) for f in files])
    return base, [os.path.relpath(f, base) for f in files]


def audio_paths(corpus: Any, audio_root: str | os.PathLike | None = None) -> list[str]:
    """The audio file of every song of a corpus, in corpus order.

    ``hdpmusic extract`` (and so ``prepare``) records in the corpus itself a folder, its
    attribute ``audio_root``, and each song's audio file relative to it
    (:meth:`~hdpmusic.formats.corpus.Corpus.audio_files`), so that neither the list file it read
    nor the feature cache is needed to find the audio. Corpora written before record
    only ``audio_root``, what extract read (a folder or a list file), through which the
    ids map back to their files as through :func:`find_tracks`.

    Parameters
    ----------
    corpus : Corpus
    audio_root : path-like, optional
        Overrides the recorded one: a folder (holding the recorded files as the recorded
        folder did, e.g. after moving the collection, or in which the ids are relative
        paths), or a list file (``path<TAB>id`` lines) naming every id.

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
    recorded = corpus.audio_files() if hasattr(corpus, "audio_files") else None
    if recorded:
        hint = (f"pass --audio-root DIR, the folder that holds them as "
                f"{corpus.attrs.get('audio_root')} did (e.g. {recorded[0]}), or a list file")
    if root.is_dir():
        # the recorded files, else (a corpus that records none, or a folder given where
        # the ids are the paths) the ids, relative to it
        for n, names in enumerate([recorded, corpus.ids] if recorded else [corpus.ids]):
            found = [root / name for name in names]
            lost = [str(p) for p in found if not p.is_file()]
            if n == 0 or not lost:                  # what is missing: of the first
                paths, missing = found, lost
            if not lost:
                break
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
