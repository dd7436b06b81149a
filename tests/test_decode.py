"""Audio files decoded as librosa.load decodes them, and every bad file refused clearly."""

import os
import threading

import librosa
import numpy as np
import pytest
import soundfile as sf

from audio_gen import (
    cut,
    damage_mp3,
    music,
    noise,
    tone,
    write,
    write_corrupt,
    write_music,
    write_silence,
    write_tone,
    write_truncated,
)
from hdpmusic.audio.decode import load_audio
from hdpmusic.audio.features import extract_features
from hdpmusic.runtime.errors import DataError

SR = 22050


@pytest.mark.parametrize("channels, name", [(1, "x.wav"), (2, "x.wav"), (3, "x.wav"),
                                           (2, "x.ogg"), (1, "x.flac")])
def test_load_audio_equals_librosa_load(tmp_path, channels, name):
    y = librosa.resample(music(seconds=2.0, seed=2), orig_sr=SR, target_sr=44100)
    stereo = np.stack([y * (1 - 0.3 * c) for c in range(channels)], 1)
    path = write(tmp_path / name, stereo, sr=44100,
                 **({"subtype": "FLOAT"} if name.endswith("wav") else {}))
    loaded = load_audio(path, SR)
    assert loaded.dtype == np.float32 and loaded.ndim == 1
    assert abs(len(loaded) - 2 * SR) <= 1
    np.testing.assert_array_equal(loaded, librosa.load(path, sr=SR, mono=True)[0])
    np.testing.assert_array_equal(load_audio(path, 44100),
                                  librosa.load(path, sr=None, mono=True)[0])


@pytest.mark.parametrize("rate, name", [(44100, "x.flac"), (48000, "x.wav"),
                                        (16000, "x.ogg")])
def test_file_of_many_read_blocks_equals_librosa_load(tmp_path, rate, name):
    """Decoded, mixed down and resampled a block at a time, as librosa does at once."""
    y = librosa.resample(music(seconds=9.0, seed=5), orig_sr=SR, target_sr=rate)
    path = write(tmp_path / name, np.stack([y, 0.5 * y], 1), sr=rate)
    np.testing.assert_array_equal(load_audio(path, SR),
                                  librosa.load(path, sr=SR, mono=True)[0])


