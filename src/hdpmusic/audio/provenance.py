"""Which library versions computed a feature cache's entries: kept per entry, counted per corpus.

Features depend on more than their settings: a release of librosa, numpy, scipy, soxr or
libsndfile can move them (a resampler's filter, a decoder's last frames), so two builds
of one collection with the same settings can differ, and a fit on them too. Each entry a
run computes is recorded with the versions of the process that computed it (a dask
worker's own), and a corpus made from the cache says, for each distinct set of versions,
how many of its tracks were computed with it (its attribute ``feature_libraries``, which
``hdpmusic corpus info`` prints): a difference between two builds can then be told apart
from a change of code. The record is per entry because one cache holds tracks computed by
several runs, possibly on several machines.

In the cache folder::

    libraries/<id>.json   one set of versions (<id>: 12 hex digits of its SHA-1)
    provenance.tsv        "<hh>/<entry file name><TAB><id>" for each entry computed,
                          appended as tracks finish (the last line of an entry wins)

Entries computed before this record existed, or whose line a killed run did not write,
are counted as unrecorded.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import platform
from collections import Counter
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import Any

from hdpmusic.formats.atomic import atomic_path

__all__ = [
    "LIBRARIES",
    "ProvenanceLog",
    "check_feature_libraries",
    "differing_libraries",
    "library_versions",
    "mixed_libraries",
    "summarise_provenance",
    "versions_id",
]

#: distributions whose versions are recorded (besides Python and libsndfile)
LIBRARIES = ("hdpmusic", "librosa", "numpy", "scipy", "numba", "soxr", "soundfile",
             "audioread")

log = logging.getLogger(__name__)

_LOG_FILE = "provenance.tsv"
_SETS_DIR = "libraries"


def library_versions() -> dict[str, str]:
    """The versions of what computes features in this process.

    Returns
    -------
    dict
        ``name -> version`` for Python, each of :data:`LIBRARIES` (``"not installed"``
        where missing) and ``libsndfile`` (the C library soundfile decodes with); a new
        dict on every call (they are looked up once a process).
    """
    return dict(_versions())


@functools.cache
def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    try:
        import soundfile

        versions["libsndfile"] = str(soundfile.__libsndfile_version__)
    except (ImportError, OSError, AttributeError):
        versions["libsndfile"] = "not installed"
    return versions


def versions_id(versions: Mapping[str, str]) -> str:
    """12 hex digits naming a set of versions (of its sorted JSON text's SHA-1)."""
    text = json.dumps(dict(versions), sort_keys=True)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def _entry_name(cache: Path, entry: Path) -> str:
    """``<hh>/<file name>`` of a cache entry (the cache's layout, relative to it)."""
    return Path(os.path.relpath(entry, cache)).as_posix()


class ProvenanceLog:
    """Record the entries a run computes, as they are written.

    Use as a context manager around the computation, with the cache held (locked) by the
    run: each :meth:`record` appends one line and flushes it, so a run killed later keeps
    the record of every track it finished.

    Parameters
    ----------
    cache : path-like
        The feature cache folder.
    """

    def __init__(self, cache: str | os.PathLike) -> None:
        self.cache = Path(cache)
        self._known: set[str] = set()
        self._fh: Any = None

    def __enter__(self) -> ProvenanceLog:
        self._fh = open(self.cache / _LOG_FILE, "a", encoding="utf-8")
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._fh.close()

    def record(self, entry: str | os.PathLike, versions: Mapping[str, str]) -> None:
        """Note that ``entry`` (a cache file) was computed with ``versions``."""
        key = versions_id(versions)
        if key not in self._known:
            path = self.cache / _SETS_DIR / f"{key}.json"
            if not path.exists():
                path.parent.mkdir(exist_ok=True)
                with atomic_path(path) as tmp:
                    tmp.write_text(json.dumps(dict(versions)), encoding="utf-8")
            self._known.add(key)
        self._fh.write(f"{_entry_name(self.cache, Path(entry))}\t{key}\n")
        self._fh.flush()


def summarise_provenance(cache: str | os.PathLike,
                         entries: Iterable[str | os.PathLike]) -> list[dict[str, Any]]:
    """How many of ``entries`` were computed with each set of versions.

    Parameters
    ----------
    cache : path-like
        The feature cache folder.
    entries : iterable of path-like
        Cache files (those a corpus is made of).

    Returns
    -------
    list of dict
        ``{"tracks": n, "libraries": {name: version}}`` per set of versions, most tracks
        first; entries without a record count under ``"libraries": None`` (after the
        sets of as many tracks).
    """
    cache = Path(cache)
    latest: dict[str, str] = {}
    log_path = cache / _LOG_FILE
    if log_path.exists():
        with open(log_path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                name, sep, key = line.rstrip("\n").partition("\t")
                if sep and len(key) == 12:          # a killed run's cut line is skipped
                    latest[name] = key
    sets = {key: found for key in set(latest.values()) if (found := _read_set(cache, key))}
    counts = Counter(latest.get(_entry_name(cache, Path(entry))) for entry in entries)
    merged: Counter[str | None] = Counter()     # a set whose file is lost: unrecorded
    for key, n in counts.items():
        merged[key if key in sets else None] += n
    return [{"tracks": n, "libraries": sets.get(key)}
            for key, n in sorted(merged.items(),
                                 key=lambda item: (-item[1], item[0] is None, item[0] or ""))]


def _read_set(cache: Path, key: str) -> dict[str, str] | None:
    try:
        return json.loads((cache / _SETS_DIR / f"{key}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def differing_libraries(reference: Any, other: Any) -> dict[str, tuple[list[str], list[str]]]:
    """The libraries whose versions in ``other`` are not among those of ``reference``.

    Parameters
    ----------
    reference, other : list of dict or None
        Summaries (:func:`summarise_provenance`, a corpus's ``feature_libraries``).

    Returns
    -------
    dict
        ``name -> (versions in reference, versions in other)``, sorted; empty when either
        side records no versions.
    """
    ours, theirs = _versions_seen(reference), _versions_seen(other)
    return {name: (sorted(ours[name]), sorted(theirs[name]))
            for name in sorted(ours.keys() & theirs.keys()) if not theirs[name] <= ours[name]}


def mixed_libraries(summary: Any) -> list[str]:
    """The libraries of which a summary's recorded sets hold more than one version, sorted
    (empty for one set, or none)."""
    return sorted(name for name, seen in _versions_seen(summary).items() if len(seen) > 1)


def _versions_seen(summary: Any) -> dict[str, set[str]]:
    """``name -> versions`` over the recorded sets of a summary (None or rows without a
    record contribute nothing)."""
    found: dict[str, set[str]] = {}
    for row in summary if isinstance(summary, list) else []:
        if isinstance(row, Mapping) and isinstance(row.get("libraries"), Mapping):
            for name, version in row["libraries"].items():
                found.setdefault(name, set()).add(str(version))
    return found


def check_feature_libraries(model: Any, libraries: Any, *, model_path: str | os.PathLike,
                            data: str) -> None:
    """Warn when frames were computed with other library releases than a model's corpus.

    Features of other releases can differ (see the module's text), so the model may see
    them shifted; this is a warning, not an error, because most releases change nothing
    that matters. Nothing is said when either side records no versions.

    Parameters
    ----------
    model : object
        A frame model; ``model.fitted_corpus_["feature_libraries"]`` is its training
        corpus's summary.
    libraries : list of dict or None
        The summary of the frames to transform.
    model_path : path-like
        The model file (for the message).
    data : str
        What the frames are (for the message).
    """
    fitted = (getattr(model, "fitted_corpus_", None) or {}).get("feature_libraries")
    differ = differing_libraries(fitted, libraries)
    if differ:
        said = "; ".join(f"{name} {', '.join(theirs)} (the model's: {', '.join(ours)})"
                         for name, (ours, theirs) in differ.items())
        log.warning("%s was computed with other library releases than the corpus %s was "
                    "fitted on: %s; features can differ between releases: extract with "
                    "the model's releases, or refit, where the scores matter",
                    data, model_path, said)
