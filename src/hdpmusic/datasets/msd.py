"""Million Song Dataset audio: the training corpus and its random subsets.

The MSD's audio previews are not public; whoever holds them usually keeps the MSD layout
``<root>/<id[2]>/<id[3]>/<id[4]>/<id>.mp3`` (:data:`MSD_LAYOUT`, configurable as a
``str.format`` pattern of ``id``). A track list names the songs to use, one per line:

* an MSD track id (``TRAAAAW128F429D538``): its audio is found under ``root`` by the
  layout;
* an audio path (absolute, or relative to ``root`` when given, else to the list file's
  folder), optionally followed by ``<TAB>id``; the id defaults to the file stem.

Without a list, every audio file under ``root`` is used, with its stem as id. Tracks whose
audio is missing are reported and left out. ``subsample`` draws a seeded random subset
(the study's ``--subsample``), and :func:`make_subsets` writes the study's 5 × 2,000 and
5 × 20,000 random subsets of a corpus as ``<stem>_subset<n>_<i>.h5``.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hdpmusic.audio.extract import find_tracks
from hdpmusic.audio.features import DEFAULT_CONFIG, FeatureConfig
from hdpmusic.datasets.base import (
    Track,
    name_some,
    prepare_corpus,
    read_lines,
    write_list_file,
)
from hdpmusic.runtime.errors import DataError, HdpmusicError, ParameterError

__all__ = [
    "MSD_LAYOUT",
    "STUDY_SUBSETS",
    "TRACK_ID",
    "collect_msd_tracks",
    "make_subsets",
    "msd_audio_path",
    "parse_subsets",
    "prepare_msd",
    "read_track_list",
    "resolve_tracks",
    "subsample_tracks",
    "subset_paths",
]

log = logging.getLogger(__name__)

#: where the MSD keeps a track's audio, relative to its root
MSD_LAYOUT = "{id[2]}/{id[3]}/{id[4]}/{id}.mp3"
#: an MSD track id
TRACK_ID = re.compile(r"^TR[A-Z0-9]{16}$")
#: the study's subsets: 5 of 2,000 and 5 of 20,000 songs (seed 2022)
STUDY_SUBSETS = ((5, 2000), (5, 20000))


def msd_audio_path(root: str | os.PathLike, track_id: str, layout: str = MSD_LAYOUT) -> Path:
    """The audio file of ``track_id`` under ``root``: ``root / layout.format(id=track_id)``."""
    try:
        return Path(root) / layout.format(id=track_id)
    except (IndexError, KeyError, ValueError) as err:
        raise ParameterError(f"audio layout {layout!r} does not fit track id {track_id!r} "
                             f"({err}); use a pattern of {{id}} such as {MSD_LAYOUT!r}") from None


def _line_entry(line: str) -> tuple[str, str | None]:
    first, _, second = line.partition("\t")
    return first.strip(), (second.strip() or None)


def read_track_list(path: str | os.PathLike, root: str | os.PathLike | None = None,
                    layout: str = MSD_LAYOUT) -> list[tuple[str, Path]]:
    """The ``(id, audio path)`` of every line of a track list (see the module docstring).

    Audio paths are not checked here (see :func:`resolve_tracks`).

    Raises
    ------
    HdpmusicError
        A track id without ``root``, a repeated id, or an empty list.
    """
    path = Path(path)
    tracks: list[tuple[str, Path]] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(read_lines(path, "track list"), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        first, given_id = _line_entry(line)
        if TRACK_ID.match(first) and given_id is None:
            if root is None:
                raise HdpmusicError(f"{path}: line {number}: track id {first} needs the "
                                    "audio root (--root DIR) to find its file")
            song_id, audio = first, msd_audio_path(root, first, layout)
        else:
            audio = Path(first).expanduser()
            if not audio.is_absolute():
                audio = (Path(root) if root is not None else path.parent) / audio
            song_id = given_id or audio.stem
        if song_id in seen:
            raise HdpmusicError(f"{path}: line {number}: id {song_id!r} already on line "
                                f"{seen[song_id]}; ids must be unique")
        seen[song_id] = number
        tracks.append((song_id, audio))
    if not tracks:
        raise HdpmusicError(f"{path}: the track list is empty (one track id or audio path "
                            "per line)")
    return tracks


def resolve_tracks(tracks: Sequence[tuple[str, Path | None]], what: str = "MSD"
                   ) -> tuple[list[Track], list[str]]:
    """Split tracks into those whose audio file exists and the ids of the others.

    The others (no path, or no file there) are reported in a warning.
    """
    found, missing = [], []
    for song_id, audio in tracks:
        if audio is not None and Path(audio).is_file():
            found.append((song_id, Path(audio)))
        else:
            missing.append(song_id)
    if missing:
        log.warning("%s: %d of %d tracks have no audio file and are left out: %s", what,
                    len(missing), len(tracks), name_some(missing))
    return found, missing


def subsample_tracks(tracks: Sequence[Track], n: int, seed: int = 0) -> list[Track]:
    """A seeded random subset of ``n`` tracks, in their original order."""
    if n < 1:
        raise ParameterError(f"subsample size must be positive, got {n}")
    if n >= len(tracks):
        log.warning("subsample %d >= %d tracks: using all of them", n, len(tracks))
        return list(tracks)
    pick = np.sort(np.random.default_rng(seed).choice(len(tracks), n, replace=False))
    return [tracks[i] for i in pick.tolist()]


def parse_subsets(text: str) -> list[tuple[int, int]]:
    """``"2000x5,20000x5"`` (SIZExCOUNT, as ``hdpmusic experiment sweep --subsets``) →
    ``[(5, 2000), (5, 20000)]`` (count, size).

    Raises
    ------
    ParameterError
        Not SIZExCOUNT, or more subsets than songs in each (``5x2000``, most likely
        COUNTxSIZE written the other way round).
    """
    specs = []
    for part in text.split(","):
        size, sep, count = part.strip().lower().partition("x")
        if not sep or not count.isdigit() or not size.isdigit() or not int(count) \
                or not int(size):
            raise ParameterError(f"subsets {text!r}: expected SIZExCOUNT[,SIZExCOUNT...], "
                                 "e.g. 2000x5,20000x5 (5 subsets of 2000 songs, 5 of 20000)")
        if int(count) > int(size):
            raise ParameterError(
                f"subsets {part.strip()!r} would be {count} subsets of {size} songs; "
                f"subsets are SIZExCOUNT: for {size} subsets of {count} songs write "
                f"{count}x{size}")
        specs.append((int(count), int(size)))
    return specs


def subset_paths(out: str | os.PathLike, specs: Sequence[tuple[int, int]]) -> list[Path]:
    """The files :func:`make_subsets` writes: ``<stem>_subset<n>_<i>.h5`` beside ``out``."""
    out = Path(out)
    return [out.with_name(f"{out.stem}_subset{size}_{i}{out.suffix or '.h5'}")
            for count, size in specs for i in range(count)]


def make_subsets(corpus: str | os.PathLike, specs: Sequence[tuple[int, int]] = STUDY_SUBSETS,
                 *, seed: int = 2022, overwrite: bool = False) -> list[Path]:
    """Write random subsets of a corpus file as new corpus files.

    Parameters
    ----------
    corpus : path-like
        The corpus file.
    specs : sequence of (count, size)
        ``count`` subsets of ``size`` songs each (default: the study's 5 × 2,000 and
        5 × 20,000).
    seed : int
        One generator draws all subsets in order (the study used 2022).
    overwrite : bool
        Replace existing subset files.

    Returns
    -------
    list of pathlib.Path
        See :func:`subset_paths`.
    """
    from hdpmusic.formats.corpus import Corpus

    full = Corpus.open(corpus)
    paths = subset_paths(corpus, specs)
    too_big = [size for _, size in specs if size > len(full)]
    if too_big:
        raise DataError(f"{corpus}: {len(full)} songs, fewer than the subset size "
                        f"{max(too_big)}; choose smaller --subsets")
    if not overwrite:
        existing = [str(p) for p in paths if p.exists()]
        if existing:
            raise HdpmusicError(f"{name_some(existing)} exist; pass --overwrite to "
                                "replace them")
    rng = np.random.default_rng(seed)
    sizes = [size for count, size in specs for _ in range(count)]
    for path, size in zip(paths, sizes, strict=True):
        pick = np.sort(rng.choice(len(full), size, replace=False))
        full.subset(pick).save(path, overwrite=overwrite)
        log.info("%s: %d songs", path, size)
    return paths


def collect_msd_tracks(root: str | os.PathLike | None,
                       track_list: str | os.PathLike | None = None, *,
                       layout: str = MSD_LAYOUT, subsample: int | None = None,
                       seed: int = 0) -> list[Track]:
    """The tracks of an MSD corpus whose audio exists, optionally a random subset of them.

    Parameters
    ----------
    root : path-like or None
        The audio root; None when ``track_list`` holds absolute paths.
    track_list : path-like, optional
        Track ids or audio paths (see :func:`read_track_list`). None: every audio file
        under ``root``, id = file stem.
    layout : str
        Audio path of a track id under ``root``.
    subsample : int, optional
        Keep a seeded random subset of this many tracks (after dropping missing audio).
    seed : int

    Returns
    -------
    list of (str, pathlib.Path)
        Write it with :func:`hdpmusic.datasets.base.write_list_file` for
        ``hdpmusic extract``.
    """
    if track_list is not None:
        tracks = read_track_list(track_list, root, layout)
    elif root is not None:

        tracks = [(Path(rel).stem, path) for rel, path in find_tracks(root)]
        counts = Counter(song_id for song_id, _ in tracks)
        doubles = sorted(s for s, n in counts.items() if n > 1)
        if doubles:
            raise DataError(f"{root}: several audio files share the stems "
                            f"{name_some(doubles)}; give a track list with ids")
    else:
        raise ParameterError("give the audio root (--root) or a track list (--list)")
    tracks, _ = resolve_tracks(tracks)
    if not tracks:
        raise DataError(f"{track_list or root}: no track has an audio file; check --root "
                        "and --layout")
    if subsample is not None:
        tracks = subsample_tracks(tracks, subsample, seed)
    return tracks


def prepare_msd(root: str | os.PathLike | None, out: str | os.PathLike, *,
                split: str | os.PathLike | None = None,
                track_list: str | os.PathLike | None = None, layout: str = MSD_LAYOUT,
                subsample: int | None = None, seed: int = 0,
                subsets: Sequence[tuple[int, int]] = (), subset_seed: int = 2022,
                list_out: str | os.PathLike | None = None, jobs: int = 1,
                cache: str | os.PathLike | None = None, overwrite: bool = False,
                recompute: bool = False, config: FeatureConfig = DEFAULT_CONFIG,
                progress: bool = True) -> Path:
    """Build an MSD training corpus (frames only) and optionally its random subsets.

    Parameters
    ----------
    root : path-like or None
        The audio root (MSD layout); may be None when ``track_list`` holds absolute paths.
    out : path-like
        The corpus file to write.
    split : None
        MSD has no task split; anything else is refused.
    track_list : path-like, optional
        Track ids or audio paths (see the module docstring). None: all audio under root.
    layout : str
        Audio path of a track id under ``root`` (default :data:`MSD_LAYOUT`).
    subsample : int, optional
        Keep a random subset of this many tracks (seed ``seed``).
    subsets : sequence of (count, size)
        Also write these random subsets of the corpus (:func:`make_subsets`,
        ``subset_seed``).
    list_out : path-like, optional
        Write the resolved list file (``path<TAB>id``, for ``hdpmusic extract``) here.
    jobs, cache, overwrite, recompute, config, progress
        As in :func:`hdpmusic.audio.extract.extract_collection`.

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    if split is not None:
        raise ParameterError("MSD is a training corpus without a split; drop --split")
    tracks = collect_msd_tracks(root, track_list, layout=layout, subsample=subsample,
                                seed=seed)
    too_big = [size for _, size in subsets if size > len(tracks)]
    if too_big:
        raise DataError(f"subsets of {max(too_big)} songs asked from {len(tracks)} tracks; "
                        "choose smaller --subsets")
    if not overwrite and subsets:
        existing = [str(p) for p in subset_paths(out, subsets) if p.exists()]
        if existing:
            raise HdpmusicError(f"{name_some(existing)} exist; pass --overwrite to "
                                "replace them")
    if list_out is not None:
        write_list_file(tracks, list_out)
    provenance = {"track_list": str(track_list) if track_list else None,
                  "subsample": subsample, "seed": seed}
    prepare_corpus(tracks, out, None, dataset="msd", provenance=provenance, jobs=jobs,
                   cache=cache, overwrite=overwrite, recompute=recompute, config=config,
                   progress=progress)
    if subsets:
        make_subsets(out, subsets, seed=subset_seed, overwrite=overwrite)
    return Path(out)
