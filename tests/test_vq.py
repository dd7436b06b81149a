"""VQ codebook: streaming mini-batch k-means checked against scikit-learn, histograms."""

import h5py
import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.exceptions import NotFittedError
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import StandardScaler

from hdpmusic import Corpus
from hdpmusic.baselines.vq import VQCodebook, _split_by_frames
from hdpmusic.runtime.errors import DataError, FormatError, ParameterError
from planted import planted_hdp
from test_g1 import probe_accuracy, timbre_songs

FAST = {"verbose": False, "batch_size": 256, "read_frames": 2048}


@pytest.fixture(scope="module")
def planted():
    X, Z = planted_hdp(seed=1, n_true=8, d=5, songs=150, frames=(40, 80))
    return X, np.concatenate(X), np.concatenate(Z)


class CountingCorpus(Corpus):
    """A corpus that records how many frames every ``read`` returns."""

    reads: list

    def read(self, indices, **kwargs):
        frames, offsets = super().read(indices, **kwargs)
        type(self).reads.append(len(frames))
        return frames, offsets


def test_planted_clusters_recovered_like_sklearn(planted):
    X, frames, truth = planted
    vq = VQCodebook(8, standardize=False, **FAST).fit(X)
    kmeans = KMeans(8, n_init=3, random_state=0).fit(frames)
    assert vq.inertia_ <= 1.02 * kmeans.inertia_, (vq.inertia_, kmeans.inertia_)
    assert adjusted_rand_score(truth, vq.predict(frames)) >= 0.95
    # the inertia is the sum over the training frames; score is minus its mean
    d2 = ((frames[:, None, :] - vq.cluster_centers_[None]) ** 2).sum(-1).min(1)
    np.testing.assert_allclose(vq.inertia_, d2.sum(), rtol=1e-4)
    np.testing.assert_allclose(vq.score(X), -vq.inertia_ / len(frames), rtol=1e-6)


def test_more_clusters_than_structure_close_to_sklearn(planted):
    X, frames, _ = planted
    frames_scaled = StandardScaler().fit_transform(frames)
    exact = KMeans(32, n_init=1, random_state=0).fit(frames_scaled).inertia_
    minibatch = MiniBatchKMeans(32, random_state=0).fit(frames_scaled).inertia_
    vq = VQCodebook(32, **FAST).fit(X)                       # standardised, like the study
    assert vq.inertia_ <= 1.06 * exact, (vq.inertia_, exact)
    assert vq.inertia_ <= 1.03 * minibatch, (vq.inertia_, minibatch)
    scaler = StandardScaler().fit(frames)
    np.testing.assert_allclose(vq.mean_, scaler.mean_, rtol=1e-5)
    np.testing.assert_allclose(vq.scale_, scaler.scale_, rtol=1e-5)
    assert vq.history_[-1]["frames"] > 0 and vq.n_steps_ == sum(
        h["steps"] for h in vq.history_)


def test_histograms_sum_to_one_and_match_predict(planted):
    X, _, _ = planted
    vq = VQCodebook(16, **FAST).fit(X)
    H = vq.transform(X, log=False)
    assert H.shape == (len(X), 16) and H.dtype == np.float32
    np.testing.assert_allclose(H.sum(1), 1.0, atol=1e-6)
    for j in (0, 7, 149):
        counts = np.bincount(vq.predict(X[j]), minlength=16)
        np.testing.assert_allclose(H[j], counts / len(X[j]), atol=1e-7)
    np.testing.assert_allclose(vq.transform(X), np.log(np.maximum(H, 1e-8)), rtol=1e-6)
    np.testing.assert_array_equal(vq.transform(X, log=False, batch_size=3), H)


def test_fit_streams_and_never_reads_the_corpus_at_once(planted, tmp_path):
    X, _, _ = planted
    path = tmp_path / "c.h5"
    Corpus.from_arrays(X).save(path)
    CountingCorpus.reads = []
    corpus = CountingCorpus.open(path)
    vq = VQCodebook(8, max_epochs=2, max_no_improvement=None, **FAST).fit(corpus)
    total, longest = corpus.n_frames, int(corpus.lengths.max())
    assert max(CountingCorpus.reads) <= 2048 + longest < total / 2
    # standardisation pass + 2 epochs + the final inertia pass, nothing more
    assert sum(CountingCorpus.reads) == 4 * total
    assert len(vq.history_) == 2
    assert vq.n_steps_ == sum(h["steps"] for h in vq.history_) >= 2 * total // 256
    in_memory = VQCodebook(8, max_epochs=2, max_no_improvement=None, **FAST).fit(X)
    np.testing.assert_allclose(vq.cluster_centers_, in_memory.cluster_centers_, rtol=1e-5)


