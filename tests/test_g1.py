"""G1: per-song mean and standard deviation, streamed and reduced per song on the device."""

from functools import lru_cache

import h5py
import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from hdpmusic import Corpus
from hdpmusic.baselines.g1 import G1
from hdpmusic.runtime.errors import DataError, FormatError, ParameterError


def random_songs(seed=0, songs=23, d=4, lengths=(1, 60)):
    rng = np.random.default_rng(seed)
    out = []
    for j in range(songs):
        n = 1 if j == 0 else int(rng.integers(*lengths))     # song 0 has one frame
        scale = rng.uniform(0.1, 5.0, size=d)
        out.append((rng.normal(size=(n, d)) * scale + rng.normal(0, 20, size=d))
                   .astype(np.float32))
    return out


@lru_cache(maxsize=2)          # shared with test_vq.py within one session
def timbre_songs(per_class=16, seconds=3.0, seed=0):
    """Generated audio in three classes — pure tones, harmonic-rich tones, tones over
    clicks — at random pitches and levels, as 52-d frames (slow-ish: ~1 s).

    Returns
    -------
    songs : tuple of (n_j, 52) float32 arrays (shared: do not modify)
    labels : np.ndarray, shape (3 * per_class,)
    """
    from audio_gen import SR, clicks, noise, tone
    from hdpmusic.audio.features import extract_features

    rng = np.random.default_rng(seed)
    songs, labels = [], []
    for label in range(3):
        for i in range(per_class):
            freq, amp = rng.uniform(150, 900), rng.uniform(0.1, 0.4)
            y = tone(freq, seconds, amp=amp, harmonics=12 if label == 1 else 1)
            if label == 2:
                y = y + clicks(rng.uniform(3, 8), seconds, amp=2 * amp, seed=i)
            y = y + noise(seconds, amp=0.003, seed=100 * label + i)
            songs.append(extract_features(y.astype(np.float32), SR))
            labels.append(label)
    return tuple(songs), np.array(labels)


def probe_accuracy(features, labels, seed=0):
    """Cross-validated accuracy of a linear probe (standardised logistic regression)."""
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=5000))
    folds = StratifiedKFold(4, shuffle=True, random_state=seed)
    return float(cross_val_score(probe, features, labels, cv=folds).mean())


def test_mean_and_std_match_numpy_and_the_study_gaussian():
    songs = random_songs()
    F = G1().fit(songs).transform(songs)
    assert F.shape == (len(songs), 8) and F.dtype == np.float32
    for j, x in enumerate(songs):
        x64 = x.astype(np.float64)
        np.testing.assert_allclose(F[j, :4], x64.mean(0), rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(F[j, 4:], np.sqrt(x64.var(0) + 1e-6), rtol=1e-5)
    assert np.allclose(F[0, 4:], 1e-3)            # one frame: only the regulariser
    for j in (1, 5, 9):                             # the study's per-song GMM
        gmm = GaussianMixture(1, covariance_type="diag", reg_covar=1e-6).fit(songs[j])
        np.testing.assert_allclose(F[j, :4], gmm.means_[0], rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(F[j, 4:], np.sqrt(gmm.covariances_[0]), rtol=1e-4)


def test_reg_covar_zero_is_population_std():
    songs = random_songs(seed=1)
    F = G1(reg_covar=0.0).fit(songs).transform(songs)
    np.testing.assert_allclose(F[:, 4:], [x.astype(np.float64).std(0) for x in songs],
                               rtol=1e-5, atol=1e-6)


def test_streaming_from_file_in_small_batches_is_identical(tmp_path):
    songs = random_songs(seed=2, songs=37)
    path = tmp_path / "c.h5"
    Corpus.from_arrays(songs).save(path)
    expected = G1().fit(songs).transform(songs)
    g1 = G1(batch_size=5, device="cpu").fit(Corpus.open(path))
    np.testing.assert_array_equal(g1.transform(Corpus.open(path)), expected)
    np.testing.assert_array_equal(g1.transform(Corpus.open(path), batch_size=1), expected)


def test_song_without_frames_is_named(tmp_path):
    path = tmp_path / "study.h5"              # the study's layout allows empty songs
    with h5py.File(path, "w") as f:
        f["data"] = np.ones((5, 3), np.float32)
        f["indptr"] = np.array([0, 2, 2, 5], np.int32)
        f["ids"] = np.array([b"a", b"silent", b"c"])
    corpus = Corpus.open(path)
    g1 = G1().fit(corpus)
    with pytest.raises(DataError, match="'silent'"):
        g1.transform(corpus)
    np.testing.assert_array_equal(g1.transform(corpus.subset([0, 2]))[:, :3], 1.0)


def test_bad_inputs():
    songs = random_songs(seed=3)
    with pytest.raises(NotFittedError):
        G1().transform(songs)
    with pytest.raises(DataError, match="4-d"):
        G1().fit(songs).transform([np.zeros((3, 5), np.float32)])
    with pytest.raises(ParameterError):
        G1(reg_covar=-1.0).fit(songs)
    bad = [s.copy() for s in songs]
    bad[4][1, 2] = np.nan
    with pytest.raises(DataError, match="'4'"):
        G1().fit(bad).transform(bad)


def test_save_load_roundtrip(tmp_path):
    songs = random_songs(seed=4)
    g1 = G1(reg_covar=1e-3, batch_size=7).fit(songs)
    g1.save(tmp_path / "g1.ckpt")
    loaded = G1.load(tmp_path / "g1.ckpt", device="cpu")
    assert loaded.get_params() == {**g1.get_params(), "device": "cpu"}
    np.testing.assert_array_equal(loaded.transform(songs), g1.transform(songs))
    assert list(loaded.get_feature_names_out(["a", "b", "c", "d"]))[3:5] == ["mean_d", "std_a"]
    from hdpmusic.baselines.vq import VQCodebook

    with pytest.raises(FormatError, match="'g1' model, not 'vq'"):
        VQCodebook.load(tmp_path / "g1.ckpt")


def test_linear_probe_separates_timbre_and_rhythm_classes():
    songs, labels = timbre_songs()
    F = G1().fit(songs).transform(songs)
    assert F.shape == (len(songs), 104)
    accuracy = probe_accuracy(F, labels)
    assert accuracy >= 0.85, accuracy              # chance: 1/3
    shuffled = np.random.default_rng(0).permutation(labels)
    assert probe_accuracy(F, shuffled) < 0.6       # the probe does not find structure anywhere
