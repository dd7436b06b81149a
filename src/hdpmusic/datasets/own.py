"""A user's own labelled collection → one task file (genre, tagging, recommendation).

Two ways to describe the collection:

* **a folder** (:func:`prepare_folder`): ``ROOT/<label>/.../<file>``, one sub-folder
  per label, audio files in any format ``hdpmusic extract`` reads
  (:data:`hdpmusic.audio.extract.AUDIO_EXTENSIONS`) at any depth under it. Song ids are the
  paths relative to ROOT (as ``hdpmusic extract ROOT`` names them); the label is the
  first folder. Gives a genre task.
* **a table** (:func:`prepare_table`): a CSV file (``,``, tab or ``;``) with a header
  row and the columns ``path`` (relative to the table's folder, or to ``audio_root``),
  ``label`` (one class per song → a genre task) and/or ``tags`` (``;``-separated → a
  tagging task), and optionally ``split`` (``train``/``valid``/``test``; other names
  keep a song out of the evaluation), ``group`` (artist, album, ...: songs of one group
  never straddle splits; stored as the task's ``groups``, which the evaluation's
  bootstrap and cross-validation keep whole) and ``id`` (default: ``path`` as
  written). An interaction file (``user,item,count`` lines, separated as the table may
  be, items being song ids; an optional header line) adds a recommendation task.

Without a split (a folder, or a table without a ``split`` column) a seeded split
stratified by label is drawn, keeping each group in one part
(:func:`hdpmusic.datasets.splits.group_split`; for tags, songs are stratified by their
rarest tag). The task file holds every kind of task the description gives; evaluate
one with ``hdpmusic evaluate --task KIND`` (or all of them without ``--task``).
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from hdpmusic.audio.extract import find_tracks
from hdpmusic.audio.features import DEFAULT_CONFIG, FeatureConfig
from hdpmusic.datasets.base import SPLITS, prepare_corpus, read_lines
from hdpmusic.datasets.echonest import parse_triplets
from hdpmusic.datasets.splits import DEFAULT_FRACTIONS, group_split
from hdpmusic.formats.csvtext import separator_of
from hdpmusic.formats.taskdata import TaskData, normalise_split
from hdpmusic.runtime.errors import DataError, FormatError, HdpmusicError, name_some

__all__ = ["OwnTrack", "build_task", "find_folder_tracks", "prepare_folder",
           "prepare_table", "read_interactions", "read_label_table"]

log = logging.getLogger(__name__)

TAG_SEPARATOR = ";"
_COLUMNS = ("path", "label", "tags", "split", "group", "id")


@dataclass(frozen=True)
class OwnTrack:
    """One song of a user's collection.

    Attributes
    ----------
    id : str
        Corpus id.
    path : pathlib.Path
        Audio file.
    label : str or None
        Class (genre task).
    tags : tuple of str or None
        Tags (tagging task); None when the collection has no tags.
    split : str or None
        Given split; None to draw one.
    group : str or None
        Songs of a group stay in one split.
    """

    id: str
    path: Path
    label: str | None = None
    tags: tuple[str, ...] | None = None
    split: str | None = None
    group: str | None = None


def find_folder_tracks(root: str | os.PathLike) -> list[OwnTrack]:
    """Every audio file under ``root``'s label folders, labelled by its first folder.

    Raises
    ------
    HdpmusicError
        No audio, or audio files directly in ``root`` (they have no label folder).
    """

    root = Path(root)
    if not root.is_dir():
        raise HdpmusicError(f"{root} is not a folder; give the folder holding one "
                            "sub-folder per label")
    found = find_tracks(root)
    loose = [song_id for song_id, _ in found if "/" not in song_id]
    if loose:
        raise DataError(f"{root}: {len(loose)} audio file(s) lie directly in the folder, "
                        f"outside a label folder: {name_some(loose)}; move each into the "
                        "sub-folder named after its label")
    tracks = [OwnTrack(song_id, path, label=song_id.split("/", 1)[0])
              for song_id, path in found]
    if len({t.label for t in tracks}) < 2:
        raise DataError(f"{root}: all audio lies in one label folder; a genre task needs "
                        "at least two (one sub-folder per label)")
    return tracks


def _cell(row: dict[str, str | None], column: str) -> str:
    return (row.get(column) or "").strip()


def read_label_table(path: str | os.PathLike,
                     audio_root: str | os.PathLike | None = None) -> list[OwnTrack]:
    """Read a label table (see the module docstring for its columns).

    Parameters
    ----------
    path : path-like
        CSV file with a header row, separated by ``,`` — or by tabs, or by ``;`` (as
        spreadsheet programs write CSV in locales with a decimal comma), whichever the
        header uses (:func:`hdpmusic.formats.csvtext.separator_of`).
    audio_root : path-like, optional
        Folder the ``path`` column is relative to (default: the table's folder).

    Returns
    -------
    list of OwnTrack
        In table order.

    Raises
    ------
    FormatError
        No ``path`` column, neither ``label`` nor ``tags``, an empty cell where a value
        is needed, an id given twice, a ``split`` column left empty for some songs.
    HdpmusicError
        Audio files that do not exist (named).
    """
    path = Path(path)
    if not path.is_file():
        raise HdpmusicError(f"label table {path} does not exist; give the right path")
    base = Path(audio_root) if audio_root is not None else path.parent
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (UnicodeDecodeError, OSError) as err:
        raise FormatError(f"label table {path} is not a UTF-8 text file "
                          f"({type(err).__name__})") from None
    lines = text.splitlines()
    reader = csv.DictReader(lines, delimiter=separator_of(lines[0] if lines else ""))
    columns = [c.strip().lower() for c in reader.fieldnames or []]
    reader.fieldnames = columns
    if "path" not in columns or not {"label", "tags"} & set(columns):
        raise FormatError(f"{path}: the header row must name a 'path' column and a "
                          f"'label' and/or 'tags' column; found {columns or 'no header'}")
    unknown = [c for c in columns if c not in _COLUMNS]
    if unknown:
        log.warning("%s: columns %s are not used (known: %s)", path, name_some(unknown),
                    ", ".join(_COLUMNS))
    tracks, seen, missing = [], {}, []
    for number, row in enumerate(reader, 2):
        where = f"{path}: line {number}"
        audio = _cell(row, "path")
        if not audio:
            raise FormatError(f"{where}: empty path")
        song_id = _cell(row, "id") or audio
        if song_id in seen:
            raise FormatError(f"{where}: song {song_id!r} is already on line "
                              f"{seen[song_id]}")
        seen[song_id] = number
        label = _cell(row, "label") if "label" in columns else None
        if label == "":
            raise FormatError(f"{where}: empty label for {audio!r}")
        tags = None
        if "tags" in columns:
            tags = tuple(dict.fromkeys(t.strip() for t in _cell(row, "tags").split(
                TAG_SEPARATOR) if t.strip()))
        split = normalise_split(_cell(row, "split")) if "split" in columns else None
        if split == "":
            raise FormatError(f"{where}: empty split for {audio!r}; give every song a "
                              "split or leave the column out to draw one")
        group = _cell(row, "group") or None if "group" in columns else None
        file = Path(audio) if Path(audio).is_absolute() else base / audio
        if not file.is_file():
            missing.append(audio)
        tracks.append(OwnTrack(song_id, file, label, tags, split, group))
    if not tracks:
        raise FormatError(f"{path}: no song rows below the header")
    if missing:
        raise HdpmusicError(f"{path}: {len(missing)} audio file(s) not found under {base}: "
                            f"{name_some(missing)}; fix the paths or pass --root "
                            "(audio_root=), the folder they are relative to")
    return tracks


def read_interactions(path: str | os.PathLike) -> Any:
    """Read ``user,item,count`` (or tab- or ``;``-separated) lines; a header line is
    skipped.

    Returns
    -------
    hdpmusic.datasets.echonest.Interactions
    """

    lines = read_lines(path, "interaction file")
    data = [(n, line) for n, line in enumerate(lines) if line.strip()
            and not line.lstrip().startswith("#")]
    if data:
        last = data[0][1].rsplit(separator_of(data[0][1]), 1)[-1]
        try:
            float(last)
        except ValueError:
            lines = [line for n, line in enumerate(lines) if n != data[0][0]]
    return parse_triplets(lines, str(path))


def _stratum(tracks: Sequence[OwnTrack]) -> list[str]:
    """The label each song is stratified by: its class, else its rarest tag."""
    if all(t.label is not None for t in tracks):
        return [str(t.label) for t in tracks]
    counts: dict[str, int] = {}
    for t in tracks:
        for tag in t.tags or ():
            counts[tag] = counts.get(tag, 0) + 1
    return [min(t.tags, key=lambda g: (counts[g], g)) if t.tags else "" for t in tracks]


def _splits(tracks: Sequence[OwnTrack], seed: int,
            fractions: Sequence[float]) -> tuple[list[str], dict[str, Any]]:
    """The given splits, or a drawn one; with the provenance of the split."""
    given = [t.split for t in tracks]
    if all(s is not None for s in given):
        if not any(s in SPLITS for s in given):
            raise FormatError("the split column assigns no song to train, valid or test")
        _check_groups(tracks, given)
        return [str(s) for s in given], {"split": "given"}
    has_groups = any(t.group is not None for t in tracks)
    groups = [t.group if t.group is not None else f"\0{t.id}" for t in tracks] \
        if has_groups else None
    drawn = group_split(_stratum(tracks), groups, fractions, seed)
    return list(drawn), {"split": {"random": {"seed": seed, "fractions": list(fractions),
                                              "groups": has_groups}}}


def _check_groups(tracks: Sequence[OwnTrack], splits: Sequence[str]) -> None:
    """Warn about groups the given split puts in several parts."""
    parts: dict[str, set[str]] = {}
    for t, s in zip(tracks, splits, strict=True):
        if t.group is not None and s in SPLITS:
            parts.setdefault(t.group, set()).add(s)
    straddle = sorted(g for g, p in parts.items() if len(p) > 1)
    if straddle:
        log.warning("the given split puts %d group(s) in several of train/valid/test: %s",
                    len(straddle), name_some(straddle))


def build_task(tracks: Sequence[OwnTrack], kept: Sequence[str], splits: Sequence[str],
               interactions: Any = None, name: str = "own") -> TaskData:
    """The task data of the songs ``kept`` (those extracted), in that order.

    Parameters
    ----------
    tracks : sequence of OwnTrack
    kept : sequence of str
        Ids of the songs in the corpus.
    splits : sequence of str
        Split of each of ``tracks``.
    interactions : Interactions, optional
        Users × songs play counts; songs not kept are dropped (with a warning), then
        users left without a song.
    name : str

    Returns
    -------
    TaskData
    """
    by_id = {t.id: (t, s) for t, s in zip(tracks, splits, strict=True)}
    songs = [by_id[i][0] for i in kept]
    fields: dict[str, Any] = {"ids": list(kept), "split": [by_id[i][1] for i in kept],
                              "name": name}
    if any(t.group is not None for t in songs):
        fields["groups"] = [t.group or "" for t in songs]
    if songs[0].label is not None:
        fields["targets"] = [t.label for t in songs]
    if songs[0].tags is not None:
        tags = sorted({g for t in songs for g in t.tags})
        column = {g: c for c, g in enumerate(tags)}
        pairs = [(j, column[g]) for j, t in enumerate(songs) for g in t.tags]
        rows, cols = (np.array([p[k] for p in pairs], dtype=np.int64) for k in (0, 1))
        fields["tags"] = tags
        fields["annotations"] = sp.csr_matrix(
            (np.ones(len(pairs), np.float32), (rows, cols)), shape=(len(songs), len(tags)))
    if interactions is not None:
        fields.update(_interaction_fields(interactions, list(kept)))
    return TaskData(**fields)


def _interaction_fields(interactions: Any, kept: list[str]) -> dict[str, Any]:
    item = {i: c for c, i in enumerate(interactions.items)}
    songs = set(kept)
    unknown = [i for i in interactions.items if i not in songs]
    if unknown:
        log.warning("interactions: %d item(s) are not songs of the corpus and are left "
                    "out: %s", len(unknown), name_some(unknown))
    present = [j for j, i in enumerate(kept) if i in item]
    if not present:
        raise DataError("no item of the interaction file is a song id of the collection "
                        "(items must be the table's id or path values)")
    pick = sp.csr_matrix((np.ones(len(present), np.float32),
                          ([item[kept[j]] for j in present], present)),
                         shape=(len(interactions.items), len(kept)))
    matrix = (interactions.matrix @ pick).tocsr()
    active = np.flatnonzero(np.diff(matrix.indptr) > 0)
    return {"interaction": matrix[active],
            "userlist": [interactions.users[u] for u in active], "itemlist": kept}


def _prepare(tracks: list[OwnTrack], out: str | os.PathLike, *, dataset: str,
             provenance: dict[str, Any], seed: int, fractions: Sequence[float],
             interactions: Any = None, **options: Any) -> Path:
    splits, split_source = _splits(tracks, seed, fractions)
    return prepare_corpus(
        [(t.id, t.path) for t in tracks], out,
        lambda kept: build_task(tracks, kept, splits, interactions, name=dataset),
        dataset=dataset, provenance={**provenance, **split_source}, **options)


def prepare_folder(root: str | os.PathLike, out: str | os.PathLike, *, seed: int = 0,
                   fractions: Sequence[float] = DEFAULT_FRACTIONS, jobs: int = 1,
                   cache: str | os.PathLike | None = None, overwrite: bool = False,
                   recompute: bool = False, config: FeatureConfig = DEFAULT_CONFIG,
                   progress: bool = True) -> Path:
    """Build a genre task file from a folder of label sub-folders.

    Parameters
    ----------
    root : path-like
        ``root/<label>/.../<audio file>``.
    out : path-like
        The task file to write.
    seed, fractions
        Of the drawn split (stratified by label).
    jobs, cache, overwrite, recompute, config, progress
        As in :func:`hdpmusic.audio.extract.extract_collection`.

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    return _prepare(find_folder_tracks(root), out, dataset="folder",
                    provenance={"root": str(Path(root).resolve())}, seed=seed,
                    fractions=fractions, jobs=jobs, cache=cache, overwrite=overwrite,
                    recompute=recompute, config=config, progress=progress)


def prepare_table(labels: str | os.PathLike, out: str | os.PathLike, *,
                  audio_root: str | os.PathLike | None = None,
                  interactions: str | os.PathLike | None = None, seed: int = 0,
                  fractions: Sequence[float] = DEFAULT_FRACTIONS, jobs: int = 1,
                  cache: str | os.PathLike | None = None, overwrite: bool = False,
                  recompute: bool = False, config: FeatureConfig = DEFAULT_CONFIG,
                  progress: bool = True) -> Path:
    """Build a task file (genre and/or tagging, recommendation) from a label table.

    Parameters
    ----------
    labels : path-like
        The CSV table (see the module docstring).
    out : path-like
        The task file to write.
    audio_root : path-like, optional
        Folder the ``path`` column is relative to (default: the table's folder).
    interactions : path-like, optional
        ``user,item,count`` lines (items: song ids) for a recommendation task.
    seed, fractions
        Of the drawn split when the table has no ``split`` column.
    jobs, cache, overwrite, recompute, config, progress
        As in :func:`hdpmusic.audio.extract.extract_collection`.

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    tracks = read_label_table(labels, audio_root)
    plays = read_interactions(interactions) if interactions is not None else None
    provenance: dict[str, Any] = {"table": str(Path(labels).resolve())}
    if interactions is not None:
        provenance["interactions"] = str(Path(interactions).resolve())
    return _prepare(tracks, out, dataset="table", provenance=provenance, seed=seed,
                    fractions=fractions, interactions=plays, jobs=jobs, cache=cache,
                    overwrite=overwrite, recompute=recompute, config=config,
                    progress=progress)
