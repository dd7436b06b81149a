"""Audio generated for the tests: tones, noise, chords, clicks (written with soundfile)."""

from pathlib import Path

import numpy as np
import soundfile as sf


def tone(freq=440.0, seconds=2.0, sr=22050, amp=0.3, harmonics=1):
    """A harmonic tone: ``harmonics`` partials with 1/h amplitudes."""
    t = np.arange(int(seconds * sr)) / sr
    y = sum(np.sin(2 * np.pi * freq * h * t) / h for h in range(1, harmonics + 1))
    return (amp * y / np.max(np.abs(y))).astype(np.float32)


def noise(seconds=2.0, sr=22050, amp=0.1, seed=0):
    return (amp * np.random.default_rng(seed).normal(size=int(seconds * sr))).astype(np.float32)


def chord(freqs=(261.6, 329.6, 392.0), seconds=2.0, sr=22050, amp=0.3):
    y = sum(tone(f, seconds, sr, 1.0) for f in freqs)
    return (amp * y / np.max(np.abs(y))).astype(np.float32)


def clicks(rate_hz=4.0, seconds=2.0, sr=22050, amp=0.5, seed=0):
    """Short noise bursts ``rate_hz`` times a second (a rhythm)."""
    rng = np.random.default_rng(seed)
    y = np.zeros(int(seconds * sr), np.float32)
    burst = int(0.01 * sr)
    for start in np.arange(0, len(y) - burst, int(sr / rate_hz)):
        y[start:start + burst] = amp * rng.normal(size=burst) * np.hanning(burst)
    return y


def write(path, y, sr=22050, **kwargs):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, y, sr, **kwargs)
    return path
