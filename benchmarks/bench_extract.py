"""Feature-extraction speed, decode and resampling included; prints one JSON line.

Generates ``--clips`` music-like clips (chords, percussion, noise) of ``--seconds`` at
44.1 kHz as OGG (so decoding and resampling to 22.05 kHz are part of the cost), or takes
``--audio-dir``. Reports, on one core (one BLAS thread), seconds of audio processed per
second for ``extract_features(path)`` and the seconds of each stage, the one-time numba
compilation cost of a fresh process separately, and the realtime factor per core of
``extract_collection`` with ``--jobs`` workers.

    python benchmarks/bench_extract.py --clips 20 --seconds 30 --jobs 2
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")      # per-core figures
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

FRESH = """
import time, numpy as np
t0 = time.perf_counter()
import librosa
from hdpmusic.features import extract_features
t1 = time.perf_counter()
extract_features({path!r})
t2 = time.perf_counter()
extract_features({path!r})
t3 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2)
"""


def music_like(seconds: float, sr: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    y = np.zeros_like(t)
    for start in np.arange(0, seconds, 2.0):             # a chord every 2 s
        root = 110.0 * 2 ** (rng.integers(0, 24) / 12)
        seg = (t >= start) & (t < start + 2.0)
        for ratio in (1.0, 1.26, 1.5):
            y[seg] += np.sin(2 * np.pi * root * ratio * t[seg]) * np.exp(-(t[seg] - start))
    beat = int(sr * 60 / rng.uniform(80, 160))
    for s in range(0, len(y) - 400, beat):                # percussion
        y[s:s + 400] += rng.normal(size=400) * np.hanning(400)
    y += 0.01 * rng.normal(size=len(y))
    return (0.3 * y / np.abs(y).max()).astype(np.float32)


def stage_seconds(path: Path) -> dict[str, float]:
    import librosa

    out = {}
    t = time.perf_counter()
    y, sr = librosa.load(path, sr=22050, mono=True)
    out["decode_resample"] = time.perf_counter() - t
    t = time.perf_counter()
    S = np.abs(librosa.stft(y, n_fft=2048, hop_length=512)) ** 2
    out["stft"] = time.perf_counter() - t
    t = time.perf_counter()
    db = librosa.power_to_db(librosa.feature.melspectrogram(S=S, sr=sr))
    m = librosa.feature.mfcc(S=db, sr=sr, n_mfcc=13)
    librosa.feature.delta(m, width=9)
    librosa.feature.delta(m, width=9, order=2)
    out["mel_mfcc_deltas"] = time.perf_counter() - t
    t = time.perf_counter()
    librosa.onset.onset_strength(S=db, sr=sr)
    out["onset"] = time.perf_counter() - t
    t = time.perf_counter()
    librosa.feature.chroma_stft(S=S, sr=sr)
    out["chroma"] = time.perf_counter() - t
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--audio-dir", default=None, help="use these files instead")
    args = ap.parse_args()
    from hdpmusic.extract import extract_collection, find_tracks
    from hdpmusic.features import extract_features

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.audio_dir) if args.audio_dir else Path(tmp) / "audio"
        if not args.audio_dir:
            for i in range(args.clips):
                (root).mkdir(exist_ok=True)
                sf.write(root / f"clip{i:03d}.ogg", music_like(args.seconds, 44100, i), 44100)
        paths = [p for _, p in find_tracks(root)]
        audio_s = sum(sf.info(p).duration for p in paths)
        fresh = subprocess.run([sys.executable, "-c", FRESH.format(path=str(paths[0]))],
                               capture_output=True, text=True, check=True).stdout.split()
        import_s, first_s, second_s = map(float, fresh)
        extract_features(paths[0])                      # compile in this process
        t = time.perf_counter()
        for p in paths:
            extract_features(p)
        one_core_s = time.perf_counter() - t
        stages: dict[str, float] = {}
        for p in paths:
            for k, v in stage_seconds(p).items():
                stages[k] = stages.get(k, 0.0) + v
        t = time.perf_counter()
        extract_collection(root, Path(tmp) / "corpus.h5", jobs=args.jobs,
                           cache=Path(tmp) / "cache", progress=False)
        collection_s = time.perf_counter() - t
    print(json.dumps({
        "clips": len(paths), "audio_seconds": round(audio_s, 1),
        "realtime_factor_per_core": round(audio_s / one_core_s, 1),
        "collection_jobs": args.jobs,
        "collection_realtime_factor_per_core": round(audio_s / collection_s / args.jobs, 1),
        "compile_seconds": round(first_s - second_s, 2), "import_seconds": round(import_s, 2),
        "stage_seconds_per_audio_minute": {k: round(60 * v / audio_s, 3)
                                           for k, v in stages.items()},
    }))


if __name__ == "__main__":
    main()
