"""The initialisation strategies of HDPGMM (``hdpmusic.model.initial``)."""

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from sklearn.cluster import kmeans_plusplus
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from hdpmusic import HDPGMM
from hdpmusic.model.initial import (
    INITIAL_LABELS,
    kmeans_labels,
    random_labels,
    seeded_labels,
)


def blobs(n=600, centers=5, seed=0):
    x, y = make_blobs(n, n_features=3, centers=centers, cluster_std=0.5, center_box=(-20, 20),
                      random_state=seed)
    return x.astype(np.float64), y


@pytest.mark.parametrize("name", sorted(INITIAL_LABELS))
def test_every_strategy_gives_int64_labels_in_range_and_is_seeded(name):
    x, _ = blobs()
    labels = INITIAL_LABELS[name](x, 7, 3)
    assert labels.dtype == np.int64 and labels.shape == (len(x),)
    assert labels.min() >= 0 and labels.max() < 7
    np.testing.assert_array_equal(labels, INITIAL_LABELS[name](x, 7, 3))


@pytest.mark.parametrize("name", ["kmeans", "kmeans++"])
def test_more_components_than_frames_uses_each_frame_once(name):
    x, _ = blobs(n=6)
    labels = INITIAL_LABELS[name](x, 10, 0)
    assert sorted(labels) == list(range(6))


def test_kmeans_labels_are_a_fixed_point_of_lloyd():
    """Converged k-means: every frame is nearest to the mean of its own cluster (but the
    few that scikit-learn's relative tolerance, 1e-4, leaves to move)."""
    rng = np.random.default_rng(0)
    x = rng.standard_t(3, size=(2000, 4))                 # heavy tails, no clean clusters
    def moved(labels):
        means = np.stack([x[labels == k].mean(0) for k in range(12)])
        return (cdist(x, means, "sqeuclidean").argmin(1) != labels).mean()
    assert moved(kmeans_labels(x, 12, 0)) < 0.005
    assert moved(seeded_labels(x, 12, 0)) > 0.05        # the seeding alone is far from it


def test_seeded_labels_are_the_nearest_kmeans_plusplus_seed():
    x, _ = blobs()
    centres, _ = kmeans_plusplus(x, 5, random_state=4)
    np.testing.assert_array_equal(seeded_labels(x, 5, 4),
                                  cdist(x, centres, "sqeuclidean").argmin(1))


def test_kmeans_recovers_planted_blobs_and_lowers_the_seeding_inertia():
    x, truth = blobs(centers=6, seed=1)
    km, seeded = kmeans_labels(x, 6, 0), seeded_labels(x, 6, 0)
    assert adjusted_rand_score(truth, km) == pytest.approx(1.0)

    def inertia(labels):
        return sum(((x[labels == k] - x[labels == k].mean(0)) ** 2).sum()
                   for k in np.unique(labels))
    assert inertia(km) <= inertia(seeded)


def test_random_labels_are_uniform():
    counts = np.bincount(random_labels(np.zeros((40_000, 2)), 4, 0), minlength=4)
    np.testing.assert_allclose(counts / counts.sum(), 0.25, atol=0.01)


def test_model_starts_from_the_chosen_strategys_labels():
    """The initial statistics are the one-hot statistics of the strategy's labels on the
    sample, largest first, scaled to the corpus."""
    x, _ = blobs(n=400, centers=4)
    songs = [x[i:i + 40].astype(np.float32) for i in range(0, 400, 40)]
    for name in INITIAL_LABELS:
        model = HDPGMM(n_components=6, n_song_components=3, init=name, whiten=None,
                       init_samples=400, max_epochs=1, verbose=False, device="cpu",
                       dtype="float64")
        model._initialise(model._as_corpus(songs))
        sample = np.asarray(model._as_corpus(songs).sample_frames(400, seed=0), np.float64)
        sizes = np.sort(np.bincount(INITIAL_LABELS[name](sample, 6, 0), minlength=6))[::-1]
        np.testing.assert_allclose(model.stats_.N.numpy(), sizes, err_msg=name)


def test_unknown_init_is_refused_naming_the_strategies():
    with pytest.raises(ValueError, match="kmeans"):
        HDPGMM(init="lloyd", verbose=False).fit([np.zeros((5, 2), np.float32)])
