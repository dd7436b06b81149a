"""Seeded train/valid/test splits of a collection without a split file.

* :func:`stratified_split` — each class cut in the given shares (exact proportions);
* :func:`group_split` — the same, keeping every group (an artist, an album, a track
  cut into excerpts) in one part: whole groups are dealt to the parts, largest first,
  each to a part still short of its share of the group's class, so that every class
  is cut near the given shares and has a group in every part when it has enough
  groups. This generalises the artist filter of GTZAN's fault-filtered split: no
  artist is heard in training and scored in test.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hdpmusic.datasets.base import SPLITS
from hdpmusic.runtime.errors import DataError

__all__ = ["DEFAULT_FRACTIONS", "group_split", "stratified_split"]

#: shares of train, valid and test
DEFAULT_FRACTIONS = (0.5, 0.25, 0.25)
#: slack of the float comparisons of song counts with fractional targets
_EPS = 1e-9


def _shares(fractions: Sequence[float]) -> np.ndarray:
    fractions = np.asarray(fractions, dtype=float)
    if fractions.shape != (3,) or (fractions < 0).any() or fractions.sum() <= 0:
        raise DataError(f"split fractions must be three non-negative numbers, got "
                        f"{fractions.tolist()}")
    return fractions / fractions.sum()


def stratified_split(labels: Sequence[str], fractions: Sequence[float] = DEFAULT_FRACTIONS,
                     seed: int = 0) -> np.ndarray:
    """A random train/valid/test split with the class proportions kept in each part.

    Parameters
    ----------
    labels : sequence of str
        Class of each track.
    fractions : (float, float, float)
        Shares of train, valid and test (normalised to sum 1); each class is cut by
        largest remainders, leaving no part of a positive share empty when the class
        has enough tracks.
    seed : int

    Returns
    -------
    np.ndarray of str, shape (n,)
    """
    shares = _shares(fractions)
    labels = np.asarray([str(x) for x in labels], dtype=object)
    rng = np.random.default_rng(seed)
    out = np.empty(len(labels), dtype=object)
    for label in sorted(set(labels)):
        members = rng.permutation(np.flatnonzero(labels == label))
        stops = np.cumsum(_allocate(len(members), shares))
        for part, start, stop in zip(SPLITS, [0, *stops[:2]], stops, strict=True):
            out[members[start:stop]] = part
    return out


def group_split(labels: Sequence[str], groups: Sequence[str] | None,
                fractions: Sequence[float] = DEFAULT_FRACTIONS, seed: int = 0) -> np.ndarray:
    """A seeded split stratified by label that keeps each group in one part.

    Whole groups are dealt out largest first (equal sizes in a seeded order). A group
    goes to a part where it fits, i.e. where none of its classes would exceed its
    target (share × the class's songs), drawn with odds in proportion to the room
    left there; where it fits nowhere, to the part furthest below its targets (ties
    drawn). The last groups of a class with at least as many groups as parts of a
    positive share go to the parts that class still lacks, and likewise for the whole
    collection, so no such class (and no part) is left empty (where groups hold several
    classes, as far as their overlaps allow).

    Parameters
    ----------
    labels : sequence of str, length n
        Class of each track (for tags, e.g. its rarest tag).
    groups : sequence of str, length n, or None
        Group of each track; None: every track is its own group
        (:func:`stratified_split`). A group may hold several classes.
    fractions : (float, float, float)
        Shares of train, valid and test (default 0.5, 0.25, 0.25), met per class up
        to about the size of the class's largest group.
    seed : int
        Seed of the draw (default 0); another seed deals the groups differently.

    Returns
    -------
    np.ndarray of str, shape (n,)
        ``train``, ``valid`` or ``test`` per track.

    Raises
    ------
    DataError
        Groups not one per track, or fewer groups than parts with a positive share.
    """
    if groups is None:
        return stratified_split(labels, fractions, seed)
    shares = _shares(fractions)
    labels = np.asarray([str(x) for x in labels], dtype=object)
    groups = np.asarray([str(g) for g in groups], dtype=object)
    if groups.shape != labels.shape:
        raise DataError(f"{groups.size} groups for {labels.size} tracks")
    n_parts = int((shares > 0).sum())
    _, group_of = np.unique(groups, return_inverse=True)
    _, class_of = np.unique(labels, return_inverse=True)
    counts = np.zeros((group_of.max(initial=-1) + 1, class_of.max(initial=-1) + 1), int)
    np.add.at(counts, (group_of, class_of), 1)
    if len(counts) < n_parts:
        raise DataError(f"only {len(counts)} group(s): a split keeping groups apart needs "
                        f"at least {n_parts}; give more groups or a split column")
    part_of_group = _deal_groups(counts, shares, np.random.default_rng(seed))
    return np.asarray(SPLITS, dtype=object)[part_of_group[group_of]]


def _deal_groups(counts: np.ndarray, shares: np.ndarray,
                 rng: np.random.Generator) -> np.ndarray:
    """The part of each group (see :func:`group_split`).

    Parameters
    ----------
    counts : np.ndarray of int, shape (n_groups, n_classes)
        Songs of each class in each group.
    shares : np.ndarray of float, shape (3,)
        Normalised shares of the parts.
    rng : numpy.random.Generator

    Returns
    -------
    np.ndarray of int, shape (n_groups,)
        Index of each group's part in :data:`SPLITS`.
    """
    room = counts.sum(axis=0)[:, None] * shares[None, :]   # (n_classes, 3) songs short
    parts = np.flatnonzero(shares > 0)
    units = _coverage_units(counts, len(parts))
    left = units.sum(axis=0)                                # unplaced groups per unit
    covered = np.zeros((units.shape[1], len(shares)), dtype=bool)
    part_of = np.empty(len(counts), dtype=np.int64)
    for g in _largest_first(counts.sum(axis=1), rng):
        candidates = _forced_parts(units[g], left, covered, parts)
        part = _choose_part(counts[g], room, candidates, rng)
        part_of[g] = part
        room[:, part] -= counts[g]
        covered[units[g], part] = True
        left[units[g]] -= 1
    return part_of


def _coverage_units(counts: np.ndarray, n_parts: int) -> np.ndarray:
    """Which groups belong to each set that must reach every part: each class with at
    least ``n_parts`` groups, then the whole collection.

    Parameters
    ----------
    counts : np.ndarray of int, shape (n_groups, n_classes)
    n_parts : int
        Parts of a positive share.

    Returns
    -------
    np.ndarray of bool, shape (n_groups, n_units)
    """
    members = counts > 0
    covered_classes = members[:, members.sum(axis=0) >= n_parts]
    return np.column_stack([covered_classes, np.ones(len(counts), dtype=bool)])


def _largest_first(sizes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices by decreasing size, groups of equal size in a random order → int (n,)."""
    shuffled = rng.permutation(len(sizes))
    return shuffled[np.argsort(-sizes[shuffled], kind="stable")]


def _forced_parts(member: np.ndarray, left: np.ndarray, covered: np.ndarray,
                  parts: np.ndarray) -> np.ndarray:
    """The parts a group may go to: those some unit of it still lacks when its groups
    left are no more than the parts it lacks (all ``parts`` when none is pressed).

    Parameters
    ----------
    member : np.ndarray of bool, shape (n_units,)
        The group's units.
    left : np.ndarray of int, shape (n_units,)
        Groups of each unit not yet placed, this one included.
    covered : np.ndarray of bool, shape (n_units, 3)
        Parts each unit already has a group in.
    parts : np.ndarray of int, shape (k,)
        Parts of a positive share.

    Returns
    -------
    np.ndarray of int, shape (k',)
    """
    allowed = parts
    for unit in np.flatnonzero(member):
        lacking = parts[~covered[unit, parts]]
        if 0 < len(lacking) >= left[unit]:
            narrowed = np.intersect1d(allowed, lacking)
            allowed = narrowed if len(narrowed) else allowed
    return allowed


def _choose_part(count: np.ndarray, room: np.ndarray, candidates: np.ndarray,
                 rng: np.random.Generator) -> int:
    """Draw the part of one group among ``candidates``.

    Parameters
    ----------
    count : np.ndarray of int, shape (n_classes,)
        The group's songs per class.
    room : np.ndarray of float, shape (n_classes, 3)
        Songs each part is short of its target per class (negative: over it).
    candidates : np.ndarray of int, shape (k,)

    Returns
    -------
    int
        A part where the group fits, with odds in proportion to the room it takes up
        there; where it fits nowhere, the part of most room (ties drawn).
    """
    present = count > 0
    need = count[present][:, None]
    space = room[present][:, candidates]
    score = (need * space).sum(axis=0)
    fits = (need <= space + _EPS).all(axis=0)
    if fits.any():
        odds = np.where(fits, score, 0.0)
        return int(rng.choice(candidates, p=odds / odds.sum()))
    return int(rng.choice(candidates[score >= score.max() - _EPS]))


def _allocate(n: int, shares: np.ndarray) -> np.ndarray:
    """Split ``n`` items by ``shares`` (largest remainders), none of a positive share empty
    when ``n`` allows."""
    exact = shares * n
    counts = np.floor(exact).astype(int)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[:n - counts.sum()]] += 1
    for k in np.flatnonzero((shares > 0) & (counts == 0)):
        donor = int(np.argmax(counts))
        if counts[donor] > 1:
            counts[donor] -= 1
            counts[k] += 1
    return counts


