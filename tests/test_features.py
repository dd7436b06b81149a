"""Frame features against librosa computed block by block from the raw signal."""

import librosa
import numpy as np
import pytest

from audio_gen import (
    chord,
    clicks,
    music,
    noise,
    tone,
    write,
)
from hdpmusic.audio.features import (
    DEFAULT_CONFIG,
    FeatureConfig,
    check_features,
    extract_features,
    signal_features,
)
from hdpmusic.runtime.errors import DataError, ParameterError

SR = 22050
TIGHT = {"rtol": 1e-6, "atol": 1e-5}  # the computation is the same; allow BLAS rounding


def reference_blocks(y, sr=SR, n_fft=2048, hop_length=512, n_mels=128, n_mfcc=13, width=9):
    """Each block on its own from the signal, straight from librosa's public API."""
    mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=n_mfcc, n_fft=n_fft,
                                hop_length=hop_length, n_mels=n_mels)
    onset = librosa.onset.onset_strength(y=y, sr=sr, n_fft=n_fft, hop_length=hop_length,
                                         n_mels=n_mels)
    chroma = librosa.feature.chroma_stft(y=y, sr=sr, n_fft=n_fft, hop_length=hop_length)
    return {
        "mfcc": mfcc.T,
        "d": librosa.feature.delta(mfcc, width=width, order=1).T,
        "dd": librosa.feature.delta(mfcc, width=width, order=2).T,
        "onset": np.log(np.maximum(onset, 1e-8)),
        "chroma": np.log(np.maximum(chroma, 1e-8)).T,
    }


SIGNALS = {
    "music": lambda: music(seconds=3.0),
    "chord+clicks": lambda: chord(seconds=2.5) + 0.5 * clicks(seconds=2.5),
    "noise": lambda: noise(2.0, amp=0.2, seed=3),
    "tone": lambda: tone(220.0, seconds=2.0, harmonics=4),
}


