"""The machinery shared by the deep baselines: crops, chunks, batches, the training loop."""

import numpy as np
import pytest
import torch

from audio_gen import noise, tone, write, write_corrupt
from hdpmusic.baselines.audio_data import (
    CropDataset,
    RawAudio,
    StepBatches,
    random_crop,
    split_chunks,
)
from hdpmusic.baselines.clmr import CLMR
from hdpmusic.baselines.kim import KIM
from hdpmusic.formats.checkpoint import fitted_songs
from hdpmusic.runtime.errors import DataError, FormatError, ParameterError

#: harmonics of the three timbre classes of :func:`timbre_songs`
CLASS_HARMONICS = (1, 3, 12)


def timbre_songs(folder, per_class=6, seconds=2.0, seed=0):
    """Songs of three timbres (1, 3 or 12 harmonics): notes of random pitch, plus noise.

    A song is a sequence of 0.2 s notes at random pitches (150–600 Hz) of its class's
    timbre, so two clips of one song share the timbre but rarely the pitch. Returns the
    paths and the class labels (0, 1, 2, 0, 1, 2, ...).
    """
    rng = np.random.default_rng(seed)
    paths, labels = [], []
    for j in range(3 * per_class):
        label = j % 3
        notes = [tone(f, 0.2, harmonics=CLASS_HARMONICS[label])
                 for f in rng.uniform(150.0, 600.0, size=round(seconds / 0.2))]
        y = np.concatenate(notes) + noise(seconds, amp=0.005, seed=seed * 1000 + j)
        paths.append(str(write(folder / f"song{j:02d}.wav", y)))
        labels.append(label)
    return paths, np.array(labels)


def tiny_kim(**kw):
    params = dict(n_mels=32, chunk_frames=32, channels=(8, 16, 32), hidden_dim=32,
                  head_dim=16, dropout=0.1, batch_size=6, learning_rate=1e-3,
                  num_workers=0, device="cpu", verbose=False)
    return KIM(**{**params, **kw})


def tiny_clmr(**kw):
    params = dict(channels=(16, 16, 16, 32, 32, 32, 32), projection_dim=16, batch_size=6,
                  learning_rate=1e-3, num_workers=0, device="cpu", verbose=False)
    return CLMR(**{**params, **kw})


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def songs(tmp_path_factory):
    return timbre_songs(tmp_path_factory.mktemp("songs"), per_class=4)[0]


def same_weights(a, b):
    sa, sb = a.network_.state_dict(), b.network_.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# ------------------------------------------------------------------ crops and chunks
def test_split_chunks_pads_or_drops_the_last_chunk():
    x = np.arange(10, dtype=np.float32)
    padded = split_chunks(x, 4, "pad")
    assert padded.shape == (3, 4)
    np.testing.assert_array_equal(padded.ravel(), np.r_[x, 0, 0])
    dropped = split_chunks(x, 4, "drop")
    np.testing.assert_array_equal(dropped, x[:8].reshape(2, 4))
    short = split_chunks(x[:3], 4, "drop")  # shorter than one chunk: one padded chunk
    np.testing.assert_array_equal(short, [[0, 1, 2, 0]])
    mel = np.arange(2 * 7, dtype=np.float32).reshape(2, 7)  # (bands, frames)
    chunks = split_chunks(mel, 3, "pad")
    assert chunks.shape == (3, 2, 3)
    np.testing.assert_array_equal(chunks[1], mel[:, 3:6])
    np.testing.assert_array_equal(chunks[2], np.c_[mel[:, 6:], np.zeros((2, 2))])


def test_random_crop_is_a_window_or_a_padded_song():
    rng = np.random.default_rng(0)
    x = np.arange(100, dtype=np.float32)
    crop = random_crop(x, 10, rng)
    assert crop.shape == (10,)
    np.testing.assert_array_equal(np.diff(crop), np.ones(9))
    np.testing.assert_array_equal(random_crop(x[:4], 6, rng), [0, 1, 2, 3, 0, 0])


def test_crop_dataset_items_are_determined_by_their_key(songs):
    data = CropDataset(songs, RawAudio(), 500)
    crops, which = data[((0, 0), 123)]
    assert crops.shape == (2, 500) and crops.dtype == np.float32
    np.testing.assert_array_equal(which, [0, 0])
    assert not np.array_equal(crops[0], crops[1])  # two positions in one song
    np.testing.assert_array_equal(CropDataset(songs, RawAudio(), 500)[((0, 0), 123)][0],
                                  crops)


