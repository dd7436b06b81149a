"""Downstream-task annotations stored inside a corpus HDF5 file.

Next to a corpus's ``data`` / ``indptr`` / ``ids`` (``docs/design.md`` §3), a file may carry the
annotations of one evaluation task, in the study's layout:

* ``targets`` (J,) utf-8 strings — genre labels (GTZAN);
* ``annotations/{indptr, indices, data, tags}`` — a J × n_tags CSR tag matrix (MTAT);
* ``interaction/{indptr, indices, data, userlist, itemlist}`` — a users × items CSR
  play-count matrix whose columns ``itemlist`` are corpus ids (Echonest);
* ``split`` (J,) utf-8 strings in {``train``, ``valid``, ``test``, ...} — the predefined
  split of the classification tasks (absent from the study's files, which kept it in a
  separate split file; the dataset loaders write it here);
* ``groups`` (J,) utf-8 strings, optional — the group of each song (artist, album,
  track; ``""``: none): songs of one group are resampled together by the evaluation's
  bootstrap and kept in one fold by its cross-validation (absent: each song alone).

Only ``ids`` and these groups are read; the frames are never touched. Study files with
integer ``ids`` (MTAT ``clip_id`` int32) read as decimal strings.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from hdpmusic.runtime.errors import DataError, FormatError

if TYPE_CHECKING:
    from hdpmusic.formats.corpus import Corpus

__all__ = ["SPLIT_ALIASES", "TASK_KINDS", "TaskData", "corpus_groups", "normalise_split",
           "read_groups", "read_task", "song_groups", "songs_in_splits", "write_task"]

TASK_KINDS = ("genre", "tagging", "recommendation")
_CSR_FIELDS = ("indptr", "indices", "data")
_PER_SONG = ("split", "targets", "groups")


#: other names of the splits, as split files write them
SPLIT_ALIASES = {"training": "train", "val": "valid", "validation": "valid",
                 "dev": "valid", "testing": "test", "eval": "test"}


def normalise_split(value: str) -> str:
    """A split name in lower case, with common aliases mapped to ``train/valid/test``."""
    value = value.strip().lower()
    return SPLIT_ALIASES.get(value, value)


@dataclass
class TaskData:
    """The annotations of one downstream task over the songs of a corpus.

    Attributes
    ----------
    ids : list of str, length J
        Corpus song ids.
    split : np.ndarray of str, shape (J,), or None
        ``train`` / ``valid`` / ``test`` (other values, e.g. the study's ``bad``, are
        ignored by the evaluation). Needed by the genre and tagging tasks.
    targets : np.ndarray of str, shape (J,), or None
        Genre label per song.
    annotations : scipy.sparse.csr_matrix, shape (J, n_tags), or None
        Tag matrix; any non-zero entry is a positive.
    tags : list of str, length n_tags, or None
        Column names of ``annotations``.
    interaction : scipy.sparse.csr_matrix, shape (n_users, n_items), or None
        User-item play counts; any non-zero entry is a consumption.
    userlist : list of str, length n_users, or None
    itemlist : list of str, length n_items, or None
        Corpus ids of the columns of ``interaction``.
    groups : np.ndarray of str, shape (J,), or None
        Group of each song (``""``: none); see the module docstring.
    name : str
        Label of the task in results (``read_task`` uses the file's stem).
    """

    ids: list[str]
    split: np.ndarray | None = None
    targets: np.ndarray | None = None
    annotations: sp.csr_matrix | None = None
    tags: list[str] | None = None
    interaction: sp.csr_matrix | None = None
    userlist: list[str] | None = None
    itemlist: list[str] | None = None
    groups: np.ndarray | None = None
    name: str = "task"

    def __post_init__(self) -> None:
        self.ids = [str(i) for i in self.ids]
        n = len(self.ids)
        if len(set(self.ids)) != n:
            raise DataError(f"task {self.name!r}: song ids are not unique")
        for label in _PER_SONG:
            value = getattr(self, label)
            if value is not None:
                value = np.asarray([str(v) for v in value], dtype=object)
                if value.shape != (n,):
                    raise DataError(f"task {self.name!r}: {label} has {value.shape[0]} "
                                    f"entries for {n} songs")
                setattr(self, label, value)
        if (self.annotations is None) != (self.tags is None):
            raise DataError(f"task {self.name!r}: annotations and tags go together")
        if self.annotations is not None:
            self.annotations = sp.csr_matrix(self.annotations)
            self.tags = [str(t) for t in self.tags]
            if self.annotations.shape != (n, len(self.tags)):
                raise DataError(f"task {self.name!r}: annotations have shape "
                                f"{self.annotations.shape}; expected ({n}, {len(self.tags)})")
        parts = (self.interaction, self.userlist, self.itemlist)
        if any(p is None for p in parts) != all(p is None for p in parts):
            raise DataError(f"task {self.name!r}: interaction, userlist and itemlist go "
                            "together")
        if self.interaction is not None:
            self.interaction = sp.csr_matrix(self.interaction)
            self.userlist = [str(u) for u in self.userlist]
            self.itemlist = [str(i) for i in self.itemlist]
            shape = (len(self.userlist), len(self.itemlist))
            if self.interaction.shape != shape:
                raise DataError(f"task {self.name!r}: interaction has shape "
                                f"{self.interaction.shape}; expected {shape}")

    @property
    def kinds(self) -> tuple[str, ...]:
        """The task kinds whose annotations are present, in :data:`TASK_KINDS` order."""
        present = (self.targets is not None, self.annotations is not None,
                   self.interaction is not None)
        return tuple(k for k, p in zip(TASK_KINDS, present, strict=True) if p)

    @property
    def task_kind(self) -> str:
        """``"genre"``, ``"tagging"`` or ``"recommendation"``.

        Raises
        ------
        DataError
            If the file holds no task annotations or several kinds of them.
        """
        kinds = self.kinds
        if len(kinds) != 1:
            found = ", ".join(kinds) if kinds else "none"
            raise DataError(f"task {self.name!r} must hold exactly one kind of annotations "
                            f"(targets, annotations or interaction); found: {found}; "
                            "choose one with --task")
        return kinds[0]


def songs_in_splits(corpus: Corpus, splits: Sequence[str],
                    task: TaskData | None = None) -> Corpus:
    """The songs of ``corpus`` in the given parts of its task's split (a view).

    Fitting a representation on ``("train", "valid")`` keeps every test song unseen
    until it is scored; the songs fitted then get sharper vectors than the test songs,
    which costs the probe (:mod:`hdpmusic.evaluation.fitted`), so the fit, which reads
    no labels, is usually better given every song.

    Parameters
    ----------
    corpus : Corpus
        A task file opened with :meth:`hdpmusic.formats.corpus.Corpus.open`.
    splits : sequence of str
        Split names (``train``, ``valid``, ``test``, or any name the file uses).
    task : TaskData, optional
        The songs' split (default: read from the corpus's file).

    Returns
    -------
    Corpus
        The selected songs, in corpus order.

    Raises
    ------
    DataError
        No split in the task, a split name it does not use, no song selected.
    """
    if task is None:
        if corpus.path is None:
            raise DataError("an in-memory corpus has no task split; pass task=")
        task = read_task(corpus.path)
    if task.split is None:
        raise DataError(f"task {task.name!r} has no split; selecting songs by split needs "
                        "a task file written by `hdpmusic prepare`")
    wanted = [normalise_split(s) for s in splits]
    used = set(task.split.tolist())
    unknown = [s for s in wanted if s not in used]
    if unknown:
        raise DataError(f"task {task.name!r} has no split {', '.join(unknown)}; its "
                        f"splits are {', '.join(sorted(used))}")
    keep = set(np.asarray(task.ids, dtype=object)[np.isin(task.split, wanted)].tolist())
    rows = np.array([j for j, i in enumerate(corpus.ids) if i in keep], dtype=np.int64)
    if rows.size == 0:
        raise DataError(f"no song of the corpus is in split {', '.join(wanted)}")
    return corpus.subset(rows)


def read_groups(corpus: Corpus) -> np.ndarray | None:
    """The group of each song of ``corpus`` from its file's ``groups`` column.

    Parameters
    ----------
    corpus : Corpus
        A corpus opened from a file, or a subset of one (e.g. :func:`songs_in_splits`).

    Returns
    -------
    np.ndarray of str, shape (len(corpus),), or None
        In the corpus's order (``""``: no group); None when the file has no groups or the
        corpus is in memory.

    Raises
    ------
    FormatError
        A ``groups`` column of another length than ``ids``.
    """
    import h5py

    if corpus.path is None:
        return None
    with h5py.File(corpus.path, "r") as f:
        if "groups" not in f:
            return None
        ids, groups = _strings(f["ids"][()]), _strings(f["groups"][()])
    if len(groups) != len(ids):
        raise FormatError(f"{corpus.path}: groups has {len(groups)} entries for {len(ids)} "
                          "songs")
    by_id = dict(zip(ids, groups, strict=True))
    return np.array([by_id[i] for i in corpus.ids], dtype=str)


def song_groups(ids: Sequence[str], groups: np.ndarray | None) -> np.ndarray:
    """The resampling unit of each song: its group, or itself where it has none.

    Parameters
    ----------
    ids : sequence of str, length n
    groups : np.ndarray of str, shape (n,), or None
        Empty strings count as no group.

    Returns
    -------
    np.ndarray of str, shape (n,)
        ``"group:<g>"`` or ``"song:<id>"`` (the prefixes keep the two apart).
    """
    ids = np.asarray(ids, dtype=str)
    if groups is None:
        return np.char.add("song:", ids)
    groups = np.asarray(groups, dtype=str)
    return np.where(groups != "", np.char.add("group:", groups), np.char.add("song:", ids))


def corpus_groups(corpus: Corpus) -> np.ndarray | None:
    """The unit of each song of ``corpus`` from its file's ``groups`` column
    (:func:`read_groups`, then :func:`song_groups`: a song without a group is its own).

    Returns
    -------
    np.ndarray of str, shape (len(corpus),), or None
        None when the file has no groups column or the corpus is in memory.
    """
    groups = read_groups(corpus)
    return None if groups is None else song_groups(corpus.ids, groups)


def _strings(values: np.ndarray) -> list[str]:
    """Decode an HDF5 string or integer array into Python strings."""
    values = np.asarray(values)
    if values.dtype.kind in "iu":
        return [str(int(v)) for v in values]
    return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values]


def _read_csr(group: Any, shape: tuple[int, int], where: str) -> sp.csr_matrix:
    missing = [k for k in _CSR_FIELDS if k not in group]
    if missing:
        raise FormatError(f"{where} lacks {', '.join(missing)}")
    indptr, indices, data = (group[k][()] for k in _CSR_FIELDS)
    if indptr.shape != (shape[0] + 1,) or indices.shape != data.shape:
        raise FormatError(f"{where}: inconsistent CSR arrays (indptr {indptr.shape}, "
                          f"indices {indices.shape}, data {data.shape}) for shape {shape}")
    try:
        return sp.csr_matrix((data, indices, indptr), shape=shape)
    except ValueError as err:
        raise FormatError(f"{where}: invalid CSR arrays: {err}") from err


def read_task(path: str | os.PathLike) -> TaskData:
    """Read the task annotations of a corpus file (this package's or the study's layout).

    Parameters
    ----------
    path : path-like
        An HDF5 corpus file.

    Returns
    -------
    TaskData
        Named after the file's stem.

    Raises
    ------
    FormatError
        If the file cannot be read or lacks ``ids`` or has malformed task groups.
    """
    import h5py

    path = Path(path)
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise FormatError(f"cannot read task file {path}: {err}") from err
    with f:
        if "ids" not in f:
            raise FormatError(f"{path} has no 'ids' dataset; is it a corpus file?")
        ids = _strings(f["ids"][()])
        fields: dict[str, Any] = {"ids": ids, "name": path.stem}
        for label in _PER_SONG:
            if label in f:
                fields[label] = _strings(f[label][()])
        if "annotations" in f:
            group = f["annotations"]
            if "tags" not in group:
                raise FormatError(f"{path}: annotations lacks tags")
            tags = _strings(group["tags"][()])
            fields["tags"] = tags
            fields["annotations"] = _read_csr(group, (len(ids), len(tags)),
                                              f"{path}: annotations")
        if "interaction" in f:
            group = f["interaction"]
            for key in ("userlist", "itemlist"):
                if key not in group:
                    raise FormatError(f"{path}: interaction lacks {key}")
                fields[key] = _strings(group[key][()])
            shape = (len(fields["userlist"]), len(fields["itemlist"]))
            fields["interaction"] = _read_csr(group, shape, f"{path}: interaction")
    try:
        return TaskData(**fields)
    except DataError as err:
        raise FormatError(f"{path}: {err}") from err


def _write_strings(parent: Any, name: str, values: Sequence[str]) -> None:
    import h5py

    parent.create_dataset(name, data=np.array([str(v) for v in values], dtype=object),
                          dtype=h5py.string_dtype("utf-8"))


def _write_csr(parent: Any, name: str, matrix: sp.csr_matrix) -> Any:
    group = parent.create_group(name)
    matrix = sp.csr_matrix(matrix)
    group.create_dataset("indptr", data=matrix.indptr.astype(np.int64))
    group.create_dataset("indices", data=matrix.indices.astype(np.int32))
    group.create_dataset("data", data=matrix.data.astype(np.float32))
    return group


def write_task(path: str | os.PathLike, task: TaskData) -> None:
    """Add (or replace) the task annotations of a corpus file, in place.

    The file is opened in append mode: frames and other datasets are kept. ``ids`` is
    written if the file has none, otherwise it must equal ``task.ids``. Groups of the
    task already in the file are replaced (this rewrite is not atomic: HDF5 cannot
    rename a file's contents and a corpus is too large to copy).

    Parameters
    ----------
    path : path-like
        HDF5 file; created if it does not exist.
    task : TaskData

    Raises
    ------
    DataError
        If the file's ``ids`` differ from ``task.ids``.
    """
    import h5py

    with h5py.File(path, "a") as f:
        if "ids" in f:
            if _strings(f["ids"][()]) != task.ids:
                raise DataError(f"{path}: its ids differ from the task's ids")
        else:
            _write_strings(f, "ids", task.ids)
        for label in (*_PER_SONG, "annotations", "interaction"):
            value = getattr(task, label)
            if value is None:
                continue
            if label in f:
                del f[label]
            if label in _PER_SONG:
                _write_strings(f, label, value)
            elif label == "annotations":
                _write_strings(_write_csr(f, label, value), "tags", task.tags)
            else:
                group = _write_csr(f, label, value)
                _write_strings(group, "userlist", task.userlist)
                _write_strings(group, "itemlist", task.itemlist)
