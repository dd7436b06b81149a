"""Bootstrap statistics of test scores: resample weights, weighted metrics, intervals.

Pure NumPy functions, no protocol knowledge. A bootstrap resample of a test set draws
its ``G`` resampling units (songs, or whole groups such as artists, or users) ``G``
times with replacement; every song then carries the number of times its unit was drawn
as a weight. The metrics below take a batch of such weights, shape ``(B, n)``, and
return the metric of each resample, shape ``(B,)``, without a Python loop over the
resamples: a weight ``w`` counts a song ``w`` times, exactly as if the resampled test
set listed it ``w`` times (:func:`numpy.take` of the drawn indices), which is how the
tests check them against scikit-learn.

* :func:`resample_counts` — the draws, in chunks of resamples;
* :func:`weighted_accuracy`, :func:`weighted_macro_f1`, :func:`weighted_macro_auc`
  (ROC), :func:`weighted_macro_ap` (PR), :func:`weighted_mean` — the metrics;
* :func:`percentile_interval` — the percentile interval of a bootstrap distribution;
* :func:`paired_difference` — the difference of two models scored on the same resamples.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

__all__ = ["CONFIDENCE", "MAX_ELEMENTS", "N_RESAMPLES", "paired_difference",
           "percentile_interval", "resample_counts", "weighted_accuracy",
           "weighted_macro_ap", "weighted_macro_auc", "weighted_macro_f1", "weighted_mean"]

N_RESAMPLES = 1000
"""Default number of bootstrap resamples."""
CONFIDENCE = 0.95
"""Default coverage of the percentile intervals."""
MAX_ELEMENTS = 1 << 22
"""Bound on the weights (resamples × songs) held at once."""


def resample_counts(n_groups: int, n_resamples: int = N_RESAMPLES, seed: int = 0, *,
                    chunk_size: int | None = None) -> Iterator[np.ndarray]:
    """How often each of ``n_groups`` units is drawn in each bootstrap resample.

    Each resample draws ``n_groups`` units uniformly with replacement.

    Parameters
    ----------
    n_groups : int
        Resampling units G (>= 1).
    n_resamples : int
        Resamples B in all (default 1000).
    seed : int
        Seed of the draws; the same seed, B and G give the same counts.
    chunk_size : int, optional
        Resamples per yielded chunk (default: as many as keep ``chunk × G`` under
        :data:`MAX_ELEMENTS`).

    Yields
    ------
    np.ndarray of int32, shape (b, G)
        Counts of consecutive resamples (``b`` ≤ ``chunk_size``); each row sums to G.
    """
    if chunk_size is None:
        chunk_size = max(1, MAX_ELEMENTS // max(n_groups, 1))
    rng = np.random.default_rng(seed)
    for start in range(0, n_resamples, chunk_size):
        b = min(chunk_size, n_resamples - start)
        drawn = rng.integers(0, n_groups, size=(b, n_groups))
        flat = (drawn + n_groups * np.arange(b)[:, None]).ravel()
        yield np.bincount(flat, minlength=b * n_groups).reshape(b, n_groups).astype(np.int32)


def percentile_interval(samples: np.ndarray, confidence: float = CONFIDENCE,
                        ) -> tuple[float, float]:
    """The percentile bootstrap interval: the (1 ± confidence) / 2 quantiles.

    Parameters
    ----------
    samples : np.ndarray, shape (B,)
        The statistic on each resample; NaN (a resample where it is undefined) is left
        out.
    confidence : float
        Coverage (default 0.95: the 2.5 % and 97.5 % quantiles, linearly interpolated).

    Returns
    -------
    low, high : float
        NaN when no resample has a value.
    """
    samples = np.asarray(samples, dtype=np.float64)
    samples = samples[np.isfinite(samples)]
    if samples.size == 0:
        return float("nan"), float("nan")
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(samples, [tail, 100 - tail])
    return float(low), float(high)


def paired_difference(a: np.ndarray, b: np.ndarray, confidence: float = CONFIDENCE,
                      ) -> dict[str, float]:
    """Bootstrap distribution of ``a − b`` for two models scored on the same resamples.

    Parameters
    ----------
    a, b : np.ndarray, shape (B,)
        The two models' statistic on the same resamples (same units, same draws).
    confidence : float
        Coverage of the interval (default 0.95).

    Returns
    -------
    dict
        ``low``, ``high`` (:func:`percentile_interval` of ``a − b``), ``wins_a``,
        ``wins_b`` (share of the resamples in which a, resp. b, scores strictly higher;
        ties count for neither).
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    both = np.isfinite(a) & np.isfinite(b)
    low, high = percentile_interval(a[both] - b[both], confidence)
    n = max(int(both.sum()), 1)
    return {"low": low, "high": high, "wins_a": float(np.sum(a[both] > b[both]) / n),
            "wins_b": float(np.sum(b[both] > a[both]) / n)}


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` with NaN where ``den`` is 0."""
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def weighted_mean(weights: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The mean of ``values`` under each row of weights.

    Parameters
    ----------
    weights : np.ndarray, shape (B, n)
    values : np.ndarray, shape (n,)

    Returns
    -------
    np.ndarray, shape (B,)
        NaN for a row of zero weights.
    """
    weights = np.asarray(weights, dtype=np.float64)
    return _ratio(weights @ np.asarray(values, dtype=np.float64), weights.sum(axis=1))


def weighted_accuracy(weights: np.ndarray, y_true: np.ndarray,
                      y_pred: np.ndarray) -> np.ndarray:
    """Accuracy under each row of weights.

    Parameters
    ----------
    weights : np.ndarray, shape (B, n)
    y_true, y_pred : np.ndarray, shape (n,)
        Labels (any comparable type).

    Returns
    -------
    np.ndarray, shape (B,)
    """
    return weighted_mean(weights, np.asarray(y_true) == np.asarray(y_pred))


def weighted_macro_f1(weights: np.ndarray, y_true: np.ndarray,
                      y_pred: np.ndarray) -> np.ndarray:
    """Macro F1 under each row of weights, as scikit-learn's ``f1_score(average="macro")``
    of the resampled songs.

    A class enters a resample's mean when it is a true or a predicted label of a song
    with positive weight; its F1 is ``2 TP / (n_true + n_pred)``.

    Parameters
    ----------
    weights : np.ndarray, shape (B, n)
    y_true, y_pred : np.ndarray, shape (n,)
        Labels.

    Returns
    -------
    np.ndarray, shape (B,)
    """
    weights = np.asarray(weights, dtype=np.float64)
    classes, codes = np.unique(np.concatenate([np.asarray(y_true), np.asarray(y_pred)]),
                               return_inverse=True)
    n = weights.shape[1]
    true, pred = codes[:n], codes[n:]
    eye = np.eye(classes.size)
    n_true, n_pred = weights @ eye[true], weights @ eye[pred]
    tp = weights @ (eye[true] * (true == pred)[:, None])
    present = (n_true + n_pred) > 0
    f1 = np.where(present, _ratio(2 * tp, n_true + n_pred), 0.0)
    return _ratio(f1.sum(axis=1), present.sum(axis=1).astype(np.float64))


def _ranked_weights(weights: np.ndarray, Y: np.ndarray, scores: np.ndarray,
                    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """For each tag, the weights around each of its distinct positive scores.

    One sparse product per tag sums the weight of the songs of each cell — positives at
    each distinct positive score u_k (ascending), negatives strictly between u_(k-1)
    and u_k, negatives equal to u_k — reading every weight once, without sorting them.

    Parameters
    ----------
    weights : np.ndarray, shape (B, n)
    Y : np.ndarray of bool, shape (n, n_tags)
    scores : np.ndarray, shape (n, n_tags)

    Yields
    ------
    positive, below, equal : np.ndarray, each shape (m, B)
        Per distinct positive score u_k: weight of the positives scored u_k, of the
        negatives scored below u_k, of the negatives scored u_k (m = 0: no positive).
    negative : np.ndarray, shape (B,)
        The tag's total negative weight.
    """
    import scipy.sparse as sp

    weights_t = np.ascontiguousarray(np.asarray(weights, dtype=np.float64).T)
    Y, scores = np.asarray(Y, dtype=bool), np.asarray(scores)
    total = weights_t.sum(axis=0)
    n = Y.shape[0]
    for tag in range(Y.shape[1]):
        positive, score = Y[:, tag], scores[:, tag]
        levels = np.unique(score[positive])
        m = levels.size
        k = np.searchsorted(levels, score)                  # distinct positive scores below
        equal = (k < m) & (levels[np.minimum(k, m - 1)] == score) if m else np.zeros(n, bool)
        # rows: 0..m-1 positives at u_k; m + 2k: negatives in (u_(k-1), u_k); m + 2k + 1:
        # negatives at u_k
        row = np.where(positive, k, m + 2 * k + equal)
        cells = sp.csr_matrix((np.ones(n), (row, np.arange(n))), shape=(3 * m + 1, n))
        summed = cells @ weights_t
        between, at = summed[m::2], summed[m + 1::2]
        below = np.cumsum(between[:m], axis=0) + np.vstack([np.zeros((1, summed.shape[1])),
                                                             np.cumsum(at[:-1], axis=0)]) \
            if m else np.zeros((0, summed.shape[1]))
        yield summed[:m], below, at[:m], total - summed[:m].sum(axis=0)


def _macro(per_tag: list[np.ndarray]) -> np.ndarray:
    """Mean over the tags that have a value (NaN where none has) → (B,)."""
    values = np.stack(per_tag, axis=1)
    scored = np.isfinite(values)
    return _ratio(np.where(scored, values, 0.0).sum(axis=1), scored.sum(axis=1) * 1.0)


def weighted_macro_auc(weights: np.ndarray, Y: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Macro ROC-AUC under each row of weights, over the tags with positive and negative
    weight in that resample (ties count one half).

    Parameters
    ----------
    weights : np.ndarray, shape (B, n)
    Y : np.ndarray of bool, shape (n, n_tags)
    scores : np.ndarray, shape (n, n_tags)

    Returns
    -------
    np.ndarray, shape (B,)
        NaN where no tag has both classes.
    """
    aucs = []
    for pos, below, equal, total_neg in _ranked_weights(weights, Y, scores):
        wins = (pos * (below + 0.5 * equal)).sum(axis=0)
        aucs.append(_ratio(wins, pos.sum(axis=0) * total_neg))
    return _macro(aucs)


def weighted_macro_ap(weights: np.ndarray, Y: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Macro average precision (PR-AUC, scikit-learn's step-wise definition) under each
    row of weights, over the tags with positive and negative weight in that resample.

    At each distinct positive score u (the thresholds where recall changes), precision
    counts every song scored ≥ u.

    Parameters
    ----------
    weights : np.ndarray, shape (B, n)
    Y : np.ndarray of bool, shape (n, n_tags)
    scores : np.ndarray, shape (n, n_tags)

    Returns
    -------
    np.ndarray, shape (B,)
        NaN where no tag has both classes.
    """
    aps = []
    for pos, below, _, total_neg in _ranked_weights(weights, Y, scores):
        hits = np.cumsum(pos[::-1], axis=0)[::-1]           # positives scored >= u_k
        seen = hits + total_neg - below                     # all songs scored >= u_k
        precision = np.where(seen > 0, _ratio(hits, seen), 0.0)
        ap = _ratio((pos * precision).sum(axis=0), pos.sum(axis=0))
        aps.append(np.where(total_neg > 0, ap, np.nan))
    return _macro(aps)
