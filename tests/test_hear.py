"""hdpmusic.hear: the HEAR 2021 API contract, for every kind of model.

hearvalidator (PyPI) imports TensorFlow at the top of its module, so the rules it checks
for a torch model are checked here too (test_hear_validator_rules); it runs itself
only where TensorFlow is installed (test_hearvalidator).
"""

import numpy as np
import pytest
import torch

from audio_gen import music, noise, write
from fitted_models import songs_and_models
from hdpmusic import Corpus, hear
from hdpmusic.cli import main
from hdpmusic.model.kinds import EMBED_KIND
from hdpmusic.representations.registry import load_model as load_estimator
from hdpmusic.runtime.errors import DataError, ParameterError

KINDS = ("hdpgmm", "g1", "vq", "clmr", "kim")
HOP_MS = 1000 * 512 / 22050


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return songs_and_models(tmp_path_factory.mktemp("hear"), n_songs=4, kinds=KINDS)[2]


@pytest.fixture(scope="module")
def sounds(tmp_path_factory):
    """Three 3.1 s sounds as a (3, n) tensor, the same written as float WAVs, and the
    corpus `hdpmusic extract` makes of them."""
    root = tmp_path_factory.mktemp("sounds")
    ys = [music(3.1, seed=10 + i) for i in range(3)]
    paths = [write(root / "audio" / f"{i}.wav", y, subtype="FLOAT") for i, y in enumerate(ys)]
    assert main(["-q", "extract", str(root / "audio"), "--out", str(root / "c.h5"),
                 "--jobs", "1"]) == 0
    return torch.from_numpy(np.stack(ys)), [str(p) for p in paths], root / "c.h5"


@pytest.fixture(scope="module")
def loaded(models):
    return {name: hear.load_model(str(path)) for name, path in models.items()}


def test_load_model_needs_a_file(tmp_path):
    with pytest.raises(ParameterError, match=r"load_model\('path/to/model.ckpt'\).*--model"):
        hear.load_model()
    with pytest.raises(ParameterError, match="no such model file"):
        hear.load_model(str(tmp_path / "missing.ckpt"))


def test_options(models):
    m = hear.load_model(str(models["hdpgmm"]), kind="loglik", log=False)
    assert m.options == {"kind": "loglik", "log": False}
    assert hear.load_model(str(models["hdpgmm"])).options == {"kind": EMBED_KIND, "log": None}
    assert hear.load_model(str(models["vq"])).options == {"log": True}
    with pytest.raises(ParameterError, match="--kind does not apply to vq models"):
        hear.load_model(str(models["vq"]), kind="loglik")
    with pytest.raises(ParameterError, match="--no-log does not apply to g1 models"):
        hear.load_model(str(models["g1"]), log=False)


@pytest.mark.parametrize("name", KINDS)
def test_hear_validator_rules(loaded, name):
    """What hearvalidator checks of a torch model (white noise in [-1, 1], 16 × 2 s
    for timestamps, 8 × 3.74 s for scenes), plus increasing timestamps at the hop."""
    model = loaded[name].to("cpu")
    assert isinstance(model, torch.nn.Module)
    assert model.sample_rate == 22050 and model.sample_rate in (16000, 22050, 44100, 48000)
    assert isinstance(model.scene_embedding_size, int)
    assert isinstance(model.timestamp_embedding_size, int)
    audio = torch.rand((16, int(2.0 * model.sample_rate))) * 2 - 1
    emb, ts = hear.get_timestamp_embeddings(audio, model)
    assert emb.dtype == torch.float32 and ts.dtype == torch.float32
    assert emb.shape[0] == 16 and emb.shape[:2] == ts.shape
    assert emb.shape[2] == model.timestamp_embedding_size
    diff = torch.diff(ts)
    assert torch.all(torch.abs(diff - diff.mean()) < 1e-3)
    assert torch.all(diff > 0)
    if name in ("hdpgmm", "g1", "vq"):
        assert emb.shape[1] == 1 + audio.shape[1] // 512
        assert ts[0, 0] == 0 and float(diff.mean()) == pytest.approx(HOP_MS, abs=1e-4)
    else:
        assert ts[0, 0] == pytest.approx(model.timestamp_hop_ms / 2)
    audio = torch.rand((8, int(3.74 * model.sample_rate))) * 2 - 1
    scene = hear.get_scene_embeddings(audio, model)
    assert scene.dtype == torch.float32
    assert scene.shape == (8, model.scene_embedding_size)
    assert torch.isfinite(scene).all() and torch.isfinite(emb).all()