def test_dead_centres_are_reassigned(planted):
    X, frames, _ = planted
    seeds = []

    class FarSeed(VQCodebook):
        def _seed(self, corpus, dev):            # centres 0..2 start far from every frame
            centers = super()._seed(corpus, dev)
            centers[:3] += 1e3
            seeds.append(centers.double().cpu().numpy())
            return centers

    ours, sklearn = [], []
    for seed in range(3):
        vq = FarSeed(8, standardize=False, random_state=seed, **FAST).fit(X)
        assert sum(h["reassigned"] for h in vq.history_) >= 3
        assert len(np.unique(vq.predict(frames))) == 8       # every centre is in use
        stuck = FarSeed(8, standardize=False, random_state=seed, reassignment_ratio=0.0,
                        **FAST).fit(X)
        assert len(np.unique(stuck.predict(frames))) <= 5    # without it they stay dead
        assert vq.inertia_ < 0.8 * stuck.inertia_, (vq.inertia_, stuck.inertia_)
        ours.append(vq.inertia_)
        # scikit-learn's reassignment from the same far start: ours does as well on average
        sklearn.append(MiniBatchKMeans(8, init=seeds[-1], n_init=1, batch_size=256,
                                       reassignment_ratio=0.01,
                                       random_state=seed).fit(frames).inertia_)
    assert np.mean(ours) <= 1.2 * np.mean(sklearn), (ours, sklearn)


def test_song_without_frames_is_an_error_not_uniform(tmp_path):
    path = tmp_path / "study.h5"
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        f["data"] = rng.normal(size=(60, 3)).astype(np.float32)
        f["indptr"] = np.array([0, 30, 30, 60], np.int64)
        f["ids"] = np.array([b"a", b"empty-song", b"c"])
    corpus = Corpus.open(path)
    vq = VQCodebook(4, **FAST).fit(corpus)                   # empty songs do not hurt fit
    with pytest.raises(DataError, match="'empty-song'"):
        vq.transform(corpus)
    assert vq.transform(corpus.subset([0, 2])).shape == (2, 4)


def test_same_seed_same_codebook_and_persistence(planted, tmp_path):
    X, _, _ = planted
    a = VQCodebook(8, random_state=5, **FAST).fit(X)
    b = VQCodebook(8, random_state=5, **FAST).fit(X)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    a.save(tmp_path / "vq.ckpt")
    loaded = VQCodebook.load(tmp_path / "vq.ckpt", device="cpu")
    np.testing.assert_array_equal(loaded.cluster_centers_, a.cluster_centers_)
    np.testing.assert_array_equal(loaded.transform(X), a.transform(X))
    np.testing.assert_array_equal(loaded.counts_, a.counts_)
    assert loaded.inertia_ == a.inertia_ and loaded.history_ == a.history_
    assert loaded.n_steps_ == a.n_steps_ and loaded.get_params()["random_state"] == 5
    state = torch.load(tmp_path / "vq.ckpt", weights_only=True)
    state["tensors"]["centers"] = state["tensors"]["centers"][:3]
    torch.save(state, tmp_path / "bad.ckpt")
    with pytest.raises(FormatError, match="centers"):
        VQCodebook.load(tmp_path / "bad.ckpt")


def test_bad_inputs(planted):
    X, _, _ = planted
    with pytest.raises(NotFittedError):
        VQCodebook(4).transform(X)
    with pytest.raises(ParameterError, match="init"):
        VQCodebook(4, init="kmeans").fit(X)
    with pytest.raises(ParameterError, match="n_clusters"):
        VQCodebook(0).fit(X)
    with pytest.raises(DataError, match="fewer than n_clusters"):
        VQCodebook(50, **FAST).fit([np.zeros((10, 2), np.float32)])
    vq = VQCodebook(4, **FAST).fit(X[:20])
    with pytest.raises(DataError, match="5-d"):
        vq.transform([np.zeros((4, 3), np.float32)])
    with pytest.raises(DataError, match="shape"):
        vq.predict(np.zeros((4, 3)))
    bad = [x.copy() for x in X[:20]]
    bad[3][0, 0] = np.inf
    with pytest.raises(DataError, match="NaN"):
        VQCodebook(4, standardize=False, **FAST).fit(bad)


def test_split_by_frames_covers_every_song_once():
    lengths = np.array([5, 0, 7, 30, 2, 2, 9])
    order = np.random.default_rng(0).permutation(len(lengths))
    groups = _split_by_frames(order, lengths, 10)
    np.testing.assert_array_equal(np.concatenate(groups), order)
    assert all(lengths[g].sum() <= 10 or len(g) == 1 or lengths[g[:-1]].sum() < 10
               for g in groups)


def test_linear_probe_separates_timbre_and_rhythm_classes():
    songs, labels = timbre_songs()
    H = VQCodebook(16, **FAST).fit(songs).transform(songs)
    accuracy = probe_accuracy(H, labels)
    assert accuracy >= 0.85, accuracy               # chance: 1/3
    shuffled = np.random.default_rng(0).permutation(labels)
    assert probe_accuracy(H, shuffled) < 0.6
