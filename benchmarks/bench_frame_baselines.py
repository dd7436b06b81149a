"""Throughput of the frame baselines on a synthetic corpus streamed from HDF5.

Prints one JSON line: songs/s of ``G1.transform`` and ``VQCodebook.transform``, and
frames/s of ``VQCodebook.fit`` (whole fit: standardisation pass, seeding, the epochs
and the final inertia pass; ``vq_update_frames_per_s`` counts the epochs alone).

    python benchmarks/bench_frame_baselines.py [--songs 2000] [--frames 400]
        [--clusters 256] [--epochs 1] [--device auto]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from hdpmusic.baselines.g1 import G1
from hdpmusic.baselines.vq import VQCodebook
from hdpmusic.formats.corpus import Corpus
from hdpmusic.formats.corpus_writer import CorpusWriter
from hdpmusic.runtime.devices import resolve_device


def write_corpus(path: Path, songs: int, frames: int, dim: int, seed: int = 0) -> None:
    """Songs of about ``frames`` frames, each a mixture of a few of 64 Gaussian blobs."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, size=(64, dim)).astype(np.float32)
    with CorpusWriter(path, dim) as writer:
        for j in range(songs):
            n = int(rng.integers(frames // 2, frames * 3 // 2))
            blobs = rng.choice(64, size=4, replace=False)
            x = centres[rng.choice(blobs, size=n)] + rng.normal(size=(n, dim)).astype(
                np.float32)
            writer.append(f"song{j:06d}", x)


def timed(fn):
    start = time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out, time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--songs", type=int, default=2000)
    p.add_argument("--frames", type=int, default=400, help="mean frames per song")
    p.add_argument("--dim", type=int, default=52)
    p.add_argument("--clusters", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=1024, help="VQ frames per update")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--device", default="auto")
    args = p.parse_args()
    device = resolve_device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.h5"
        write_corpus(path, args.songs, args.frames, args.dim)
        corpus = Corpus.open(path)
        g1 = G1(device=str(device)).fit(corpus)
        g1.transform(corpus.subset(np.arange(min(64, len(corpus)))))     # warm-up
        _, g1_s = timed(lambda: g1.transform(corpus))
        vq = VQCodebook(args.clusters, batch_size=args.batch_size, max_epochs=args.epochs,
                        max_no_improvement=None, device=str(device), verbose=False)
        _, fit_s = timed(lambda: vq.fit(corpus))
        _, vq_s = timed(lambda: vq.transform(corpus))
    update_s = sum(h["seconds"] for h in vq.history_)
    print(json.dumps({
        "benchmark": "frame_baselines", "device": str(device),
        "torch_threads": torch.get_num_threads(), "songs": len(corpus),
        "frames": corpus.n_frames, "dim": args.dim, "n_clusters": args.clusters,
        "vq_batch_size": args.batch_size, "vq_epochs": len(vq.history_),
        "vq_steps": vq.n_steps_,
        "g1_transform_songs_per_s": round(len(corpus) / g1_s, 1),
        "vq_transform_songs_per_s": round(len(corpus) / vq_s, 1),
        "vq_fit_frames_per_s": round(corpus.n_frames * len(vq.history_) / fit_s),
        "vq_update_frames_per_s": round(corpus.n_frames * len(vq.history_) / update_s),
        "vq_fit_seconds": round(fit_s, 3),
        "vq_inertia_per_frame": round(vq.inertia_ / corpus.n_frames, 4),
    }))


if __name__ == "__main__":
    main()
