"""KIM: the "same song?" siamese CNN on dB mel spectrograms."""

import librosa
import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from audio_gen import tone, write
from hdpmusic.baselines.kim import KIM, DbMel, KimNetwork
from hdpmusic.runtime.errors import ParameterError
from test_baseline_training import timbre_songs, tiny_kim

__all__ = ["probe_accuracy"]
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def probe_accuracy(X, labels):
    """5-fold cross-validated accuracy of a standardised logistic regression."""
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    return cross_val_score(clf, X, labels, cv=cv).mean()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return timbre_songs(tmp_path_factory.mktemp("kim"), per_class=8, seed=1)


def test_defaults_are_the_studys_settings():
    p = KIM().get_params()
    assert (p["n_mels"], p["n_fft"], p["hop_length"], p["chunk_frames"]) == (128, 1024, 256, 216)
    assert (p["batch_size"], p["learning_rate"], p["weight_decay"]) == (48, 1e-4, 1e-6)
    assert p["channels"] == (16, 32, 64, 64, 128, 256) and p["hidden_dim"] == 256
    net = KimNetwork().eval()
    with torch.no_grad():
        emb = net.encoder(torch.zeros(3, 1, 216, 128))
        logits = net(torch.zeros(3, 1, 216, 128), torch.zeros(3, 1, 216, 128))
    assert emb.shape == (3, 256) and logits.shape == (3,)


def test_the_reader_is_librosas_db_mel(tmp_path):
    path = write(tmp_path / "a.wav", tone(330.0, 1.0, harmonics=4))
    y, _ = librosa.load(path, sr=22050)
    expected = librosa.power_to_db(librosa.feature.melspectrogram(
        y=y, sr=22050, n_fft=1024, hop_length=256, n_mels=128))
    S = DbMel()(str(path))
    assert S.shape == (128, 1 + len(y) // 256) and S.dtype == np.float32
    np.testing.assert_allclose(S, expected, rtol=1e-5, atol=1e-3)
    mean, std = expected.mean(1), expected.std(1) + 1
    np.testing.assert_allclose(DbMel(mean=mean, std=std)(str(path)),
                               (expected - mean[:, None]) / std[:, None], atol=1e-4)


def test_training_lowers_the_loss_and_transform_pools_chunks(tmp_path):
    # twelve steady tones: "same song?" is "same pitch?"
    paths = [str(write(tmp_path / f"t{j}.wav", tone(110 * 2 ** (j / 4), 2.0, harmonics=3)))
             for j in range(12)]
    model = tiny_kim(max_steps=60, batch_size=12, learning_rate=3e-3, dropout=0.0,
                     random_state=1).fit(paths)
    loss = [h["loss"] for h in model.history_]
    assert np.mean(loss[-8:]) < np.mean(loss[:8]) - 0.05
    assert model.mel_mean_.shape == model.mel_std_.shape == (32,)
    X = model.transform(paths[:4], batch_size=5)
    assert X.shape == (4, 64) and X.dtype == np.float32 and np.isfinite(X).all()
    # by hand: standardised dB mel → chunks of 32 frames (last one padded) → mean, std
    S = model._reader()(paths[0])
    n_chunks = -(-S.shape[1] // 32)
    chunks = np.zeros((n_chunks, 32, 32), np.float32)
    for c in range(n_chunks):
        part = S[:, c * 32:(c + 1) * 32]
        chunks[c, :, :part.shape[1]] = part
    with torch.no_grad():
        emb = model.network_.eval().encoder(torch.from_numpy(chunks).transpose(1, 2)[:, None])
    np.testing.assert_allclose(X[0], np.r_[emb.mean(0), emb.std(0, correction=0)],
                               rtol=1e-4, atol=1e-5)


def test_save_and_load_give_the_same_vectors(data, tmp_path):
    paths, _ = data
    model = tiny_kim(max_steps=3).fit(paths)
    model.save(tmp_path / "kim.ckpt")
    loaded = KIM.load(tmp_path / "kim.ckpt", device="cpu")
    np.testing.assert_array_equal(loaded.transform(paths[:3]), model.transform(paths[:3]))
    np.testing.assert_array_equal(loaded.mel_std_, model.mel_std_)
    assert loaded.get_params() == model.get_params() | {"channels": [8, 16, 32]}


def test_the_learned_vectors_separate_timbres(data):
    paths, labels = data
    trained = tiny_kim(max_steps=60, random_state=0).fit(paths)
    untrained = tiny_kim(max_steps=0, random_state=0).fit(paths)
    acc_trained = probe_accuracy(trained.transform(paths), labels)
    acc_untrained = probe_accuracy(untrained.transform(paths), labels)
    assert acc_trained >= 0.8  # chance: 1/3
    assert acc_trained >= acc_untrained - 0.15  # random features of timbre are good too


def test_chunks_too_small_for_the_network_are_refused(data):
    with pytest.raises(ParameterError, match="too small"):
        tiny_kim(chunk_frames=4).fit(data[0])
