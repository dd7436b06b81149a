"""Echo Nest Taste Profile (MSD) user–song play counts for the recommendation task.

Files read:

* ``train_triplets.txt``: one ``user<TAB>song<TAB>count`` line per user–song pair (the
  published file; ``user,song,count`` lines are accepted too). Repeated pairs are summed.
* the MSD song → track map: ``unique_tracks.txt`` (``track<SEP>song<SEP>artist<SEP>title``
  with the literal separator ``<SEP>``), or a two-column TSV ``song<TAB>track`` (columns
  of MSD ids are recognised by their ``SO``/``TR`` prefixes whatever their order). A song
  with several tracks is mapped to the first one listed.
* the tracks' audio: a folder in the MSD layout (``<root>/<id[2]>/<id[3]>/<id[4]>/<id>.mp3``,
  configurable) or a track list (``path<TAB>track_id`` lines, see
  :func:`hdpmusic.datasets.msd.read_track_list`).

Songs are filtered as in Liang et al. (:func:`frequency_filter`: songs with at least 200
users, then users with at least 20 songs; one round as in their code — 571,355 users ×
41,140 songs on the full data — or more rounds, up to a fixed point). Songs without a
track or without audio are then dropped (the paper's 40,980 items), as are songs whose
extraction fails; users left with no song are dropped. The result is stored as a users ×
items CSR of play counts whose items are the corpus ids (track ids).
"""

from __future__ import annotations

import logging
import os
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from hdpmusic.audio.features import DEFAULT_CONFIG, FeatureConfig
from hdpmusic.datasets.base import prepare_corpus, read_lines
from hdpmusic.datasets.msd import MSD_LAYOUT, msd_audio_path, read_track_list, resolve_tracks
from hdpmusic.formats.csvtext import separator_of
from hdpmusic.formats.taskdata import TaskData
from hdpmusic.runtime.errors import DataError, FormatError, HdpmusicError, ParameterError, name_some

__all__ = [
    "FilterResult",
    "Interactions",
    "frequency_filter",
    "parse_track_map",
    "parse_triplets",
    "prepare_echonest",
    "read_track_map",
    "read_triplets",
]

log = logging.getLogger(__name__)


@dataclass
class Interactions:
    """A users × songs play-count matrix with its row and column names."""

    users: list[str]
    items: list[str]
    matrix: sp.csr_matrix

    def select(self, user_mask: np.ndarray, item_mask: np.ndarray) -> Interactions:
        """The sub-matrix of the kept users and items."""
        users = np.flatnonzero(user_mask)
        items = np.flatnonzero(item_mask)
        return Interactions([self.users[u] for u in users], [self.items[i] for i in items],
                            self.matrix[users][:, items].tocsr())


@dataclass
class FilterResult:
    """Outcome of :func:`frequency_filter`.

    Attributes
    ----------
    user_mask, item_mask : np.ndarray of bool
        The users (rows) and items (columns) kept.
    history : list of dict
        After each round: ``round``, ``users``, ``items``, ``interactions`` left.
    converged : bool
        Whether the last round changed nothing (a fixed point was reached).
    """

    user_mask: np.ndarray
    item_mask: np.ndarray
    history: list[dict[str, int]] = field(default_factory=list)
    converged: bool = False


def parse_triplets(lines: Iterable[str], where: str) -> Interactions:
    """Parse ``user<TAB>song<TAB>count`` (or ``,``- or ``;``-separated, as the first line
    is: :func:`~hdpmusic.formats.csvtext.separator_of`) lines into a CSR matrix.

    Rows and columns are numbered in order of first appearance; repeated pairs are
    summed, zero counts dropped.

    Raises
    ------
    FormatError
        A line without three fields or with a non-numeric count; no line at all.
    """
    users: dict[str, int] = {}
    items: dict[str, int] = {}
    rows, cols, counts = array("q"), array("q"), array("d")
    sep = None
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if sep is None:
            sep = separator_of(line)
        parts = line.split(sep)
        try:
            user, item, count = parts
            value = float(count)
        except ValueError:
            raise FormatError(f"{where}: line {number}: expected 'user<TAB>song<TAB>count', "
                              f"got {raw.rstrip()!r}") from None
        u = users.setdefault(user.strip(), len(users))
        i = items.setdefault(item.strip(), len(items))
        rows.append(u)
        cols.append(i)
        counts.append(value)
    if not users:
        raise FormatError(f"{where}: no 'user<TAB>song<TAB>count' lines")
    matrix = sp.coo_matrix((np.frombuffer(counts, np.float64).astype(np.float32),
                            (np.frombuffer(rows, np.int64), np.frombuffer(cols, np.int64))),
                           shape=(len(users), len(items))).tocsr()
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    return Interactions(list(users), list(items), matrix)


