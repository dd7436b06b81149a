"""Cross-validation folds for collections without a fixed split.

Repeated stratified group K-fold (scikit-learn's ``StratifiedGroupKFold``, shuffled and
seeded per repeat): every song is a test song exactly once per repeat and the songs of
one group (artist, track, ...) are never split between training and test. Songs
without a group are their own group. Tagging stratifies by each song's rarest tag
(:func:`rarest_tag`).
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from hdpmusic.runtime.errors import DataError, ParameterError

__all__ = ["INNER_SPLITS", "Fold", "derived_seed", "group_folds", "inner_folds", "rarest_tag",
           "repeat_seeds", "repeated_folds"]

INNER_SPLITS = 3
"""Folds of the inner cross-validation that chooses C on the training folds."""

Fold = tuple[np.ndarray, np.ndarray]
"""``(train, test)`` row indices."""


def repeat_seeds(seed: int, repeats: int) -> list[int]:
    """Independent 32-bit seeds of ``repeats`` repeats, derived from ``seed``."""
    return [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(repeats)]


def derived_seed(seed: int, *keys: int) -> int:
    """A 32-bit seed derived from ``seed`` and integer keys (repeat, fold, ...)."""
    return int(np.random.SeedSequence([seed, *keys]).generate_state(1)[0])


def rarest_tag(Y: np.ndarray) -> np.ndarray:
    """The stratum of each song of a tag matrix: its rarest tag (``-1``: untagged).

    Parameters
    ----------
    Y : np.ndarray of bool, shape (n, n_tags)

    Returns
    -------
    np.ndarray of int, shape (n,)
        Column of the song's least frequent positive tag (lowest column among ties).
    """
    Y = np.asarray(Y, dtype=bool)
    if Y.shape[1] == 0:
        return np.full(Y.shape[0], -1)
    counts = Y.sum(axis=0)
    rank = np.where(Y, counts[None, :], np.iinfo(np.int64).max)
    return np.where(Y.any(axis=1), rank.argmin(axis=1), -1)


def group_folds(strata: np.ndarray, groups: np.ndarray, n_splits: int,
                seed: int) -> list[Fold]:
    """One shuffled stratified group K-fold partition.

    Parameters
    ----------
    strata : np.ndarray, shape (n,)
        Label each fold's test part is balanced on.
    groups : np.ndarray, shape (n,)
        Songs of one group fall in one fold.
    n_splits : int
        K (>= 2, at most the number of groups and the size of the largest stratum).
    seed : int
        Seed of the shuffle.

    Returns
    -------
    list of (train, test)
        K folds whose test parts partition ``range(n)``.

    Raises
    ------
    ParameterError
        K < 2.
    DataError
        Fewer groups than K, or every stratum smaller than K (scikit-learn cannot
        stratify then).
    """
    if n_splits < 2:
        raise ParameterError(f"--cv needs at least 2 folds; got {n_splits}")
    n_groups = np.unique(groups).size
    if n_groups < n_splits:
        raise DataError(f"{n_splits}-fold cross-validation needs at least {n_splits} "
                        f"songs or groups; there are {n_groups}")
    largest = _largest_stratum(strata)
    if largest < n_splits:
        raise DataError(f"{n_splits}-fold cross-validation needs a class with at least "
                        f"{n_splits} songs; the largest has {largest}: use fewer folds "
                        f"(--cv {max(largest, 2)}) or collect more songs")
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        # classes rarer than K are expected in small collections (split_warnings names them)
        warnings.filterwarnings("ignore", message="The least populated class",
                                category=UserWarning)
        return [(train, test) for train, test in
                splitter.split(np.zeros(len(strata)), strata, groups)]


def inner_folds(strata: np.ndarray, groups: np.ndarray, seed: int,
                n_splits: int = INNER_SPLITS) -> list[Fold]:
    """The folds that choose C on a training part: :func:`group_folds` with
    ``min(n_splits, groups, largest stratum)`` folds (default 3)."""
    k = min(n_splits, np.unique(groups).size, _largest_stratum(strata))
    if k < 2:
        raise DataError("choosing C needs, in a training part, at least two groups of songs "
                        "and a class with at least two songs; use fewer folds (--cv) or "
                        "collect more songs")
    return group_folds(strata, groups, k, seed)


def _largest_stratum(strata: np.ndarray) -> int:
    """Songs in the most populous stratum (0 for no songs)."""
    return int(np.unique(strata, return_counts=True)[1].max(initial=0))


def repeated_folds(strata: np.ndarray, groups: np.ndarray, n_splits: int,
                   repeats: int, seed: int) -> list[list[Fold]]:
    """``repeats`` independent :func:`group_folds` partitions seeded by
    :func:`repeat_seeds`."""
    return [group_folds(strata, groups, n_splits, s) for s in repeat_seeds(seed, repeats)]