@pytest.mark.parametrize("kind", sorted(SIGNALS))
def test_every_block_matches_librosa(kind):
    y = SIGNALS[kind]()
    got = extract_features(y, sr=SR)
    ref = reference_blocks(y)
    assert got.shape == (1 + len(y) // 512, 52) and got.dtype == np.float32
    np.testing.assert_allclose(got[:, 0:13], ref["mfcc"], **TIGHT)
    np.testing.assert_allclose(got[:, 13:26], ref["d"], **TIGHT)
    np.testing.assert_allclose(got[:, 26:39], ref["dd"], **TIGHT)
    np.testing.assert_allclose(got[:, 39], ref["onset"], **TIGHT)
    np.testing.assert_allclose(got[:, 40:52], ref["chroma"], **TIGHT)


@pytest.mark.parametrize("chunk_frames", [64, 100, 137])
def test_chunks_equal_the_whole_signal_at_once(chunk_frames):
    """A sound several chunks long (the last one short, down to a single frame) gives
    librosa's whole-signal features: the dB scale's maximum, the tuning, the Δ windows
    and the onset lag all span the chunks."""
    y = (music(seconds=16.0, seed=4) + 0.1 * tone(233.0, seconds=16.0))[:685 * 512 + 100]
    assert 1 + len(y) // 512 == 686 == 5 * 137 + 1  # a final chunk of one frame
    got = signal_features(y, chunk_frames=chunk_frames)
    ref = reference_blocks(y)
    np.testing.assert_allclose(got, np.hstack([ref["mfcc"], ref["d"], ref["dd"],
                                               ref["onset"][:, None], ref["chroma"]]), **TIGHT)
    np.testing.assert_allclose(got, signal_features(y, chunk_frames=len(y)), **TIGHT)


def test_other_settings_match_librosa():
    cfg = FeatureConfig(hop_length=256, n_mels=64, n_mfcc=20, delta_width=5)
    y = music(seconds=2.0, seed=1)
    got = extract_features(y, sr=SR, config=cfg)
    ref = reference_blocks(y, hop_length=256, n_mels=64, n_mfcc=20, width=5)
    assert got.shape == (cfg.n_frames(len(y)), cfg.dim) == (1 + len(y) // 256, 73)
    np.testing.assert_allclose(got, np.hstack([ref["mfcc"], ref["d"], ref["dd"],
                                               ref["onset"][:, None], ref["chroma"]]), **TIGHT)


def test_column_names_follow_table_2_order():
    names = FeatureConfig().column_names
    assert len(names) == 52 == FeatureConfig().dim == len(set(names))
    assert names[:13] == [f"mfcc_{i}" for i in range(13)]
    assert names[13] == "d_mfcc_0" and names[25] == "d_mfcc_12"
    assert names[26] == "dd_mfcc_0" and names[38] == "dd_mfcc_12"
    assert names[39] == "log_onset"
    assert names[40:] == ["log_chroma_" + p for p in
                          ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")]


def test_blocks_land_in_their_columns():
    """A click track moves the onset column; a steady tone's Δ columns stay near 0."""
    steady = extract_features(tone(440.0, seconds=3.0), sr=SR)[10:-10]
    rhythm = extract_features(clicks(seconds=3.0) + 0.01 * tone(seconds=3.0), sr=SR)
    assert np.abs(steady[:, 13:39]).max() < 1.0 < np.abs(steady[:, 0:13]).max()
    assert rhythm[:, 39].max() > 0.0 > -5.0 > steady[:, 39].max()
    names = FeatureConfig().column_names
    assert names[40 + int(np.argmax(steady[:, 40:].mean(0)))] == "log_chroma_A"
    c_major = extract_features(chord(seconds=2.0), sr=SR)[:, 40:].mean(0)
    assert {names[40 + i] for i in np.argsort(c_major)[-3:]} == {
        "log_chroma_C", "log_chroma_E", "log_chroma_G"}


def test_file_input_resamples_and_mixes_down(tmp_path):
    y44 = librosa.resample(music(seconds=2.0, seed=2), orig_sr=SR, target_sr=44100)
    stereo = np.stack([y44, 0.5 * y44], 1)
    path = write(tmp_path / "x.wav", stereo, sr=44100, subtype="FLOAT")
    got = extract_features(path)
    np.testing.assert_array_equal(got, extract_features(librosa.load(path, sr=SR)[0], sr=SR))
    np.testing.assert_array_equal(got, extract_features(librosa.to_mono(stereo.T), sr=44100))


def test_signal_at_another_rate_is_resampled():
    y = tone(330.0, seconds=2.0, sr=16000)
    got = extract_features(y, sr=16000)
    want = extract_features(librosa.resample(y, orig_sr=16000, target_sr=SR), sr=SR)
    np.testing.assert_array_equal(got, want)
    assert got.shape[0] == 1 + len(librosa.resample(y, orig_sr=16000, target_sr=SR)) // 512


def test_config_round_trip_and_validation():
    cfg = FeatureConfig(n_mfcc=20)
    assert FeatureConfig.from_dict(cfg.to_dict()) == cfg and cfg.dim == 73
    assert FeatureConfig.from_dict({"hop_length": 512, "unknown": 1}) == DEFAULT_CONFIG
    assert DEFAULT_CONFIG.min_samples == 4096
    with pytest.raises(AttributeError):
        DEFAULT_CONFIG.sr = 44100  # frozen
    for bad in ({"delta_width": 4}, {"hop_length": 0}, {"log_floor": 0.0},
                {"n_mfcc": 200}, {"sr": 22050.5}):
        with pytest.raises(ParameterError):
            FeatureConfig(**bad)


def test_shortest_accepted_signal():
    y = tone(seconds=1.0)
    assert extract_features(y[:4096], sr=SR).shape == (9, 52)
    with pytest.raises(DataError, match="too short"):
        extract_features(y[:4095], sr=SR)


@pytest.mark.parametrize("y, message", [
    (np.where(np.arange(SR) == 100, np.nan, tone(seconds=1.0)).astype(np.float32), "NaN"),
    (np.full(SR, np.inf, np.float32), "NaN or infinite"),
    (np.zeros(SR, np.float32), "silent"),
    (np.zeros(0, np.float32), "empty"),
    (np.zeros((2, SR), np.float32), "mono"),
    ((1000 * tone(seconds=1.0)).astype(np.int16), "floating-point"),
])
def test_bad_signal_is_a_clear_error(y, message):
    with pytest.raises(DataError, match=message):
        extract_features(y, sr=SR)


def test_check_features_names_the_bad_value():
    f = np.zeros((5, 52), np.float32)
    check_features(f, "ok")
    f[3, 7] = np.nan
    with pytest.raises(DataError, match="x.wav: 1 feature values .* frame 3, column 7"):
        check_features(f, "x.wav")
