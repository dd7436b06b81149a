"""Throughput of the deep baselines (KIM, CLMR) at the study's settings; prints one JSON line.

Generated songs (chords over clicks and noise, 30 s each, like the MSD previews) are
written to a temporary folder; each model takes ``--warmup`` untimed steps, then
``--steps`` timed training steps at batch 48 with the paper's network sizes, then
transforms ``--songs`` songs. Figures: training steps/s and crops/s (two crops per
item), transform songs/s, and the device.

    python benchmarks/bench_baselines.py [--device auto] [--steps 3] [--songs 8]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from hdpmusic.baselines.clmr import CLMR
from hdpmusic.baselines.kim import KIM
from hdpmusic.runtime.devices import resolve_device

SR = 22050


def song(seconds: float, seed: int) -> np.ndarray:
    """A chord sequence (one chord a second) over clicks and a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    roots = 110.0 * 2 ** (rng.integers(0, 24, size=int(seconds) + 1) / 12)
    root = roots[t.astype(int)]
    y = sum(np.sin(2 * np.pi * root * ratio * t) for ratio in (1.0, 1.26, 1.5))
    y += 2.0 * (np.mod(t, 0.5) < 0.01) * rng.normal(size=t.size)
    y += 0.05 * rng.normal(size=t.size)
    return (0.5 * y / np.abs(y).max()).astype(np.float32)


def measure(model, paths: list[str], steps: int, warmup: int, songs: int) -> dict:
    """Training steps/s after ``warmup`` steps, and transform songs/s."""
    model.set_params(max_steps=warmup).fit(paths)
    device = next(model.network_.parameters()).device
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    model.partial_fit(paths, n_steps=steps)
    sync()
    train = time.perf_counter() - start
    start = time.perf_counter()
    X = model.transform(paths[:songs])
    sync()
    infer = time.perf_counter() - start
    return {"train_steps_per_s": steps / train,
            "train_crops_per_s": 2 * model.batch_size * steps / train,
            "transform_songs_per_s": songs / infer, "dim": X.shape[1]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=3, help="timed training steps")
    parser.add_argument("--warmup", type=int, default=1, help="untimed training steps")
    parser.add_argument("--songs", type=int, default=8, help="songs to transform")
    parser.add_argument("--n-songs", type=int, default=48, help="songs written (>= 48)")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of a song")
    parser.add_argument("--workers", type=int, default=2, help="loader processes")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    common = {"device": str(device), "num_workers": args.workers, "verbose": False}
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for j in range(args.n_songs):
            path = Path(folder) / f"song{j:03d}.wav"
            sf.write(path, song(args.seconds, j), SR)
            paths.append(str(path))
        result = {
            "device": str(device),
            "torch_threads": torch.get_num_threads(),
            "batch_size": 48,
            "song_seconds": args.seconds,
            "kim": measure(KIM(**common), paths, args.steps, args.warmup, args.songs),
            "clmr": measure(CLMR(**common), paths, args.steps, args.warmup, args.songs),
        }
    print(json.dumps({k: ({m: round(v, 4) if isinstance(v, float) else v
                           for m, v in r.items()} if isinstance(r, dict) else r)
                      for k, r in result.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
