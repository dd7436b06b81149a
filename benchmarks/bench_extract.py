"""Feature-extraction speed, decoding and resampling included; prints one JSON line.

Generates ``--clips`` music-like clips (chords, percussion, noise) of ``--seconds`` at
44.1 kHz, written both as OGG/Vorbis and as 16-bit WAV (so decoding and resampling to
22.05 kHz are part of the cost), or takes the audio files of ``--audio-dir``.

Figures (one BLAS/numba thread per process, so "per core"):

* ``compile_seconds``: in a fresh process with an empty numba cache, the first
  ``extract_features(path)`` minus the second (numba compilation of librosa's kernels
  and lazy imports); ``first_call_overhead_seconds``: the same with numba's on-disk cache
  already filled (what every new worker process pays); ``import_seconds``.
* ``realtime_factor_per_core``: seconds of audio per second of one core, steady state,
  end to end through ``extract_features(path)`` (best of ``--repeats`` passes over all
  files), overall and per format; ``realtime_factor_per_cpu_second`` divides by the
  process's CPU time instead (less sensitive to other load on the machine).
* ``collection_realtime_factor_per_core``: the same through ``extract_collection`` with
  ``--jobs`` workers, divided by the number of workers, with warm workers (a second
  run into a fresh cache; the first run, worker start-up included, is
  ``collection_cold_seconds``).
* ``stage_seconds_per_audio_minute``: decode+resample / stft / mel+mfcc+deltas / onset
  / chroma.
* ``load_average_1min`` before and after: other processes on the machine slow every
  figure down.

    python benchmarks/bench_extract.py --clips 20 --seconds 30 --jobs 2
    python benchmarks/bench_extract.py --audio-dir /usr/share/games/fretsonfire/data/songs
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # per-core figures
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

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
import sys, time
t0 = time.perf_counter()
import librosa, numpy
from hdpmusic.audio.features import extract_features
t1 = time.perf_counter()
extract_features(sys.argv[1])
t2 = time.perf_counter()
extract_features(sys.argv[1])
t3 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2)
"""


