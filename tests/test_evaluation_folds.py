"""Cross-validation folds: every song once per repeat, groups never split, seeded."""

import numpy as np
import pytest

from hdpmusic.evaluation.folds import (
    group_folds,
    inner_folds,
    rarest_tag,
    repeated_folds,
)
from hdpmusic.formats.taskdata import song_groups
from hdpmusic.runtime.errors import DataError, ParameterError


def collection(seed=0):
    rng = np.random.default_rng(seed)
    groups = np.repeat([f"artist{a}" for a in range(30)], rng.integers(1, 5, 30))
    labels = np.array([f"genre{int(g[6:]) % 3}" for g in groups])
    return labels, groups


def test_every_song_once_per_repeat_and_groups_whole():
    labels, groups = collection()
    repeats = repeated_folds(labels, groups, 5, 3, seed=4)
    assert len(repeats) == 3
    for folds in repeats:
        assert len(folds) == 5
        tested = np.concatenate([test for _, test in folds])
        assert np.array_equal(np.sort(tested), np.arange(labels.size))  # once each
        for train, test in folds:
            assert np.intersect1d(train, test).size == 0
            assert np.union1d(train, test).size == labels.size
            assert not set(groups[train]) & set(groups[test])      # no group split
    tests = [[tuple(t) for _, t in folds] for folds in repeats]
    assert tests[0] != tests[1]                                      # repeats differ
    again = repeated_folds(labels, groups, 5, 3, seed=4)
    assert all(np.array_equal(a[1], b[1]) for x, y in zip(repeats, again, strict=True)
               for a, b in zip(x, y, strict=True))


def test_folds_are_stratified():
    labels = np.repeat(["a", "b"], [60, 20])
    folds = group_folds(labels, np.arange(80), 4, seed=0)
    assert [int((labels[test] == "b").sum()) for _, test in folds] == [5, 5, 5, 5]


def test_fold_refusals_and_inner_folds():
    labels, groups = collection()
    with pytest.raises(ParameterError, match="at least 2 folds"):
        group_folds(labels, groups, 1, seed=0)
    with pytest.raises(DataError, match="needs at least 5 songs or groups; there are 3"):
        group_folds(labels[:3], np.arange(3), 5, seed=0)
    assert len(inner_folds(labels[:2], np.arange(2), seed=0)) == 2    # min(3, groups)
    with pytest.raises(DataError, match="two groups"):
        inner_folds(labels[:2], np.zeros(2), seed=0)
    one_each = np.array(["a", "b", "c"])              # every class smaller than K
    with pytest.raises(DataError, match=r"a class with at least 2 songs; the largest has 1"):
        group_folds(one_each, np.arange(3), 2, seed=0)
    with pytest.raises(DataError, match="a class with at least two songs"):
        inner_folds(one_each, np.arange(3), seed=0)
    two_each = np.repeat(["a", "b"], 2)               # inner K shrinks to the largest class
    folds = inner_folds(two_each, np.arange(4), seed=0)
    assert len(folds) == 2 and sorted(np.concatenate([t for _, t in folds])) == [0, 1, 2, 3]


def test_rarest_tag_and_song_groups():
    Y = np.array([[1, 1, 0], [1, 0, 0], [0, 0, 0], [1, 1, 1], [0, 1, 1]], bool)
    # tag counts 3, 3, 2: the rarest positive tag, lowest column among ties
    assert rarest_tag(Y).tolist() == [0, 0, -1, 2, 2]
    assert song_groups(["a", "b"], None).tolist() == ["song:a", "song:b"]
    assert song_groups(["a", "b", "c"], np.array(["x", "", "a"])).tolist() == [
        "group:x", "song:b", "group:a"]                 # a group named like a song stays apart
