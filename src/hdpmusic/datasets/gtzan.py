"""GTZAN genre collection: 10 genres × 100 30-s excerpts, as published.

Layout read (``root`` may be any of these folders)::

    root/genres/<genre>/<genre>.000NN.au      (the original tarball)
    root/<genre>/<genre>.000NN.{au,wav}       (a root holding the genre folders)
    root/Data/genres_original/<genre>/...wav  (the Kaggle copy)

Song ids are ``<genre>/<genre>.000NN`` (the file stem under its folder), the target is
the folder name. Note that the Kaggle copy's ``jazz.00054.wav`` is not decodable: it
fails extraction and is reported and left out.

**Split file** (not shipped: supply it). The study used the fault-filtered artist split
of Kereliuk & Sturm (443 train / 197 valid / 290 test), as a header-less TSV with one
``path<TAB>split`` line per track, ``split`` ∈ {train, valid, test}; ``path`` may be
``blues/blues.00000.wav``, ``genres/blues/blues.00000.au`` or just ``blues.00000`` —
lines are matched to files by the track stem. Every track on disk must be listed: a
split that misses tracks is refused and the tracks are named. Tracks that should stay out
of the evaluation (the faulty ones) are listed with another split name (e.g. ``bad``):
they are kept in the corpus with that split and ignored by the evaluation. Lines of
tracks that are not on disk are reported. The published form of that split — a folder
holding ``train_filtered.txt``, ``valid_filtered.txt`` and ``test_filtered.txt`` (one
path per line, e.g. from the ``music_dataset_split`` repository) — is read too; the tracks
it leaves out get the split ``filtered``.

Without a split file, a stratified random split (seeded) is drawn, with a warning: scores
are then not comparable with the paper's.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from hdpmusic.audio.features import DEFAULT_CONFIG, FeatureConfig
from hdpmusic.datasets.base import (
    SPLITS,
    name_some,
    parse_split_lines,
    prepare_corpus,
    read_lines,
)
from hdpmusic.datasets.splits import stratified_split
from hdpmusic.formats.taskdata import TaskData
from hdpmusic.runtime.errors import DataError, FormatError, HdpmusicError

__all__ = [
    "GENRES",
    "GtzanTrack",
    "assign_split",
    "find_gtzan_tracks",
    "prepare_gtzan",
    "read_gtzan_split",
    "track_stem",
]

log = logging.getLogger(__name__)

#: the ten GTZAN genres (folder names of the distribution)
GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop",
          "reggae", "rock")
_AUDIO = (".wav", ".au")  # preference order when a stem has both
_LAYOUTS = ("", "genres", "genres_original", "Data/genres_original")
_FILTERED_LISTS = {"train": "train_filtered.txt", "valid": "valid_filtered.txt",
                   "test": "test_filtered.txt"}


@dataclass(frozen=True)
class GtzanTrack:
    """One GTZAN excerpt on disk: id ``genre/stem``, its genre and audio file."""

    id: str
    genre: str
    path: Path

    @property
    def stem(self) -> str:
        """``blues.00000``: the key split files are matched by."""
        return self.id.rsplit("/", 1)[-1]


def track_stem(path: str) -> str:
    """The track stem of a split-file path: ``blues/blues.00000.wav`` → ``blues.00000``."""
    name = path.strip().replace("\\", "/").rsplit("/", 1)[-1]
    base, dot, ext = name.rpartition(".")
    if dot and f".{ext.lower()}" in (*_AUDIO, ".mp3", ".flac", ".ogg", ".npy"):
        return base
    return name


def _genre_folders(root: Path) -> tuple[Path, list[Path]]:
    for sub in _LAYOUTS:
        base = root / sub if sub else root
        if not base.is_dir():
            continue
        folders = [d for d in sorted(base.iterdir()) if d.is_dir() and
                   not d.name.startswith(".") and
                   any(f.suffix.lower() in _AUDIO for f in d.iterdir())]
        if folders:
            return base, folders
    raise HdpmusicError(f"{root}: no GTZAN genre folders found (looked for "
                        f"<genre>/<genre>.000NN.au or .wav under {root}, {root}/genres and "
                        f"{root}/Data/genres_original); give the folder holding 'genres'")


def find_gtzan_tracks(root: str | os.PathLike) -> list[GtzanTrack]:
    """Every GTZAN excerpt under ``root``, sorted by id.

    Parameters
    ----------
    root : path-like
        The dataset folder (see the module docstring for the layouts accepted).

    Returns
    -------
    list of GtzanTrack

    Raises
    ------
    HdpmusicError
        No genre folder with ``.au``/``.wav`` files is found.
    """
    root = Path(root)
    _, folders = _genre_folders(root)
    tracks: dict[str, GtzanTrack] = {}
    doubles = []
    for folder in folders:
        files = sorted((f for f in folder.iterdir() if f.is_file() and
                        not f.name.startswith(".") and f.suffix.lower() in _AUDIO),
                       key=lambda f: (f.stem, _AUDIO.index(f.suffix.lower())))
        for f in files:
            song_id = f"{folder.name}/{f.stem}"
            if song_id in tracks:
                doubles.append(f.name)
                continue
            tracks[song_id] = GtzanTrack(song_id, folder.name, f)
    if doubles:
        log.warning("%s: %d tracks exist both as .wav and .au; using the .wav: %s", root,
                    len(doubles), name_some(doubles))
    unknown = sorted({t.genre for t in tracks.values()} - set(GENRES))
    if unknown:
        log.warning("%s: folders %s are not GTZAN genres; taken as genres anyway (for "
                    "your own collection use `hdpmusic prepare folder`)", root,
                    name_some(unknown))
    return [tracks[k] for k in sorted(tracks)]


def read_gtzan_split(path: str | os.PathLike) -> tuple[dict[str, str], bool]:
    """Read a GTZAN split: a ``path<TAB>split`` TSV, or the three ``*_filtered.txt`` lists.

    Parameters
    ----------
    path : path-like
        A TSV file, or a folder holding ``train_filtered.txt``, ``valid_filtered.txt``
        and ``test_filtered.txt``.

    Returns
    -------
    mapping : dict
        Track stem → split.
    complete : bool
        True for a TSV (it must list every track); False for the filtered lists (tracks
        they leave out were filtered out on purpose).
    """
    path = Path(path)
    if path.is_dir():
        missing = [n for n in _FILTERED_LISTS.values() if not (path / n).is_file()]
        if missing:
            raise HdpmusicError(f"{path}: a split folder must hold {name_some(missing)}; "
                                "or give a 'path<TAB>split' TSV file")
        lines = []
        for split, name in _FILTERED_LISTS.items():
            lines += [f"{line.strip()}\t{split}" for line in read_lines(path / name, "split")
                      if line.strip() and not line.lstrip().startswith("#")]
        return parse_split_lines(lines, str(path), key=track_stem), False
    return parse_split_lines(read_lines(path, "split file"), str(path), key=track_stem), True


def assign_split(stems: Sequence[str], ids: Sequence[str], mapping: Mapping[str, str], *,
                 where: str, complete: bool = True) -> list[str]:
    """The split of every track, checked against the split file.

    Parameters
    ----------
    stems : sequence of str
        Track stems (the keys of ``mapping``), one per track on disk.
    ids : sequence of str
        The tracks' ids (for messages).
    mapping : dict
        Track stem → split, from :func:`read_gtzan_split`.
    where : str
        The split file, for messages.
    complete : bool
        If True, a track on disk missing from ``mapping`` is an error; else it gets the
        split ``filtered``.

    Returns
    -------
    list of str

    Raises
    ------
    DataError
        Tracks on disk are missing from a complete split (they are named).
    """
    missing = [i for s, i in zip(stems, ids, strict=True) if s not in mapping]
    if missing and complete:
        raise DataError(f"{where}: {len(missing)} of {len(ids)} tracks on disk are not in "
                        f"the split file: {name_some(missing)}; list every track (use a "
                        "split name other than train/valid/test, e.g. 'bad', to keep one "
                        "out of the evaluation) or give the split file of this copy")
    if missing:
        log.info("%s: %d tracks are not in the fault-filtered split; kept with split "
                 "'filtered' (ignored by the evaluation)", where, len(missing))
    on_disk = set(stems)
    absent = sorted(k for k in mapping if k not in on_disk)
    if absent:
        log.warning("%s: %d tracks of the split file are not on disk: %s", where,
                    len(absent), name_some(absent))
    return [mapping.get(s, "filtered") for s in stems]


def prepare_gtzan(root: str | os.PathLike, out: str | os.PathLike, *,
                  split: str | os.PathLike | None = None, seed: int = 0,
                  fractions: Sequence[float] = (0.5, 0.25, 0.25), jobs: int = 1,
                  cache: str | os.PathLike | None = None, overwrite: bool = False,
                  recompute: bool = False, config: FeatureConfig = DEFAULT_CONFIG,
                  progress: bool = True) -> Path:
    """Build the GTZAN task file: frames, ``targets`` (genre) and ``split``.

    Parameters
    ----------
    root : path-like
        The GTZAN folder (see the module docstring).
    out : path-like
        The corpus file to write.
    split : path-like, optional
        The split file (TSV ``path<TAB>split`` or a folder of ``*_filtered.txt`` lists).
        None: a stratified random split (``seed``, ``fractions``), not the paper's.
    seed, fractions
        Of the random split when ``split`` is None.
    jobs, cache, overwrite, recompute, config, progress
        As in :func:`hdpmusic.audio.extract.extract_collection`.

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    tracks = find_gtzan_tracks(root)
    ids = [t.id for t in tracks]
    if split is not None:
        mapping, complete = read_gtzan_split(split)
        splits = assign_split([t.stem for t in tracks], ids, mapping, where=str(split),
                              complete=complete)
        source = str(Path(split).resolve())
    else:
        log.warning("GTZAN: no split file given; drawing a stratified random split (seed "
                    "%d). Scores are then NOT comparable with the paper, which used the "
                    "fault-filtered artist split of Kereliuk & Sturm (pass --split FILE)",
                    seed)
        splits = list(stratified_split([t.genre for t in tracks], fractions, seed))
        source = {"random": {"seed": seed, "fractions": list(fractions)}}
    genre = {t.id: t.genre for t in tracks}
    split_of = dict(zip(ids, splits, strict=True))

    def make_task(kept: list[str]) -> TaskData:
        return TaskData(ids=kept, targets=[genre[i] for i in kept],
                        split=[split_of[i] for i in kept], name="gtzan")

    if not any(s in SPLITS for s in splits):
        raise FormatError(f"{split}: assigns no track on disk to train, valid or test")
    return prepare_corpus([(t.id, t.path) for t in tracks], out, make_task,
                          dataset="gtzan", provenance={"split": source}, jobs=jobs,
                          cache=cache, overwrite=overwrite, recompute=recompute,
                          config=config, progress=progress)
