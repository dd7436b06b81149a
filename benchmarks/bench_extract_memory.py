"""Peak memory of one long track's features, decoding included; prints one JSON line.

Writes a music-like sound (chords, percussion, noise) of ``--minutes`` minutes as a
16-bit stereo WAV at 44.1 kHz, then runs ``hdpmusic.audio.features.extract_features`` on it in
a fresh process and reports that process's peak resident memory (``ru_maxrss``) and
time. ``--baseline-src DIR`` measures another version the same way, from the ``src``
folder of its checkout (``git worktree add ../old <commit>`` gives one), so that the
two figures compare like with like:

    python benchmarks/bench_extract_memory.py --minutes 60 --baseline-src ../old/src

Figures: ``peak_rss_mb`` (and ``baseline_peak_rss_mb``), ``seconds`` (and
``baseline_seconds``), ``frames`` (the feature rows; equal in both), ``max_abs_diff``
between the two versions' features (float rounding only), ``import_rss_mb`` (the
process's peak before extracting: Python, numpy, librosa).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one thread, as in extraction workers
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 44100

CHILD = """
import resource, sys, time
import numpy as np
from hdpmusic.audio.features import extract_features
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
features = extract_features(sys.argv[1])
seconds = time.perf_counter() - start
np.save(sys.argv[2], features)
print(before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, seconds)
"""


def write_long_sound(path: Path, minutes: float, seed: int = 0) -> None:
    """A stereo WAV of ``minutes``: one minute of chords over clicks and noise, written
    again and again with a little fresh noise (the file is written a minute at a time)."""
    rng = np.random.default_rng(seed)
    t = np.arange(60 * SR) / SR
    minute = np.zeros(t.size, np.float32)
    for second in range(60):
        root = 110.0 * 2 ** (rng.integers(0, 24) / 12)
        part = slice(second * SR, (second + 1) * SR)
        minute[part] = sum(np.sin(2 * np.pi * root * ratio * t[part]) for ratio in
                           (1.0, 1.26, 1.5)) / 3
        minute[second * SR:second * SR + 220] += rng.normal(size=220) * np.hanning(220)
    with sf.SoundFile(path, "w", SR, 2, "PCM_16") as out:
        for _ in range(int(np.ceil(minutes))):
            noisy = 0.4 * minute + 0.01 * rng.normal(size=minute.size).astype(np.float32)
            out.write(np.stack([noisy, 0.8 * noisy], 1))
    if minutes != int(np.ceil(minutes)):
        data, _ = sf.read(path, frames=int(minutes * 60 * SR), dtype="int16")
        sf.write(path, data, SR, "PCM_16")


def measure(audio: Path, features: Path, src: str | None) -> dict:
    """Peak memory and time of ``extract_features(audio)`` in a fresh process."""
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")]).rstrip(
            os.pathsep)
    done = subprocess.run([sys.executable, "-c", CHILD, str(audio), str(features)],
                          env=env, capture_output=True, text=True, check=True)
    before, peak, seconds = done.stdout.split()[-3:]
    return {"import_rss_mb": round(int(before) / 1024), "peak_rss_mb": round(int(peak) / 1024),
            "seconds": round(float(seconds), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--baseline-src", default=None, metavar="DIR",
                        help="the src folder of another version to measure too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        audio = Path(tmp) / "long.wav"
        write_long_sound(audio, args.minutes)
        result = {"minutes": args.minutes, "file_mb": round(audio.stat().st_size / 2**20)}
        result.update(measure(audio, Path(tmp) / "now.npy", None))
        now = np.load(Path(tmp) / "now.npy")
        result["frames"] = len(now)
        if args.baseline_src:
            base = measure(audio, Path(tmp) / "base.npy", args.baseline_src)
            result.update({f"baseline_{key}": value for key, value in base.items()})
            then = np.load(Path(tmp) / "base.npy")
            result["max_abs_diff"] = (float(np.max(np.abs(now - then)))
                                      if then.shape == now.shape else None)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
