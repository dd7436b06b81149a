"""MagnaTagATune (MTAT): 25,863 29-s clips with 188 binary tags, as published.

Files read::

    root/annotations_final.csv   tab-separated, double-quoted fields; header
                                 clip_id, 188 tag columns (0/1), mp3_path
    root/<mp3_path>              the audio (e.g. f/american_bach_soloists-...-30-59.mp3),
                                 or root/mp3/<mp3_path>

The ``mp3_path`` column is taken as given (relative to the audio root): any audio format
``hdpmusic extract`` reads works under any name. Song ids are the ``clip_id`` s. Clips with
an empty ``mp3_path`` or whose file is missing are reported and dropped; the few clips
whose mp3 is empty or broken in the distribution fail extraction and are dropped too.

**Tags.** By default the published top-50 list of Lee & Nam / Pons et al.
(:data:`MTAT_TOP50`, the tags the study kept as ``JORDI_TAG50``); ``tags="frequency"``
takes the ``n_tags`` most frequent tags of the file instead, ``tags="all"`` all 188, or
pass a list of tag names. Annotations are stored as a clips × tags CSR with the tag names.

**Split file** (not shipped: supply it): one ``clip_id,split`` (or ``clip_id<TAB>split``)
line per clip, ``split`` ∈ {train, valid, test} — the split of Lee & Nam used by the
study. Clips not in the split are reported and dropped. Without a split file, the
common folder split is used with a warning (audio folders ``0``–``b`` train, ``c``
valid, ``d``–``f`` test; with ``drop_untagged`` this gives the widely used 15,250 /
1,529 / 4,332 clips), which is not the study's split.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from hdpmusic.audio.features import DEFAULT_CONFIG, FeatureConfig
from hdpmusic.datasets.base import (
    name_some,
    parse_split_lines,
    prepare_corpus,
    read_lines,
)
from hdpmusic.formats.taskdata import TaskData
from hdpmusic.runtime.errors import DataError, FormatError, HdpmusicError, ParameterError

__all__ = [
    "MTAT_TOP50",
    "MtatAnnotations",
    "folder_split",
    "parse_annotations",
    "prepare_mtat",
    "read_annotations",
    "select_tags",
]

log = logging.getLogger(__name__)

#: The top-50 MTAT tags of Lee & Nam / Pons et al. (most frequent first), as hard-coded
#: in the study (``JORDI_TAG50``) and in musicnn / sota-music-tagging-models.
MTAT_TOP50 = (
    "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock",
    "fast", "piano", "ambient", "beat", "violin", "vocal", "synth", "female", "indian",
    "opera", "male", "singing", "vocals", "no vocals", "harpsichord", "loud", "quiet",
    "flute", "woman", "male vocal", "no vocal", "pop", "soft", "sitar", "solo", "man",
    "classic", "choir", "voice", "new age", "dance", "male voice", "female vocal", "beats",
    "harp", "cello", "no voice", "weird", "country", "metal", "female voice", "choral",
)
_FOLDER_SPLIT = {**dict.fromkeys("0123456789ab", "train"), "c": "valid",
                 **dict.fromkeys("def", "test")}


@dataclass
class MtatAnnotations:
    """The contents of ``annotations_final.csv``.

    Attributes
    ----------
    clip_ids : list of str
    tags : list of str
        All tag columns, in file order.
    matrix : scipy.sparse.csr_matrix, shape (n_clips, n_tags), int8
    mp3_paths : list of str
        As written in the file (may be empty).
    """

    clip_ids: list[str]
    tags: list[str]
    matrix: sp.csr_matrix
    mp3_paths: list[str]


def _clip_key(value: str) -> str:
    value = value.strip()
    return str(int(value)) if value.isdigit() else value


def parse_annotations(lines: Iterable[str], where: str) -> MtatAnnotations:
    """Parse the lines of ``annotations_final.csv`` (tab-separated, quoted or not).

    Raises
    ------
    FormatError
        No ``clip_id`` / ``mp3_path`` columns, a row of the wrong length, a tag value
        other than 0/1, or a repeated clip id.
    """
    rows = csv.reader(lines, delimiter="\t", quotechar='"')
    header = next(rows, None)
    if not header or header[0].strip() != "clip_id" or header[-1].strip() != "mp3_path":
        raise FormatError(f"{where}: expected a tab-separated header 'clip_id<TAB>tags..."
                          "<TAB>mp3_path' (MTAT annotations_final.csv)")
    tags = [t.strip() for t in header[1:-1]]
    clip_ids, paths, indices, indptr = [], [], [], [0]
    seen: set[str] = set()
    for number, row in enumerate(rows, 2):
        if not row or not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise FormatError(f"{where}: line {number}: {len(row)} columns, expected "
                              f"{len(header)}")
        clip = _clip_key(row[0])
        if clip in seen:
            raise FormatError(f"{where}: line {number}: clip_id {clip} repeated")
        seen.add(clip)
        values = [v.strip() for v in row[1:-1]]
        bad = [v for v in values if v not in ("0", "1")]
        if bad:
            raise FormatError(f"{where}: line {number}: tag values must be 0 or 1, got "
                              f"{bad[0]!r}")
        indices += [k for k, v in enumerate(values) if v == "1"]
        indptr.append(len(indices))
        clip_ids.append(clip)
        paths.append(row[-1].strip())
    matrix = sp.csr_matrix((np.ones(len(indices), np.int8), np.asarray(indices, np.int64),
                            np.asarray(indptr, np.int64)), shape=(len(clip_ids), len(tags)))
    return MtatAnnotations(clip_ids, tags, matrix, paths)


def read_annotations(path: str | os.PathLike) -> MtatAnnotations:
    """Read ``annotations_final.csv`` (see :func:`parse_annotations`)."""
    return parse_annotations(read_lines(path, "MTAT annotations file"), str(path))


def select_tags(annotations: MtatAnnotations, tags: str | Sequence[str] = "top50",
                n_tags: int = 50) -> list[str]:
    """The tag columns to keep.

    Parameters
    ----------
    annotations : MtatAnnotations
    tags : {"top50", "frequency", "all"} or sequence of str
        ``top50``: :data:`MTAT_TOP50`; ``frequency``: the ``n_tags`` tags with most
        positives in the file (ties: file order); ``all``: every column; or tag names.
    n_tags : int
        For ``frequency``.

    Raises
    ------
    FormatError
        A requested tag is not a column of the file.
    """
    if isinstance(tags, str):
        if tags == "top50":
            wanted: list[str] = list(MTAT_TOP50)
        elif tags == "all":
            wanted = list(annotations.tags)
        elif tags == "frequency":
            if n_tags < 1:
                raise ParameterError(f"n_tags must be positive, got {n_tags}")
            counts = np.asarray(annotations.matrix.sum(axis=0)).ravel()
            order = np.argsort(-counts, kind="stable")[:n_tags]
            wanted = [annotations.tags[k] for k in order]
        else:
            raise ParameterError(f"tags={tags!r}: use 'top50', 'frequency', 'all' or a "
                                 "list of tag names")
    else:
        wanted = [str(t) for t in tags]
    missing = [t for t in wanted if t not in annotations.tags]
    if missing:
        raise FormatError(f"tags {name_some(missing)} are not columns of the annotations "
                          "file; is it MTAT's annotations_final.csv?")
    return wanted


def folder_split(mp3_path: str) -> str:
    """The common folder split of an ``mp3_path``: 0–b train, c valid, d–f test."""
    return _FOLDER_SPLIT.get(mp3_path.strip()[:1].lower(), "bad")


def _audio_root(root: Path, paths: Sequence[str]) -> Path:
    probe = [p for p in paths if p][:50]
    best, hits = root, -1
    for base in (root, root / "mp3"):
        n = sum((base / p).is_file() for p in probe)
        if n > hits:
            best, hits = base, n
    if hits <= 0:
        raise HdpmusicError(f"{root}: no audio of the annotations found (looked for e.g. "
                            f"{root / probe[0] if probe else '<mp3_path>'} and under "
                            f"{root / 'mp3'}); pass the folder holding the mp3 tree")
    return best


def prepare_mtat(root: str | os.PathLike, out: str | os.PathLike, *,
                 split: str | os.PathLike | None = None,
                 annotations: str | os.PathLike | None = None,
                 audio_root: str | os.PathLike | None = None,
                 tags: str | Sequence[str] = "top50", n_tags: int = 50,
                 drop_untagged: bool = False, jobs: int = 1,
                 cache: str | os.PathLike | None = None, overwrite: bool = False,
                 recompute: bool = False, config: FeatureConfig = DEFAULT_CONFIG,
                 progress: bool = True) -> Path:
    """Build the MTAT task file: frames, ``annotations`` (tag CSR + names) and ``split``.

    Parameters
    ----------
    root : path-like
        The MTAT folder (``annotations_final.csv`` and the mp3 tree).
    out : path-like
        The corpus file to write.
    split : path-like, optional
        ``clip_id,split`` lines. None: the folder split (not the study's), with a warning.
    annotations : path-like, optional
        Default ``<root>/annotations_final.csv``.
    audio_root : path-like, optional
        Folder the ``mp3_path`` s are relative to (default ``root`` or ``root/mp3``,
        whichever holds them).
    tags, n_tags
        Tag selection (see :func:`select_tags`).
    drop_untagged : bool
        Also drop clips with none of the selected tags.
    jobs, cache, overwrite, recompute, config, progress
        As in :func:`hdpmusic.audio.extract.extract_collection`.

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    root = Path(root)
    annotations = Path(annotations) if annotations else root / "annotations_final.csv"
    ann = read_annotations(annotations)
    keep_tags = select_tags(ann, tags, n_tags)
    columns = [ann.tags.index(t) for t in keep_tags]
    matrix = ann.matrix[:, columns].tocsr()
    base = Path(audio_root) if audio_root else _audio_root(root, ann.mp3_paths)
    if split is not None:
        split_of = parse_split_lines(read_lines(split, "split file"), str(split),
                                     key=_clip_key)
        source = str(Path(split).resolve())
        absent = sorted(set(split_of) - set(ann.clip_ids), key=lambda c: (len(c), c))
        if absent:
            log.warning("%s: %d clips of the split are not in %s: %s", split, len(absent),
                        annotations, name_some(absent))
    else:
        log.warning("MTAT: no split file given; using the folder split (0-b train, c "
                    "valid, d-f test). Scores are then NOT comparable with the paper, which "
                    "used the split of Lee & Nam (pass --split FILE)")
        split_of = {c: folder_split(p) for c, p in zip(ann.clip_ids, ann.mp3_paths,
                                                       strict=True)}
        source = "folders"
    row_of: dict[str, int] = {}
    tracks = []
    dropped: dict[str, list[str]] = {"without audio": [], "not in the split": [],
                                     "with none of the tags": []}
    tagged = np.diff(matrix.indptr) > 0
    for row, (clip, path) in enumerate(zip(ann.clip_ids, ann.mp3_paths, strict=True)):
        if clip not in split_of:
            dropped["not in the split"].append(clip)
        elif drop_untagged and not tagged[row]:
            dropped["with none of the tags"].append(clip)
        elif not path or not (base / path).is_file():
            dropped["without audio"].append(clip)
        else:
            row_of[clip] = row
            tracks.append((clip, base / path))
    for why, clips in dropped.items():
        if clips:
            log.warning("MTAT: %d clips %s are left out: %s", len(clips), why,
                        name_some(clips))
    if not tracks:
        raise DataError(f"{annotations}: no clip is left (see the warnings above)")

    def make_task(kept: list[str]) -> TaskData:
        rows = [row_of[c] for c in kept]
        return TaskData(ids=kept, annotations=matrix[rows], tags=keep_tags,
                        split=[split_of[c] for c in kept], name="mtat")

    provenance = {"split": source, "tags": tags if isinstance(tags, str) else "list",
                  "n_tags": len(keep_tags), "drop_untagged": drop_untagged}
    return prepare_corpus(tracks, out, make_task, dataset="mtat", provenance=provenance,
                          jobs=jobs, cache=cache, overwrite=overwrite, recompute=recompute,
                          config=config, progress=progress)
