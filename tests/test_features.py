"""Frame features against librosa computed block by block from the raw signal."""

import librosa
import numpy as np
import pytest

from audio_gen import chord, clicks, noise, tone, write
from hdpmusic.errors import DataError
from hdpmusic.features import FeatureConfig, extract_features

SR = 22050


@pytest.fixture(scope="module")
def signal():
    return chord(seconds=3.0) + 0.5 * clicks(seconds=3.0) + noise(3.0, amp=0.01)


def reference_blocks(y, sr=SR):
    """Each block straight from librosa's public API, from the signal, defaults only."""
    mel_db = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr, n_fft=2048,
                                                                hop_length=512, n_mels=128))
    mfcc = librosa.feature.mfcc(S=mel_db, sr=sr, n_mfcc=13)
    return {
        "mfcc": mfcc,
        "d": librosa.feature.delta(mfcc, width=9, order=1),
        "dd": librosa.feature.delta(mfcc, width=9, order=2),
        "onset": np.log(np.maximum(librosa.onset.onset_strength(S=mel_db, sr=sr), 1e-8)),
        "chroma": np.log(np.maximum(librosa.feature.chroma_stft(y=y, sr=sr, n_fft=2048,
                                                                hop_length=512), 1e-8)),
    }


def test_every_block_matches_librosa(signal):
    got = extract_features(signal, sr=SR)
    ref = reference_blocks(signal)
    assert got.shape == (1 + len(signal) // 512, 52) and got.dtype == np.float32
    np.testing.assert_allclose(got[:, 0:13], ref["mfcc"].T, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(got[:, 13:26], ref["d"].T, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(got[:, 26:39], ref["dd"].T, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(got[:, 39], ref["onset"], rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(got[:, 40:52], ref["chroma"].T, rtol=1e-4, atol=1e-3)


def test_column_names_follow_table_2_order():
    names = FeatureConfig().column_names
    assert len(names) == 52 == FeatureConfig().dim
    assert names[0] == "mfcc_0" and names[13] == "d_mfcc_0" and names[26] == "dd_mfcc_0"
    assert names[39] == "log_onset" and names[40] == "log_chroma_C" and names[-1] == "log_chroma_B"


def test_chroma_finds_the_pitch_class():
    f = extract_features(tone(440.0, seconds=2.0), sr=SR)
    names = FeatureConfig().column_names
    assert names[40 + int(np.argmax(f[:, 40:].mean(0)))] == "log_chroma_A"


def test_file_input_resamples_and_mixes_down(tmp_path, signal):
    stereo = np.stack([signal, signal], 1)
    y44 = librosa.resample(stereo.T, orig_sr=SR, target_sr=44100).T
    path = write(tmp_path / "x.flac", y44, sr=44100)
    got = extract_features(path)
    want = extract_features(librosa.load(path, sr=SR, mono=True)[0], sr=SR)
    np.testing.assert_array_equal(got, want)
    assert extract_features(y44[:, 0], sr=44100).shape == got.shape


def test_config_round_trip():
    cfg = FeatureConfig(n_mfcc=20)
    assert FeatureConfig.from_dict(cfg.to_dict()) == cfg and cfg.dim == 73


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_bytes(b"this is not audio at all"), "cannot decode"),
    (lambda p: write(p, np.zeros(0, np.float32)), "empty|cannot decode"),
    (lambda p: write(p, np.zeros(SR, np.float32)), "silent"),
    (lambda p: write(p, tone(seconds=0.05)), "shorter than one frame"),
])
def test_bad_audio_is_a_clear_error(tmp_path, make, message):
    path = tmp_path / "bad.wav"
    make(path)
    with pytest.raises(DataError, match=message) as err:
        extract_features(path)
    assert "bad.wav" in str(err.value)


def test_truncated_file_is_an_error(tmp_path):
    path = write(tmp_path / "cut.ogg", tone(seconds=2.0))
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DataError, match="cut.ogg"):
        extract_features(path)


def test_non_finite_signal_is_an_error():
    y = tone(seconds=1.0)
    y[100] = np.nan
    with pytest.raises(DataError, match="NaN"):
        extract_features(y, sr=SR)