@pytest.mark.parametrize("name", KINDS)
def test_scene_equals_transform_of_the_same_audio(loaded, models, sounds, name):
    audio, paths, corpus = sounds
    _, estimator = load_estimator(models[name])
    if name in ("kim", "clmr"):
        want = estimator.transform(paths)
    else:
        want = estimator.transform(Corpus.open(corpus), **loaded[name].options)
    got = hear.get_scene_embeddings(audio, loaded[name])
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", KINDS)
def test_batched_equals_one_by_one(loaded, sounds, name):
    audio = sounds[0]
    model = loaded[name]
    scene = hear.get_scene_embeddings(audio, model)
    emb, ts = hear.get_timestamp_embeddings(audio, model)
    for i in range(len(audio)):
        one = audio[i:i + 1]
        np.testing.assert_allclose(hear.get_scene_embeddings(one, model), scene[i:i + 1],
                                   rtol=1e-5, atol=1e-6)
        e1, t1 = hear.get_timestamp_embeddings(one, model)
        np.testing.assert_allclose(e1, emb[i:i + 1], rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(t1, ts[i:i + 1])


def test_timestamp_embeddings_of_frame_models(loaded, models, sounds):
    """Per-frame quantities whose summaries are the scene vectors; chunking is invisible."""
    audio, _, corpus = sounds
    frames = [Corpus.open(corpus)[j] for j in range(len(audio))]
    emb, _ = hear.get_timestamp_embeddings(audio, loaded["g1"])
    np.testing.assert_array_equal(emb.numpy(), np.stack(frames))  # extract's features
    scene = hear.get_scene_embeddings(audio, loaded["g1"]).numpy()
    np.testing.assert_allclose(emb.numpy().mean(1), scene[:, :52], rtol=1e-4, atol=1e-5)
    emb, _ = hear.get_timestamp_embeddings(audio, loaded["vq"])
    assert set(np.unique(emb.numpy())) == {0.0, 1.0} and (emb.sum(2) == 1).all()
    np.testing.assert_allclose(np.log(np.maximum(emb.numpy().mean(1), 1e-8)),
                               hear.get_scene_embeddings(audio, loaded["vq"]), rtol=1e-5)
    emb, _ = hear.get_timestamp_embeddings(audio, loaded["hdpgmm"])
    _, hdp = load_estimator(models["hdpgmm"])
    np.testing.assert_allclose(emb[0].numpy(), hdp.predict_proba(frames[0]), rtol=1e-5,
                               atol=1e-7)
    chunked = hear.load_model(str(models["hdpgmm"]), chunk_frames=7)
    np.testing.assert_allclose(hear.get_timestamp_embeddings(audio, chunked)[0], emb,
                               rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", KINDS)
def test_short_and_silent_sounds_get_embeddings(loaded, name):
    model = loaded[name]
    for audio in (torch.zeros(2, 22050), torch.from_numpy(noise(0.05)).expand(2, -1)):
        scene = hear.get_scene_embeddings(audio, model)
        emb, _ = hear.get_timestamp_embeddings(audio, model)
        assert scene.shape == (2, model.scene_embedding_size) and torch.isfinite(scene).all()
        assert emb.shape[0] == 2 and emb.shape[1] >= 1 and torch.isfinite(emb).all()


def test_to_device_reloads_the_model(models):
    """`.to(device)` (what hear-eval-kit calls) loads the model on that device."""
    model = hear.load_model(str(models["g1"]), device="cpu")
    first = model.estimator
    assert model.to("cpu").estimator is first and model.device == torch.device("cpu")
    model.to("meta")  # a device without data: G1 keeps no tensors, so it loads there
    assert model.device.type == "meta" and model.estimator.device == "meta"
    model.to_empty(device="cpu")  # out of meta (the anchor buffer holds no data)
    assert model.estimator.device == "cpu" and model.estimator is not first


def test_bad_audio(loaded):
    model = loaded["g1"]
    for bad in (torch.zeros(22050), torch.zeros(2, 0), torch.full((1, 22050), np.nan)):
        with pytest.raises(DataError):
            hear.get_scene_embeddings(bad, model)


def test_hearvalidator(models):
    pytest.importorskip("tensorflow", reason="hearvalidator imports tensorflow")
    validate = pytest.importorskip("hearvalidator.validate", reason="pip install hearvalidator")
    for path in models.values():
        validate.ValidateModel("hdpmusic.hear", str(path), device="cpu")()
