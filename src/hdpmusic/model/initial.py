"""Initial hard assignments of a frame sample (the strategies of ``HDPGMM(init=...)``).

The model's first statistics are the one-hot statistics of these labels, scaled to the
corpus (:func:`hdpmusic.model.sufficient.initial_statistics`). Each strategy is a
pure function ``labels(sample, K, seed) -> (n,) int64`` in :data:`INITIAL_LABELS`.

``"kmeans"`` (the default) runs Lloyd's k-means to convergence from a k-means++ seeding,
as scikit-learn's mixtures do. The seeding alone (``"kmeans++"``) draws centres with
probability proportional to their squared distance from the centres already drawn, so
it favours outlying frames: components start tight around a few training frames,
and on real music the fit then needed more passes and held worse out (issue 20; the
figures are in ``docs/design.md`` §4.7). ``"random"`` is the study's initialisation.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def kmeans_labels(sample: np.ndarray, K: int, seed: int) -> np.ndarray:
    """Labels of Lloyd's k-means (scikit-learn's ``KMeans``, one k-means++ start).

    Parameters
    ----------
    sample : ndarray, shape (n, d), float64
    K : int
        Clusters; at most ``n`` are formed.
    seed : int

    Returns
    -------
    ndarray, shape (n,), int64, values in [0, min(K, n))
    """
    from sklearn.cluster import KMeans

    model = KMeans(min(K, len(sample)), n_init=1, random_state=seed).fit(sample)
    return model.labels_.astype(np.int64)


def seeded_labels(sample: np.ndarray, K: int, seed: int) -> np.ndarray:
    """Labels of the nearest k-means++ seed (no Lloyd iterations).

    Parameters
    ----------
    sample : ndarray, shape (n, d), float64
    K : int
    seed : int

    Returns
    -------
    ndarray, shape (n,), int64, values in [0, min(K, n))
    """
    from sklearn.cluster import kmeans_plusplus

    centres, _ = kmeans_plusplus(sample, min(K, len(sample)), random_state=seed)
    dist = ((sample * sample).sum(1, keepdims=True) - 2.0 * sample @ centres.T
            + (centres * centres).sum(1))
    return dist.argmin(1).astype(np.int64)


def random_labels(sample: np.ndarray, K: int, seed: int) -> np.ndarray:
    """Uniformly random labels (the study's initialisation).

    Parameters
    ----------
    sample : ndarray, shape (n, d)
    K : int
    seed : int

    Returns
    -------
    ndarray, shape (n,), int64, values in [0, K)
    """
    return np.random.default_rng(seed).integers(0, K, size=len(sample))


#: ``init`` name -> labelling strategy
INITIAL_LABELS: dict[str, Callable[[np.ndarray, int, int], np.ndarray]] = {
    "kmeans": kmeans_labels,
    "kmeans++": seeded_labels,
    "random": random_labels,
}
