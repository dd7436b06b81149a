"""Audio generated for the tests: tones, noise, chords, clicks, written with soundfile.

Signal generators return mono float32 arrays (``tone``, ``noise``, ``chord``, ``clicks``,
``music``); ``write`` saves any of them (the format follows the file extension:
.wav, .flac, .ogg, .au, .aiff, ...); ``write_tone`` etc. do both in one call and return
the path. ``write_corrupt``, ``write_truncated``, ``cut`` and ``write_silence`` make bad
inputs.
"""

from pathlib import Path

import numpy as np
import soundfile as sf

SR = 22050


def tone(freq=440.0, seconds=2.0, sr=SR, amp=0.3, harmonics=1):
    """A harmonic tone: ``harmonics`` partials with 1/h amplitudes, peak ``amp``."""
    t = np.arange(int(seconds * sr)) / sr
    y = sum(np.sin(2 * np.pi * freq * h * t) / h for h in range(1, harmonics + 1))
    return (amp * y / np.max(np.abs(y))).astype(np.float32)


def noise(seconds=2.0, sr=SR, amp=0.1, seed=0):
    """White Gaussian noise with standard deviation ``amp``."""
    return (amp * np.random.default_rng(seed).normal(size=int(seconds * sr))).astype(np.float32)


def chord(freqs=(261.6, 329.6, 392.0), seconds=2.0, sr=SR, amp=0.3):
    """Simultaneous sine tones (C major by default), peak ``amp``."""
    y = sum(tone(f, seconds, sr, 1.0) for f in freqs)
    return (amp * y / np.max(np.abs(y))).astype(np.float32)


def clicks(rate_hz=4.0, seconds=2.0, sr=SR, amp=0.5, seed=0):
    """Short noise bursts ``rate_hz`` times a second (a rhythm)."""
    rng = np.random.default_rng(seed)
    y = np.zeros(int(seconds * sr), np.float32)
    burst = int(0.01 * sr)
    for start in np.arange(0, len(y) - burst, int(sr / rate_hz)):
        y[start:start + burst] = amp * rng.normal(size=burst) * np.hanning(burst)
    return y


def music(seconds=3.0, sr=SR, seed=0):
    """Chords changing every second over clicks and a little noise (peak ≈ 0.5)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    y = np.zeros(n, np.float32)
    for start in range(0, n, sr):
        root = 110.0 * 2 ** (rng.integers(0, 24) / 12)
        seg = chord((root, root * 1.26, root * 1.5), seconds=1.0, sr=sr)[: n - start]
        y[start:start + len(seg)] += seg
    y += 0.5 * clicks(seconds=seconds, sr=sr, seed=seed) + noise(seconds, sr, 0.005, seed)
    return (0.5 * y / np.max(np.abs(y))).astype(np.float32)


def write(path, y, sr=SR, **kwargs):
    """Write ``y`` (shape (n,) or (n, channels)) to ``path``; make the folder; return it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, y, sr, **kwargs)
    return path


def write_tone(path, freq=440.0, seconds=2.0, sr=SR, **kwargs):
    return write(path, tone(freq, seconds, sr), sr, **kwargs)


def write_noise(path, seconds=2.0, sr=SR, amp=0.1, seed=0, **kwargs):
    return write(path, noise(seconds, sr, amp, seed), sr, **kwargs)


def write_chord(path, freqs=(261.6, 329.6, 392.0), seconds=2.0, sr=SR, **kwargs):
    return write(path, chord(freqs, seconds, sr), sr, **kwargs)


def write_clicks(path, rate_hz=4.0, seconds=2.0, sr=SR, **kwargs):
    return write(path, clicks(rate_hz, seconds, sr), sr, **kwargs)


def write_music(path, seconds=3.0, sr=SR, seed=0, **kwargs):
    return write(path, music(seconds, sr, seed), sr, **kwargs)


def write_silence(path, seconds=1.0, sr=SR, **kwargs):
    """Digital silence (all zeros)."""
    return write(path, np.zeros(int(seconds * sr), np.float32), sr, **kwargs)


def write_corrupt(path, content=b"this is not audio, only some bytes"):
    """A file with an audio extension and no audio in it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def write_truncated(path, keep_bytes=200, seconds=2.0):
    """A real audio file (a tone) cut after ``keep_bytes`` bytes."""
    path = write_tone(path, seconds=seconds)
    path.write_bytes(path.read_bytes()[:keep_bytes])
    return path


def damage_mp3(path, fraction=0.5, *, insert=0, zero=0):
    """Damage an MP3 file at the first frame header after ``fraction`` of its bytes:
    ``insert`` zero bytes before it (junk the decoder skips, losing no audio) and/or
    overwrite ``zero`` bytes from it with zeros (frames lost); return the path."""
    path = Path(path)
    data = path.read_bytes()
    at = data.index(data[:2], int(len(data) * fraction))  # the first frame's sync bytes
    damaged = data[:at] + bytes(insert) + bytes(zero) + data[at + zero:]
    path.write_bytes(damaged)
    return path


def cut(path, fraction=0.5):
    """Cut an existing file to ``fraction`` of its bytes (an interrupted copy); return it."""
    path = Path(path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path