def test_step_batches_visit_every_song_once_per_epoch():
    views = lambda anchors, rng, n: np.stack([anchors, anchors], 1)  # noqa: E731
    sampler = StepBatches(10, 3, seed=7, start=0, stop=6, views=views)
    batches = list(sampler)
    assert len(batches) == 6 and all(len(b) == 3 for b in batches)
    for epoch in (batches[:3], batches[3:]):  # 3 full batches per epoch, 1 song left over
        anchors = [key[0][0] for batch in epoch for key in batch]
        assert len(set(anchors)) == 9
    resumed = list(StepBatches(10, 3, seed=7, start=4, stop=6, views=views))
    assert resumed == batches[4:]
    with pytest.raises(ParameterError, match="batch_size"):
        StepBatches(2, 3, seed=0, start=0, stop=1, views=views)


# ----------------------------------------------------------------- training loop
@pytest.mark.parametrize("make", [tiny_kim, tiny_clmr], ids=["kim", "clmr"])
def test_resume_from_a_checkpoint_equals_an_uninterrupted_run(songs, tmp_path, make):
    full = make(max_steps=6).fit(songs)
    ckpt = tmp_path / "model.ckpt"
    make(max_steps=3).fit(songs, checkpoint=ckpt)
    resumed = type(full).load(ckpt).set_params(max_steps=6)
    resumed.fit(songs, checkpoint=ckpt, resume=True)
    assert resumed.n_steps_ == 6
    assert same_weights(full, resumed)
    assert [h["loss"] for h in resumed.history_] == [h["loss"] for h in full.history_]
    assert type(full).load(ckpt).n_steps_ == 6  # saved again at the end


def test_periodic_checkpoints_and_partial_fit(songs, tmp_path):
    ckpt = tmp_path / "kim.ckpt"
    model = tiny_kim(max_steps=4).fit(songs, checkpoint=ckpt, checkpoint_every=2)
    steps = tiny_kim().partial_fit(songs, n_steps=1).partial_fit(songs, n_steps=3)
    assert steps.n_steps_ == 4 and same_weights(model, steps)
    assert len(model.history_) == 4 and {"step", "loss", "seconds"} <= set(model.history_[0])


def test_partial_fit_records_the_songs_as_fit_does(songs):
    """Both ways of training mark the training songs (for ``transform`` and ``evaluate``);
    without ids neither knows them."""
    ids = [f"s{j}" for j in range(len(songs))]
    fitted = tiny_kim(max_steps=1).fit(songs, ids)
    stepped = tiny_kim().partial_fit(songs, ids, n_steps=1)
    assert fitted_songs(stepped, [*ids, "unseen"]).tolist() == [True] * len(ids) + [False]
    assert stepped.fitted_corpus_ == fitted.fitted_corpus_
    assert fitted_songs(tiny_kim().partial_fit(songs, n_steps=1), ids) is None


def test_loader_workers_do_not_change_the_result(songs):
    serial = tiny_kim(max_steps=3).fit(songs)
    parallel = tiny_kim(max_steps=3, num_workers=2).fit(songs)
    assert same_weights(serial, parallel)
    np.testing.assert_array_equal(serial.transform(songs[:3]),
                                  parallel.transform(songs[:3]))


def test_training_leaves_the_global_rng_alone(songs):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    tiny_clmr(max_steps=2).fit(songs)
    np.testing.assert_array_equal(torch.rand(3), expected)


@pytest.mark.parametrize("workers", [0, 2])
def test_an_unreadable_file_is_named(songs, tmp_path, workers):
    bad = str(write_corrupt(tmp_path / "broken.wav"))
    with pytest.raises(DataError, match=r"broken\.wav: cannot decode") as info:
        tiny_clmr(max_steps=2, batch_size=len(songs) + 1, num_workers=workers).fit(
            [*songs, bad])
    assert "Traceback" not in str(info.value)
    model = tiny_clmr(max_steps=1).fit(songs)
    with pytest.raises(DataError, match=r"broken\.wav"):
        model.set_params(num_workers=workers).transform([songs[0], bad])
    with pytest.raises(DataError, match="do not exist: .*missing.wav"):
        model.transform([str(tmp_path / "missing.wav")])


def test_invalid_uses_are_refused(songs, tmp_path):
    with pytest.raises(ParameterError, match="batch_size"):
        tiny_clmr(batch_size=len(songs) + 1).fit(songs)
    with pytest.raises(ParameterError, match="learning_rate"):
        tiny_clmr(learning_rate=0).fit(songs)
    model = tiny_clmr(max_steps=1).fit(songs, checkpoint=tmp_path / "c.ckpt")
    with pytest.raises(DataError, match="another list of songs"):
        model.fit(songs[::-1], resume=True)
    with pytest.raises(DataError, match="ids"):
        tiny_clmr().fit(songs, ids=["a"])
    with pytest.raises(FormatError, match="'clmr' model, not 'kim'"):
        KIM.load(tmp_path / "c.ckpt")
    with pytest.raises(DataError, match="no audio files"):
        model.transform([])