def read_triplets(path: str | os.PathLike) -> Interactions:
    """Read a triplet file (streamed; see :func:`parse_triplets`)."""
    path = Path(path)
    if not path.is_file():
        raise HdpmusicError(f"triplet file {path} does not exist; give the Taste Profile "
                            "train_triplets.txt with --triplets")
    try:
        with open(path, encoding="utf-8") as fh:
            return parse_triplets(fh, str(path))
    except UnicodeDecodeError:
        raise FormatError(f"{path} is not a UTF-8 text file of triplets") from None


def _is_track(value: str) -> bool:
    return value.startswith("TR") and len(value) == 18


def _is_song(value: str) -> bool:
    return value.startswith("SO") and len(value) == 18


def parse_track_map(lines: Iterable[str], where: str) -> dict[str, str]:
    """Parse a song → track map (``unique_tracks.txt`` or a two-column TSV).

    Returns
    -------
    dict
        song id → track id (the first track listed for a song).
    """
    mapping: dict[str, str] = {}
    extra = 0
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if "<SEP>" in line:
            parts = line.split("<SEP>")
            if len(parts) < 2:
                raise FormatError(f"{where}: line {number}: expected "
                                  "'track<SEP>song<SEP>artist<SEP>title'")
            track, song = parts[0].strip(), parts[1].strip()
        else:
            parts = [p.strip() for p in line.split("\t" if "\t" in line else ",")]
            if len(parts) != 2:
                raise FormatError(f"{where}: line {number}: expected 'song<TAB>track' or "
                                  f"'track<SEP>song<SEP>artist<SEP>title', got {raw!r}")
            song, track = parts
            if _is_track(song) and _is_song(track):
                song, track = track, song
        if song in mapping:
            extra += mapping[song] != track
            continue
        mapping[song] = track
    if not mapping:
        raise FormatError(f"{where}: the song-to-track map is empty")
    if extra:
        log.info("%s: %d songs have several tracks; the first listed is used", where, extra)
    return mapping


def read_track_map(path: str | os.PathLike) -> dict[str, str]:
    """Read a song → track map file (see :func:`parse_track_map`)."""
    return parse_track_map(read_lines(path, "song-to-track map"), str(path))


def frequency_filter(matrix: sp.spmatrix, *, min_user_items: int = 20,
                     min_item_users: int = 200, rounds: int | None = 1) -> FilterResult:
    """The iterative frequency filter of Liang et al. on a users × items matrix.

    Each round keeps the items with at least ``min_item_users`` kept users, then the users
    with at least ``min_user_items`` kept items (counting distinct pairs, not plays).
    Items and users left with no interaction at the end are dropped too.

    Parameters
    ----------
    matrix : scipy.sparse matrix, shape (n_users, n_items)
        Any non-zero entry is an interaction.
    min_user_items, min_item_users : int
        Thresholds (Liang et al.: 20 and 200).
    rounds : int or None
        Number of rounds (1 as in Liang et al.'s code); None or 0: until nothing changes.

    Returns
    -------
    FilterResult
    """
    if min_user_items < 0 or min_item_users < 0:
        raise ParameterError("filter thresholds must be non-negative")
    if rounds is not None and rounds < 0:
        raise ParameterError(f"rounds must be >= 0 (0: until a fixed point), got {rounds}")
    binary = sp.csr_matrix(matrix, copy=True)
    binary.data = (binary.data != 0).astype(np.int64)
    binary.eliminate_zeros()
    by_item = binary.T.tocsr()
    users = np.ones(binary.shape[0], dtype=bool)
    items = np.ones(binary.shape[1], dtype=bool)
    result = FilterResult(users, items)
    limit = rounds or None
    r = 0
    while limit is None or r < limit:
        r += 1
        new_items = items & (by_item @ users.astype(np.int64) >= min_item_users)
        new_users = users & (binary @ new_items.astype(np.int64) >= min_user_items)
        changed = (new_items != items).any() or (new_users != users).any()
        users, items = new_users, new_items
        result.history.append(_counts(binary, users, items, r))
        if not changed:
            result.converged = True
            break
    users = users & (binary @ items.astype(np.int64) > 0)
    items = items & (by_item @ users.astype(np.int64) > 0)
    result.user_mask, result.item_mask = users, items
    return result


def _counts(binary: sp.csr_matrix, users: np.ndarray, items: np.ndarray,
            r: int) -> dict[str, int]:
    n = int(users.astype(np.int64) @ (binary @ items.astype(np.int64)))
    return {"round": r, "users": int(users.sum()), "items": int(items.sum()),
            "interactions": n}


def _track_audio(root: Path, tracks: list[str],
                 layout: str) -> list[tuple[str, Path | None]]:
    """(track, audio path or None) of each track: the layout under a folder, or a list."""
    if root.is_dir():
        return [(t, msd_audio_path(root, t, layout)) for t in tracks]
    if root.is_file():
        listed = dict(read_track_list(root, None, layout))
        return [(t, listed.get(t)) for t in tracks]
    raise HdpmusicError(f"{root}: no such audio folder or track list; give the MSD audio "
                        "root (--root DIR) or a list of 'path<TAB>track_id' lines")


