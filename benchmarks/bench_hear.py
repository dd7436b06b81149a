"""Time and peak memory of the HEAR API on one long sound; prints one JSON line.

An HDPGMM (K=256, T=32, the paper's sizes) is fitted briefly on a few generated songs,
then one generated sound of ``--minutes`` minutes (default 20, the longest a HEAR task
is expected to hold) goes through ``get_scene_embeddings`` and
``get_timestamp_embeddings``. Figures: seconds of each call, the peak resident memory of
the process (MiB, ``ru_maxrss``) before and after, and the size of the returned
per-frame embeddings (MiB) — the part of the memory the API itself asks for.

    python benchmarks/bench_hear.py [--minutes 20] [--device auto]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from hdpmusic import HDPGMM, hear
from hdpmusic.audio.features import extract_features

SR = 22050


def _song(seconds: float, seed: int) -> np.ndarray:
    """Chords changing every second over noise (a stand-in for music), peak 0.5."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    roots = 110.0 * 2 ** (rng.integers(0, 24, size=int(seconds) + 1) / 12)
    f = roots[t.astype(int)]
    y = sum(np.sin(2 * np.pi * f * r * t) for r in (1.0, 1.26, 1.5))
    y = y + 0.05 * rng.normal(size=len(t))
    return (0.5 * y / np.max(np.abs(y))).astype(np.float32)


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    songs = [extract_features(_song(20.0, seed), sr=SR) for seed in range(8)]
    model = HDPGMM(256, 32, batch_size=8, max_epochs=1, init_samples=5000,
                   device=args.device, verbose=False).fit(songs)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.hdp"
        model.save(path)
        wrapped = hear.load_model(str(path), device=args.device)
        audio = torch.from_numpy(_song(60 * args.minutes, 99))[None].to(wrapped.device)
        before = _peak_mib()
        start = time.perf_counter()
        hear.get_scene_embeddings(audio, wrapped)
        scene_s = time.perf_counter() - start
        after_scene = _peak_mib()
        start = time.perf_counter()
        emb, _ = hear.get_timestamp_embeddings(audio, wrapped)
        frames_s = time.perf_counter() - start
    print(json.dumps({
        "minutes": args.minutes, "device": str(wrapped.device), "frames": emb.shape[1],
        "scene_s": round(scene_s, 2), "timestamp_s": round(frames_s, 2),
        "peak_mib_before": round(before), "peak_mib_after_scene": round(after_scene),
        "peak_mib_after_timestamps": round(_peak_mib()),
        "timestamp_output_mib": round(emb.numel() * 4 / 2**20, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
