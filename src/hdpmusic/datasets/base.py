"""What every dataset loader shares: split files, list files, and the build of a task corpus.

:func:`prepare_corpus` is the one path from "audio files with ids" to a finished task
file: it writes a list file, runs :func:`hdpmusic.audio.extract.extract_collection`, builds the
task annotations for the songs whose extraction succeeded (failed songs are dropped from
the task data and reported) and stores them with :func:`hdpmusic.formats.taskdata.write_task`.
The file appears at ``out`` only when all of it is written.

The parsing helpers here are pure functions of text lines, so the loaders' rules can be
tested without files.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hdpmusic.audio.extract import extract_collection
from hdpmusic.audio.features import DEFAULT_CONFIG, FeatureConfig
from hdpmusic.evaluation.protocol import split_warnings
from hdpmusic.formats.atomic import atomic_path
from hdpmusic.formats.taskdata import TaskData, normalise_split, read_task, write_task
from hdpmusic.runtime.errors import DataError, FormatError, HdpmusicError, name_some

__all__ = [
    "SPLITS",
    "Track",
    "describe_task",
    "parse_split_lines",
    "prepare_corpus",
    "read_lines",
    "write_list_file",
]

log = logging.getLogger(__name__)

#: the split names the evaluation uses; other names (e.g. the study's ``bad``) are kept
#: in the file and ignored by the evaluation
SPLITS = ("train", "valid", "test")
_HEADER_WORDS = frozenset({"split", "set", "subset", "fold", "partition"})

#: a track: ``(id, audio path)``
Track = tuple[str, Path]


def read_lines(path: str | os.PathLike, what: str) -> list[str]:
    """The lines of a UTF-8 text file (a missing or binary file is named with the fix)."""
    path = Path(path)
    if not path.is_file():
        raise HdpmusicError(f"{what} {path} does not exist; give the right path")
    try:
        return path.read_text(encoding="utf-8-sig").splitlines()
    except (UnicodeDecodeError, OSError) as err:
        raise FormatError(f"{what} {path} is not a UTF-8 text file "
                          f"({type(err).__name__})") from None


def parse_split_lines(lines: Iterable[str], where: str,
                      key: Callable[[str], str] = str.strip) -> dict[str, str]:
    """Parse a split file: one ``key<TAB>split`` or ``key,split`` line per track.

    Parameters
    ----------
    lines : iterable of str
        The file's lines. Blank lines and lines starting with ``#`` are skipped; a first
        line whose second column is a header word (``split``, ``set``, ...) is skipped.
        A line with a tab is split at the tab (exactly two columns); otherwise at its last
        comma.
    where : str
        The file name, for messages.
    key : callable
        Maps the first column to the key the loader matches tracks by (e.g. a path to its
        track stem).

    Returns
    -------
    dict
        key → split name (lower case; ``val``/``validation`` → ``valid`` etc.; names other
        than ``train``/``valid``/``test`` are kept as given).

    Raises
    ------
    FormatError
        A line without two columns, a key given twice with different splits, or no
        ``train``/``valid``/``test`` line at all.
    """
    mapping: dict[str, str] = {}
    first_line: dict[str, int] = {}
    seen_data = False
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if "\t" in line:
            fields = [f.strip() for f in line.split("\t")]
        else:
            fields = [f.strip() for f in line.rsplit(",", 1)]
        if len(fields) != 2 or not fields[0] or not fields[1]:
            raise FormatError(f"{where}: line {number}: expected 'track<TAB>split' or "
                              f"'track,split', got {raw!r}")
        name, split = fields
        if not seen_data and split.strip().lower() in _HEADER_WORDS:
            seen_data = True
            continue
        seen_data = True
        split = normalise_split(split)
        k = key(name)
        if k in mapping and mapping[k] != split:
            raise FormatError(f"{where}: line {number}: track {k!r} is in split {split!r} "
                              f"but line {first_line[k]} puts it in {mapping[k]!r}")
        mapping[k] = split
        first_line.setdefault(k, number)
    if not any(s in SPLITS for s in mapping.values()):
        raise FormatError(f"{where}: no line assigns a track to train, valid or test; "
                          "expected lines 'track<TAB>split' or 'track,split'")
    return mapping


def write_list_file(tracks: Iterable[Track], path: str | os.PathLike) -> Path:
    """Write a list file for ``hdpmusic extract``: one ``absolute path<TAB>id`` per line."""
    path = Path(path)
    with open(path, "w", encoding="utf-8") as fh:
        for song_id, audio in tracks:
            if "\t" in song_id or "\n" in song_id or "\t" in str(audio):
                raise DataError(f"track id {song_id!r} or path {audio} contains a tab or "
                                "newline; rename it")
            fh.write(f"{Path(audio).resolve()}\t{song_id}\n")
    return path


def prepare_corpus(tracks: Sequence[Track], out: str | os.PathLike,
                   make_task: Callable[[list[str]], TaskData] | None, *, dataset: str,
                   provenance: Mapping[str, Any] | None = None, jobs: int = 1,
                   cache: str | os.PathLike | None = None, overwrite: bool = False,
                   recompute: bool = False, config: FeatureConfig = DEFAULT_CONFIG,
                   progress: bool = True) -> Path:
    """Extract the features of ``tracks`` and store them with their task data in ``out``.

    Parameters
    ----------
    tracks : sequence of (str, path)
        Unique song ids and their audio files, in the order of the corpus.
    out : path-like
        The corpus file to write; it appears only when complete (frames and task data).
    make_task : callable or None
        Called with the ids of the songs whose extraction succeeded (in corpus order);
        returns the :class:`hdpmusic.formats.taskdata.TaskData` of exactly those songs. None:
        frames only (a training corpus).
    dataset : str
        Name stored in the file's ``dataset`` attribute.
    provenance : dict, optional
        JSON-serialisable facts stored in the file's ``prepare`` attribute (split source,
        thresholds, seed, ...).
    jobs, cache, overwrite, recompute, config, progress
        As in :func:`hdpmusic.audio.extract.extract_collection`; ``cache`` defaults to
        ``<out>.cache`` beside ``out``.

    Returns
    -------
    pathlib.Path
        ``out``.

    Raises
    ------
    HdpmusicError
        ``out`` exists without ``overwrite``, no tracks, every track failed.
    """

    out = Path(out)
    if out.exists() and not overwrite:
        raise HdpmusicError(f"{out} exists; pass --overwrite (overwrite=True) to replace it")
    if not tracks:
        raise DataError(f"{dataset}: no tracks to extract; check the dataset root")
    cache = Path(cache) if cache is not None else out.with_name(out.name + ".cache")
    cache.mkdir(parents=True, exist_ok=True)
    with atomic_path(out, overwrite=overwrite) as tmp:
        # read by extract only: the corpus records its songs' audio files itself, relative
        # to the folder holding them all (hdpmusic.audio.extract.audio_paths), so that deleting
        # the cache keeps the audio of the report and the audio models
        listing = write_list_file(tracks, cache / "tracks.tsv")
        report = extract_collection(listing, tmp, jobs=jobs, cache=cache, overwrite=True,
                                    recompute=recompute, config=config, progress=progress)
        if report.failed_ids:
            log.warning("%s: %d of %d tracks failed extraction and are left out of the "
                        "corpus and its task data (see %s): %s", dataset, report.n_failed,
                        len(tracks), report.failures, name_some(report.failed_ids))
        if make_task is not None:

            task = make_task(_corpus_ids(tmp))
            for message in split_warnings(task):
                log.warning("warning: %s: %s", dataset, message)
            write_task(tmp, task)
        _write_attrs(tmp, {"dataset": dataset, "prepare": dict(provenance or {})})
    return out


def _corpus_ids(path: Path) -> list[str]:
    from hdpmusic.formats.corpus import Corpus

    return list(Corpus.open(path).ids)


def _write_attrs(path: Path, attrs: Mapping[str, Any]) -> None:
    """Add JSON attributes to an HDF5 file (the corpus attribute encoding)."""
    import h5py

    with h5py.File(path, "a") as f:
        for key, value in attrs.items():
            f.attrs[key] = json.dumps(value)


def describe_task(path: str | os.PathLike) -> str:
    """One line summing up the songs and task data of a prepared corpus file."""

    task = read_task(path)
    parts = [f"{len(task.ids)} songs"]
    if task.split is not None:
        split = task.split.astype(str)
        names = [s for s in SPLITS if s in split] + sorted(set(split) - set(SPLITS))
        parts.append("split " + ", ".join(f"{s} {int((split == s).sum())}" for s in names))
    if task.targets is not None:
        parts.append(f"{len(set(task.targets))} classes")
    if task.annotations is not None:
        parts.append(f"{len(task.tags)} tags, {task.annotations.nnz} positives")
    if task.interaction is not None:
        parts.append(f"{len(task.userlist)} users x {len(task.itemlist)} items, "
                     f"{task.interaction.nnz} interactions")
    return "; ".join(parts)
