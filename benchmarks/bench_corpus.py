"""Read throughput of random mini-batches from an HDF5 corpus; prints one JSON line.

The corpus has MSD-shaped songs (70 % of 1292 frames, 30 % of 2584, d = 52). Random
1024-song batches are read song by song in batch order (``merge=False``) and in file
order with contiguous songs joined (``merge=True``, the default); a streaming pass
(consecutive songs, as ``iter_frames`` and ``save`` read) compares the same two. The
prefetch figure is the share of reading time hidden behind a simulated computation of
the same length over ``--repeats`` epochs of batches (1.0: all that can be hidden is).
``sample_frames`` is timed with and without reading through gaps between sampled frames.

The file was just written, so the OS page cache holds much of it: the figures are for a
mostly warm cache (a cold disk is slower, and file order helps more there). Variants take
turns epoch by epoch and the median is reported, so that load from other processes on a
shared machine affects them alike.

Usage: ``python benchmarks/bench_corpus.py [--songs 3000] [--dir /tmp] [--repeats 5]``
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from hdpmusic.formats.corpus import Corpus
from hdpmusic.formats.corpus_writer import CorpusWriter

DIM = 52
BATCH = 1024


def write_corpus(path: Path, n_songs: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    lengths = np.where(rng.random(n_songs) < 0.7, 1292, 2584)
    block = rng.normal(size=(2584, DIM)).astype(np.float32)
    with CorpusWriter(path, DIM, attrs={"sr": 22050, "hop_length": 512}) as writer:
        for j, n in enumerate(lengths):
            writer.append(f"TR{j:08d}", block[:n] + np.float32(j))


def median_rates(variants: dict[str, Callable[[], int]], repeats: int) -> dict[str, int]:
    """Median frames/s of each variant (each call returns the frames it read)."""
    rates: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, run in variants.items():
            start = time.perf_counter()
            frames = run()
            rates[name].append(frames / (time.perf_counter() - start))
    return {f"{name}_frames_per_s": round(float(np.median(r))) for name, r in rates.items()}


def read_all(corpus: Corpus, batches: list[np.ndarray], merge: bool) -> int:
    return sum(len(corpus.read(idx, merge=merge)[0]) for idx in batches)


def prefetch_overlap(corpus: Corpus, batches: list[np.ndarray]) -> dict[str, float]:
    """Hidden share of reading time when compute (sleep) of equal length runs alongside.

    The first batch is read before any compute can run beside it, so the share that can
    be hidden is (n − 1)/n of the reading; ``prefetch_overlap_share`` is of that part."""
    start = time.perf_counter()
    for idx in batches:
        corpus.load_batch(idx)
    read_s = time.perf_counter() - start
    compute_s = read_s / len(batches)
    start = time.perf_counter()
    for _ in corpus.iter_batches(batches, prefetch=2):
        time.sleep(compute_s)
    wall = time.perf_counter() - start
    serial = read_s + compute_s * len(batches)
    hideable = read_s * (len(batches) - 1) / len(batches)
    return {"prefetch_batches": len(batches), "load_s": round(read_s, 3),
            "prefetch_wall_s": round(wall, 3), "serial_s": round(serial, 3),
            "prefetch_overlap_share": round((serial - wall) / hideable, 3)}


def time_sampling(corpus: Corpus, gap: int, n: int = 100_000) -> float:
    default = Corpus.sample_gap_frames
    Corpus.sample_gap_frames = gap
    start = time.perf_counter()
    corpus.sample_frames(n, seed=0)
    Corpus.sample_gap_frames = default
    return round(time.perf_counter() - start, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=3000)
    parser.add_argument("--dir", default=tempfile.gettempdir())
    parser.add_argument("--repeats", type=int, default=5, help="epochs timed per variant")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "bench.h5"
        start = time.perf_counter()
        write_corpus(path, args.songs)
        write_s = time.perf_counter() - start
        corpus = Corpus.open(path)
        epoch = corpus.minibatch_indices(BATCH, seed=0, epoch=0)
        stream = np.array_split(np.arange(len(corpus)), max(1, len(corpus) // 64))
        read_all(corpus, epoch, merge=True)  # warm-up
        result = {"bench": "corpus_read", "songs": len(corpus), "frames": corpus.n_frames,
                  "file_gb": round(path.stat().st_size / 1e9, 3),
                  "write_frames_per_s": round(corpus.n_frames / write_s),
                  "batch_songs": BATCH, "repeats": args.repeats}
        result.update(median_rates({
            "random_batch_per_song": lambda: read_all(corpus, epoch, merge=False),
            "random_batch_merged": lambda: read_all(corpus, epoch, merge=True),
            "stream_per_song": lambda: read_all(corpus, stream, merge=False),
            "stream_merged": lambda: read_all(corpus, stream, merge=True),
        }, args.repeats))
        result.update(prefetch_overlap(corpus, [idx for e in range(args.repeats)
                                                for idx in corpus.minibatch_indices(
                                                    BATCH, seed=0, epoch=e)]))
        result["sample_100k_frames_s_gap0"] = time_sampling(corpus, 0)
        result[f"sample_100k_frames_s_gap{Corpus.sample_gap_frames}"] = time_sampling(
            corpus, Corpus.sample_gap_frames)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