@pytest.mark.parametrize("ext", ["wav", "ogg", "au", "aiff"])
def test_formats_decode(tmp_path, ext):
    path = write_music(tmp_path / f"m.{ext}", seconds=1.0)
    f = extract_features(path)
    assert f.shape == (1 + SR // 512, 52) and np.isfinite(f).all()


@pytest.mark.parametrize("make, message", [
    (lambda p: write_corrupt(p), "cannot decode"),
    (lambda p: write_truncated(p, keep_bytes=30), "cannot decode"),
    (lambda p: write(p, np.zeros(0, np.float32)), "empty|cannot decode"),
    (lambda p: write_silence(p), "silent"),
    (lambda p: write(p, 1e-8 * noise(1.0), subtype="FLOAT"), "silent"),
    (lambda p: write_tone(p, seconds=0.05), "too short"),
    (lambda p: write(p, tone()[:4095]), "too short"),
    (lambda p: p.mkdir(), "directory"),
    (lambda p: None, "no such file"),
])
def test_bad_audio_is_a_clear_error(tmp_path, make, message):
    path = tmp_path / "bad.wav"
    make(path)
    with pytest.raises(DataError, match=message) as err:
        extract_features(path)
    assert str(tmp_path / "bad.wav") in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("suffix", ["wav", "mp3", "aiff", "au"])
def test_file_cut_in_half_is_refused(tmp_path, suffix):
    path = tmp_path / f"song.{suffix}"
    try:
        write_music(path, seconds=4.0)
    except sf.LibsndfileError as err:  # MP3 needs libsndfile >= 1.1 built with LAME
        pytest.skip(f"this libsndfile cannot write {suffix}: {err}")
    assert extract_features(path).shape[1] == 52
    cut(path, 0.5)
    message = (rf"song.{suffix}: the file is truncated: its header declares 4.00 s "
               rf"\(88200 frames\), only [12]\.\d\d s could be decoded")
    with pytest.raises(DataError, match=message):
        extract_features(path)


def test_flac_cut_in_half_names_the_truncation(tmp_path):
    """libsndfile stops with an error part-way through a cut FLAC file."""
    path = cut(write_music(tmp_path / "song.flac", seconds=4.0), 0.5)
    with pytest.raises(DataError, match=r"song.flac: the file is truncated: its header "
                                        r"declares 4.00 s \(88200 frames\), only [0-3]\.\d\d s"):
        extract_features(path)


@pytest.mark.parametrize("keep", [0.5, "pages"])
def test_ogg_cut_short_is_refused(tmp_path, keep):
    """An Ogg file declares no length: a cut one lacks its end-of-stream page (cut
    part-way through a page, or at a page boundary)."""
    path = write_music(tmp_path / "song.ogg", seconds=10.0)
    assert extract_features(path).shape == (431, 52)
    if keep == "pages":
        data = path.read_bytes()
        path.write_bytes(data[:data.rindex(b"OggS")])
    else:
        cut(path, keep)
    with pytest.raises(DataError, match=r"song.ogg: the file is truncated: its Ogg stream "
                                        r"stops before its last \(end-of-stream\) page, "
                                        r"only \d\.\d\d s could be decoded"):
        extract_features(path)


def test_fifo_is_not_read(tmp_path):
    """Opening a FIFO to read waits for a writer: a writer thread answers every open
    (sending nothing), so that a reader fails instead of waiting forever."""
    path = tmp_path / "pipe.wav"
    os.mkfifo(path)
    stop = threading.Event()

    def write_nothing():
        while not stop.is_set():
            os.close(os.open(path, os.O_WRONLY))

    writer = threading.Thread(target=write_nothing)
    writer.start()
    try:
        with pytest.raises(DataError, match="pipe.wav: not a regular file"):
            load_audio(path)
    finally:
        stop.set()
        reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # the writer's opens return
        writer.join()
        os.close(reader)


def test_wav_of_unknown_length_is_read_whole(tmp_path):
    """A WAV written as a stream declares no data size (0xFFFFFFFF): nothing to compare."""
    path = write_music(tmp_path / "stream.wav", seconds=2.0)
    data = bytearray(path.read_bytes())
    at = data.index(b"data") + 4
    data[at:at + 4] = b"\xff\xff\xff\xff"
    path.write_bytes(bytes(data))
    np.testing.assert_array_equal(load_audio(path), load_audio(write_music(
        tmp_path / "whole.wav", seconds=2.0)))


def test_au_of_unknown_length_is_read_whole(tmp_path):
    """An AU header may declare its data size unknown (0xFFFFFFFF): nothing to compare."""
    path = write_music(tmp_path / "stream.au", seconds=2.0)
    data = bytearray(path.read_bytes())
    data[8:12] = b"\xff\xff\xff\xff"
    path.write_bytes(bytes(data))
    np.testing.assert_array_equal(load_audio(path), load_audio(write_music(
        tmp_path / "whole.au", seconds=2.0)))


def test_truncated_ogg_is_an_error(tmp_path):
    path = write_truncated(tmp_path / "cut.ogg", keep_bytes=200)
    with pytest.raises(DataError, match="cut.ogg"):
        extract_features(path)


def mp3_music(path):
    try:
        return write_music(path, seconds=4.0)
    except sf.LibsndfileError as err:  # MP3 needs libsndfile >= 1.1 built with LAME
        pytest.skip(f"this libsndfile cannot write MP3: {err}")


def test_a_damaged_mp3_is_refused_with_the_decoders_words(tmp_path, capfd):
    """libmpg123 prints its complaints to file descriptor 2 itself: they join the
    one-line error instead of landing in the terminal."""
    path = damage_mp3(mp3_music(tmp_path / "song.mp3"), 0.5, zero=3000)
    capfd.readouterr()
    with pytest.raises(DataError, match=r'song.mp3: the file is truncated: .* could be '
                                        r'decoded; the decoder said "Illegal Audio-MPEG-'
                                        r'Header 0x00000000 at offset \d+\." … ".+"; copy'):
        load_audio(path)
    assert capfd.readouterr().err == ""
    with pytest.raises(DataError) as err:
        load_audio(path)
    assert "\n" not in str(err.value) and "Note:" not in str(err.value)


def test_junk_the_decoder_skips_is_logged_not_printed(tmp_path, capfd, caplog):
    """An MP3 with junk between two frames decodes in full: what the decoder said goes to
    the DEBUG log (naming the file), not to the terminal."""
    clean = load_audio(mp3_music(tmp_path / "clean.mp3"))
    path = damage_mp3(mp3_music(tmp_path / "junk.mp3"), 0.5, insert=64)
    capfd.readouterr()
    with caplog.at_level("DEBUG", logger="hdpmusic.audio.decode"):
        y = load_audio(path)
    assert capfd.readouterr().err == ""
    assert len(y) == len(clean)
    said = [r.getMessage() for r in caplog.records if r.name == "hdpmusic.audio.decode"]
    assert len(said) == 1 and said[0].startswith(f"{path}: decoded in full; the decoder "
                                                 'said "Illegal Audio-MPEG-Header')
    caplog.clear()
    with caplog.at_level("DEBUG", logger="hdpmusic.audio.decode"):
        load_audio(tmp_path / "clean.mp3")
    assert not caplog.records