def music_like(seconds: float, sr: int, seed: int) -> np.ndarray:
    """Chords every 2 s, noise-burst percussion at a random tempo, a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    y = np.zeros_like(t)
    for start in np.arange(0, seconds, 2.0):
        root = 110.0 * 2 ** (rng.integers(0, 24) / 12)
        seg = (t >= start) & (t < start + 2.0)
        for ratio in (1.0, 1.26, 1.5):
            y[seg] += np.sin(2 * np.pi * root * ratio * t[seg]) * np.exp(-(t[seg] - start))
    beat = int(sr * 60 / rng.uniform(80, 160))
    for s in range(0, len(y) - 400, beat):
        y[s:s + 400] += rng.normal(size=400) * np.hanning(400)
    y += 0.01 * rng.normal(size=len(y))
    return (0.3 * y / np.abs(y).max()).astype(np.float32)


def fresh_process(path: Path, numba_cache: str | None) -> tuple[float, float, float]:
    """(import, first call, second call) seconds in a new interpreter."""
    env = dict(os.environ)
    if numba_cache is not None:
        env["NUMBA_CACHE_DIR"] = numba_cache
    out = subprocess.run([sys.executable, "-c", FRESH, str(path)], capture_output=True,
                         text=True, check=True, env=env).stdout.split()
    return tuple(map(float, out[-3:]))  # type: ignore[return-value]


def stage_seconds(path: Path) -> dict[str, float]:
    """The stages of ``extract_features``, timed one by one (same calls)."""
    import librosa

    from hdpmusic.audio.decode import load_audio
    from hdpmusic.audio.features import DEFAULT_CONFIG as c
    from hdpmusic.audio.features import _mel_basis

    out = {}
    sr = c.sr
    t = time.perf_counter()
    y = load_audio(path, sr, min_samples=c.min_samples)
    out["decode_resample"] = time.perf_counter() - t
    t = time.perf_counter()
    power = np.abs(librosa.stft(y, n_fft=c.n_fft, hop_length=c.hop_length)) ** 2
    out["stft"] = time.perf_counter() - t
    t = time.perf_counter()
    db = librosa.power_to_db(_mel_basis(c.sr, c.n_fft, c.n_mels) @ power)
    m = librosa.feature.mfcc(S=db, sr=sr, n_mfcc=c.n_mfcc)
    librosa.feature.delta(m, width=c.delta_width)
    librosa.feature.delta(m, width=c.delta_width, order=2)
    out["mel_mfcc_deltas"] = time.perf_counter() - t
    t = time.perf_counter()
    librosa.onset.onset_strength(S=db, sr=sr, n_fft=c.n_fft, hop_length=c.hop_length)
    out["onset"] = time.perf_counter() - t
    t = time.perf_counter()
    librosa.feature.chroma_stft(S=power, sr=sr, n_fft=c.n_fft, hop_length=c.hop_length)
    out["chroma"] = time.perf_counter() - t
    return out


def timed_pass(paths: list[Path]) -> tuple[float, float]:
    """(wall, CPU) seconds of ``extract_features`` over ``paths`` in this process."""
    from hdpmusic.audio.features import extract_features

    t, c = time.perf_counter(), time.process_time()
    for p in paths:
        extract_features(p)
    return time.perf_counter() - t, time.process_time() - c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--formats", default="ogg,wav", help="formats of the generated clips")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2, help="passes; the best is reported")
    ap.add_argument("--audio-dir", default=None, help="use these files instead")
    ap.add_argument("--max-files", type=int, default=None, help="at most this many files")
    args = ap.parse_args()
    from hdpmusic.audio.extract import extract_collection, find_tracks

    load_before = os.getloadavg()[0]  # timings are only meaningful on an idle machine
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.audio_dir:
            root = Path(args.audio_dir)
        else:
            root = tmp / "audio"
            for fmt in args.formats.split(","):
                (root / fmt).mkdir(parents=True)
                for i in range(args.clips):
                    sf.write(root / fmt / f"clip{i:03d}.{fmt}",
                             music_like(args.seconds, 44100, i), 44100)
        tracks = find_tracks(root)[: args.max_files]
        paths = [p for _, p in tracks]
        durations = {p: sf.info(p).duration for p in paths}
        audio_s = sum(durations.values())
        if args.max_files:
            listing = tmp / "tracks.txt"
            listing.write_text("".join(f"{p}\t{i}\n" for i, p in tracks))
            source: Path = listing
        else:
            source = root

        import_s, first_s, second_s = fresh_process(paths[0], str(tmp / "numba"))
        _, warm_first_s, warm_second_s = fresh_process(paths[0], None)

        timed_pass(paths[:2])  # warm up this process
        passes = [timed_pass(paths) for _ in range(args.repeats)]
        best, best_cpu = min(w for w, _ in passes), min(c for _, c in passes)
        by_format: dict[str, float] = {}
        for ext in sorted({p.suffix.lower() for p in paths}):
            subset = [p for p in paths if p.suffix.lower() == ext]
            secs = min(timed_pass(subset)[0] for _ in range(args.repeats))
            by_format[ext.lstrip(".")] = round(sum(durations[p] for p in subset) / secs, 1)

        stages: dict[str, float] = {}
        for p in paths:
            for k, v in stage_seconds(p).items():
                stages[k] = stages.get(k, 0.0) + v

        t = time.perf_counter()
        extract_collection(source, tmp / "cold.h5", jobs=args.jobs, cache=tmp / "c0",
                           progress=False)
        cold_s = time.perf_counter() - t
        t = time.perf_counter()
        extract_collection(source, tmp / "warm.h5", jobs=args.jobs, cache=tmp / "c1",
                           progress=False)
        warm_s = time.perf_counter() - t
    print(json.dumps({
        "files": len(paths), "audio_seconds": round(audio_s, 1),
        "cpu_count": os.cpu_count(),
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "realtime_factor_per_core": round(audio_s / best, 1),
        "realtime_factor_per_cpu_second": round(audio_s / best_cpu, 1),
        "realtime_factor_per_core_by_format": by_format,
        "collection_jobs": args.jobs,
        "collection_realtime_factor_per_core": round(audio_s / warm_s / args.jobs, 1),
        "collection_cold_seconds": round(cold_s, 2),
        "collection_cold_realtime_factor_per_core": round(audio_s / cold_s / args.jobs, 1),
        "compile_seconds": round(first_s - second_s, 2),
        "first_call_overhead_seconds": round(warm_first_s - warm_second_s, 2),
        "import_seconds": round(import_s, 2),
        "stage_seconds_per_audio_minute": {k: round(60 * v / audio_s, 4)
                                           for k, v in stages.items()},
    }))


if __name__ == "__main__":
    main()
