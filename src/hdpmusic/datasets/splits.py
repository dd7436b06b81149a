"""Seeded train/valid/test splits of a collection without a split file.

* :func:`stratified_split` — each class cut in the given shares (exact proportions);
* :func:`group_split` — the same, keeping every group (an artist, an album, a track
  cut into excerpts) in one part: scikit-learn's ``StratifiedGroupKFold`` cuts the
  groups into folds of similar class mix, and the folds are dealt to train, valid and
  test in the given shares. This generalises the artist filter of GTZAN's
  fault-filtered split: no artist is heard in training and scored in test.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from hdpmusic.datasets.base import SPLITS
from hdpmusic.errors import DataError

__all__ = ["DEFAULT_FRACTIONS", "group_split", "stratified_split"]

#: shares of train, valid and test
DEFAULT_FRACTIONS = (0.5, 0.25, 0.25)
#: folds the groups are cut into (fewer when there are fewer groups)
MAX_FOLDS = 20


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

    Parameters
    ----------
    labels : sequence of str, length n
        Class of each track (for tags, e.g. its rarest tag).
    groups : sequence of str, length n, or None
        Group of each track; None: every track is its own group
        (:func:`stratified_split`).
    fractions : (float, float, float)
        Shares of train, valid and test, met up to the size of the groups.
    seed : int

    Returns
    -------
    np.ndarray of str, shape (n,)

    Raises
    ------
    DataError
        Fewer groups than parts with a positive share.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    if groups is None:
        return stratified_split(labels, fractions, seed)
    shares = _shares(fractions)
    labels = np.asarray([str(x) for x in labels], dtype=object)
    groups = np.asarray([str(g) for g in groups], dtype=object)
    if groups.shape != labels.shape:
        raise DataError(f"{groups.size} groups for {labels.size} tracks")
    n_groups = len(set(groups))
    n_parts = int((shares > 0).sum())
    if n_groups < n_parts:
        raise DataError(f"only {n_groups} group(s): a split keeping groups apart needs "
                        f"at least {n_parts}; give more groups or a split column")
    largest_class = max(np.unique(labels, return_counts=True)[1])
    n_folds = max(n_parts, min(MAX_FOLDS, n_groups, largest_class))
    folds = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    fold_of = np.empty(labels.size, dtype=np.int64)
    with warnings.catch_warnings():   # classes smaller than n_folds: cut as evenly as may be
        warnings.filterwarnings("ignore", "The least populated class", UserWarning)
        try:
            for f, (_, members) in enumerate(folds.split(np.zeros(labels.size), labels,
                                                         groups)):
                fold_of[members] = f
        except ValueError as err:
            raise DataError(f"cannot draw a split keeping groups apart: {err}; give a "
                            "split column") from None
    part_of_fold = np.repeat(np.arange(3), _allocate(n_folds, shares))
    return np.asarray(SPLITS, dtype=object)[part_of_fold[fold_of]]


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