def prepare_echonest(root: str | os.PathLike, out: str | os.PathLike, *,
                     split: str | os.PathLike | None = None,
                     triplets: str | os.PathLike | None = None,
                     track_map: str | os.PathLike | None = None, layout: str = MSD_LAYOUT,
                     min_user_songs: int = 20, min_song_users: int = 200,
                     filter_rounds: int | None = 1, jobs: int = 1,
                     cache: str | os.PathLike | None = None, overwrite: bool = False,
                     recompute: bool = False, config: FeatureConfig = DEFAULT_CONFIG,
                     progress: bool = True) -> Path:
    """Build the Echonest task file: frames of the items and the ``interaction`` CSR.

    Parameters
    ----------
    root : path-like
        The tracks' audio: a folder in ``layout`` or a ``path<TAB>track_id`` list file.
    out : path-like
        The corpus file to write.
    split : None
        The recommendation task splits users at evaluation time; anything else is refused.
    triplets : path-like, optional
        Default ``<root>/train_triplets.txt``.
    track_map : path-like, optional
        Default ``<root>/unique_tracks.txt``.
    layout : str
        Audio path of a track id under ``root`` (default the MSD layout).
    min_user_songs, min_song_users, filter_rounds
        The Liang et al. filter (see :func:`frequency_filter`).
    jobs, cache, overwrite, recompute, config, progress
        As in :func:`hdpmusic.audio.extract.extract_collection`.

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    root = Path(root)
    if split is not None:
        raise ParameterError("the Echonest task has no split file (users are split at "
                             "evaluation time); drop --split")
    base = root if root.is_dir() else root.parent
    triplets = Path(triplets) if triplets else base / "train_triplets.txt"
    track_map = Path(track_map) if track_map else base / "unique_tracks.txt"
    if not track_map.is_file():
        raise HdpmusicError(f"song-to-track map {track_map} does not exist; give MSD's "
                            "unique_tracks.txt (or a song<TAB>track file) with --track-map")
    data = read_triplets(triplets)
    log.info("%s: %d users, %d songs, %d interactions", triplets, len(data.users),
             len(data.items), data.matrix.nnz)
    result = frequency_filter(data.matrix, min_user_items=min_user_songs,
                              min_item_users=min_song_users, rounds=filter_rounds)
    for h in result.history:
        log.info("filter round %d (users >= %d songs, songs >= %d users): %d users, %d songs, "
                 "%d interactions", h["round"], min_user_songs, min_song_users, h["users"],
                 h["items"], h["interactions"])
    data = data.select(result.user_mask, result.item_mask)
    if not data.items:
        raise DataError(f"{triplets}: no song is left after the frequency filter "
                        f"(songs >= {min_song_users} users, users >= {min_user_songs} songs); "
                        "lower the thresholds")
    song2track = read_track_map(track_map)
    unmapped = [s for s in data.items if s not in song2track]
    if unmapped:
        log.warning("%d songs have no track in %s and are left out: %s", len(unmapped),
                    track_map, name_some(unmapped))
    tracks = list(dict.fromkeys(song2track[s] for s in data.items if s in song2track))
    found, _ = resolve_tracks(_track_audio(root, tracks, layout), "Echonest")
    column = {t: k for k, (t, _) in enumerate(found)}
    # songs × tracks indicator: plays of songs sharing a track are summed
    pairs = [(j, column[song2track[s]]) for j, s in enumerate(data.items)
             if song2track.get(s) in column]
    if not pairs:
        raise DataError(f"{root}: none of the {len(tracks)} tracks left has audio; check "
                        "--root and --layout")
    rows, cols = np.asarray(pairs, dtype=np.int64).T
    indicator = sp.csr_matrix((np.ones(len(pairs), np.float32), (rows, cols)),
                              shape=(len(data.items), len(found)))
    plays = (data.matrix @ indicator).tocsr()

    def make_task(kept: list[str]) -> TaskData:
        matrix = plays[:, [column[t] for t in kept]].tocsr()
        active = np.flatnonzero(np.diff(matrix.indptr) > 0)
        if len(active) < matrix.shape[0]:
            log.warning("%d users have no interaction left after dropping songs without "
                        "audio and are left out", matrix.shape[0] - len(active))
        log.info("interactions: %d users x %d items, %d interactions", len(active),
                 len(kept), matrix[active].nnz)
        return TaskData(ids=kept, interaction=matrix[active],
                        userlist=[data.users[u] for u in active], itemlist=kept,
                        name="echonest")

    provenance = {"min_user_songs": min_user_songs, "min_song_users": min_song_users,
                  "filter_rounds": filter_rounds, "filter": result.history,
                  "triplets": str(triplets.resolve())}
    return prepare_corpus(found, out, make_task, dataset="echonest", provenance=provenance,
                          jobs=jobs, cache=cache, overwrite=overwrite, recompute=recompute,
                          config=config, progress=progress)
