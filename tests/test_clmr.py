"""CLMR: contrastive SampleCNN on raw audio."""

import math

import numpy as np
import pytest
import torch

from audio_gen import tone, write
from hdpmusic.baselines.audio_data import RawAudio
from hdpmusic.baselines.clmr import CLMR, SampleCNN, WaveAugment, nt_xent
from hdpmusic.runtime.errors import ParameterError
from test_baseline_training import timbre_songs, tiny_clmr
from test_kim import probe_accuracy

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return timbre_songs(tmp_path_factory.mktemp("clmr"), per_class=8, seed=2)


def nt_xent_by_hand(z1, z2, tau):
    """NT-Xent written out with loops over anchors (SimCLR, Chen et al. 2020, Eq. 1)."""
    views = [*z1.tolist(), *z2.tolist()]
    n = len(z1)

    def cos(a, b):
        return sum(x * y for x, y in zip(a, b, strict=True)) / math.sqrt(
            sum(x * x for x in a) * sum(y * y for y in b))

    total = 0.0
    for i in range(2 * n):
        positive = (i + n) % (2 * n)
        denominator = sum(math.exp(cos(views[i], views[k]) / tau)
                          for k in range(2 * n) if k != i)
        total += -math.log(math.exp(cos(views[i], views[positive]) / tau) / denominator)
    return total / (2 * n)


@pytest.mark.parametrize("tau", [0.5, 0.1, 1.0])
def test_nt_xent_matches_the_definition(tau):
    gen = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(5, 3, generator=gen), torch.randn(5, 3, generator=gen)
    assert nt_xent(z1, z2, tau).item() == pytest.approx(nt_xent_by_hand(z1, z2, tau),
                                                        rel=1e-5)
    # one item: the positive is the only other view, so the loss is log 1 = 0
    assert nt_xent(z1[:1], z2[:1], tau).item() == pytest.approx(0.0, abs=1e-6)
    # identical views, orthogonal items: every anchor's odds are e^{1/τ} : (2B − 2)·1
    eye = torch.eye(3, dtype=torch.float64)
    expected = -math.log(math.exp(1 / tau) / (math.exp(1 / tau) + 4))
    assert nt_xent(eye, eye, tau).item() == pytest.approx(expected, rel=1e-5)


def test_defaults_are_the_studys_settings():
    p = CLMR().get_params()
    assert (p["batch_size"], p["learning_rate"], p["temperature"], p["projection_dim"]) == \
        (48, 3e-4, 0.5, 64)
    assert (p["polarity"], p["gain"], p["noise"]) == (0.0, 0.0, 0.0)
    assert CLMR()._crop_length() == 59049
    net = SampleCNN().eval()
    with torch.no_grad():
        assert net(torch.zeros(2, 1, 59049)).shape == (2, 256)


def test_augmentations_are_seeded_and_optional():
    crop = np.linspace(-0.5, 0.5, 100).astype(np.float32)
    rng = np.random.default_rng
    np.testing.assert_array_equal(WaveAugment(polarity=1.0)(crop, rng(0)), -crop)
    gained = WaveAugment(gain=1.0)(crop, rng(0))
    assert 10 ** (-20 / 20) - 1e-6 <= gained[-1] / crop[-1] <= 10 ** (-1 / 20) + 1e-6
    noisy = WaveAugment(noise=1.0)(crop, rng(0))
    np.testing.assert_array_equal(noisy, WaveAugment(noise=1.0)(crop, rng(0)))
    assert noisy.dtype == np.float32 and 0 < np.abs(noisy - crop).max() < 0.1
    assert CLMR()._augment() is None and CLMR(noise=0.5)._augment() is not None


def test_training_lowers_the_loss_and_transform_averages_chunks(data, tmp_path):
    paths, _ = data
    model = tiny_clmr(max_steps=30, random_state=1, polarity=0.5).fit(paths)
    loss = [h["loss"] for h in model.history_]
    assert np.mean(loss[-6:]) < np.mean(loss[:6]) - 0.2
    crop = 3 ** 7
    short = str(write(tmp_path / "short.wav", tone(300.0, 0.5 * crop / 22050)))
    X = model.transform([paths[0], short], batch_size=4)
    assert X.shape == (2, 32) and X.dtype == np.float32
    # by hand: whole 2187-sample chunks (the rest dropped), averaged; the short song
    # is one zero-padded chunk
    y = RawAudio()(paths[0])
    n = len(y) // crop
    y_short = np.zeros(crop, np.float32)
    y_short[:len(RawAudio()(short))] = RawAudio()(short)
    with torch.no_grad():
        encoder = model.network_.eval().encoder
        emb = encoder(torch.from_numpy(y[:n * crop].reshape(n, 1, crop)))
        emb_short = encoder(torch.from_numpy(y_short)[None, None])
    np.testing.assert_allclose(X[0], emb.mean(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(X[1], emb_short[0], rtol=1e-4, atol=1e-5)


def test_save_and_load_give_the_same_vectors(data, tmp_path):
    paths, _ = data
    model = tiny_clmr(max_steps=2).fit(paths)
    model.save(tmp_path / "clmr.ckpt")
    loaded = CLMR.load(tmp_path / "clmr.ckpt")
    np.testing.assert_array_equal(loaded.transform(paths[:3]), model.transform(paths[:3]))


def test_the_learned_vectors_separate_timbres(data):
    paths, labels = data
    trained = tiny_clmr(max_steps=40, random_state=0).fit(paths)
    untrained = tiny_clmr(max_steps=0, random_state=0).fit(paths)
    acc_trained = probe_accuracy(trained.transform(paths), labels)
    acc_untrained = probe_accuracy(untrained.transform(paths), labels)
    assert acc_trained >= 0.8  # chance: 1/3
    assert acc_trained >= acc_untrained - 0.15  # random features of timbre are good too


def test_invalid_parameters_are_refused(data):
    with pytest.raises(ParameterError, match="temperature"):
        tiny_clmr(temperature=0).fit(data[0])
    with pytest.raises(ParameterError, match="noise"):
        tiny_clmr(noise=2.0).fit(data[0])
