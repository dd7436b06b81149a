"""Throughput of HDPGMM fitting on an MSD-shaped synthetic corpus; prints one JSON line.

70 % of songs have 1292 frames (30 s previews), 30 % have 2584 (60 s); d = 52; frames
come from a 64-cluster Gaussian mixture with 4 clusters per song. The local step runs a
fixed number of iterations (``local_tol = 0``) so figures compare across implementations.

    python benchmarks/bench_fit.py --device cpu --songs 40 --batch-size 40
    python benchmarks/bench_fit.py --device cuda --songs 2048 --epochs 2
    python benchmarks/bench_fit.py --device cuda --songs 8192 --epochs 2 --stream

Figures: frames/s per epoch (whole ``fit`` epochs, data loading included), seconds per
epoch of the three phases (E_q[log p] GEMM, local iterations, statistics) measured on one
batch and scaled (and ``local_check_every_10``: the local iterations again with a host
sync every 10 iterations instead of every one), padding share, peak memory, and the
held-out per-frame log predictive density after the run. ``us_per_frame_epoch`` is
comparable with the study's ≈265 µs per frame per epoch at 97 local iterations on 2 CPU
cores.

``--local-precision float16`` (or ``bfloat16``) holds the local step's log-likelihoods in
16 bits; its ``elbo_per_frame`` and held-out score are the accuracy guard against
``full``.

``--local-kernels compiled`` runs the local step's iterations fused by ``torch.compile``
(the first epoch pays the compilation; ``frames_per_s`` is the best epoch's).

``--stream`` writes the corpus to an HDF5 file and fits from it through the streaming
path (read, pin, copy to the device while it computes) even where the corpus would fit in
GPU memory, so that its frames/s compare with the in-memory figure; its peak GPU memory
is then set by the batch, not by the corpus.

``--corpus-dir DIR`` keeps the generated corpus as ``DIR/msd_like_<songs>.h5`` and reuses
it on later runs (generating 8192 songs takes ≈ 20 s of a short GPU session): the corpus
is then read from that file, into memory (or the GPU) unless ``--stream``.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np
import torch

from hdpmusic import HDPGMM, Corpus
from hdpmusic.model.local import gather_padded, local_step
from hdpmusic.model.sufficient import frame_statistics


def msd_like(n_songs: int, d: int = 52, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(64, d))
    songs = []
    for _ in range(n_songs):
        n = 1292 if rng.random() < 0.7 else 2584
        comps = rng.choice(64, size=4, replace=False)
        z = comps[rng.integers(0, 4, size=n)]
        songs.append((centres[z] + rng.normal(size=(n, d))).astype(np.float32))
    return songs


def generated_corpus(n_songs: int, folder: Path, *, keep: bool, stream: bool) -> Corpus:
    """:func:`msd_like` songs as a corpus: in memory, or (``stream``) opened from an HDF5
    file in ``folder``. With ``keep`` the file ``folder/msd_like_<n_songs>.h5`` is written
    once and read on later calls."""
    path = folder / f"msd_like_{n_songs}.h5"
    if not (keep and path.exists()):
        corpus = Corpus.from_arrays(msd_like(n_songs))
        if not (keep or stream):
            return corpus
        corpus.save(path)
    corpus = Corpus.open(path)
    return corpus if stream else corpus.to("cpu")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def phase_seconds(model: HDPGMM, corpus: Corpus, device: torch.device) -> dict[str, float]:
    """Seconds of each phase on the first batch (bucketed exactly as in ``fit``), and of
    the local step again with the host's convergence check every 10 iterations instead
    of every one: with ``local_tol = 0`` both run the same iterations, so the difference
    is the cost of the syncs."""
    idx = corpus.minibatch_indices(model.batch_size, seed=0, epoch=0)[0]
    batch = corpus.load_batch(idx, device=device, whitener=model.whitener_)
    lengths = corpus.lengths[idx]
    lp = model._local_params()
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    times = {"eqlogp": 0.0, "local": 0.0, "statistics": 0.0, "local_check_every_10": 0.0}
    K, d = lp.coef.shape[1], batch.frames.shape[1]
    for songs in lp.buckets(lengths):
        width = int(lengths[songs[0]])
        X, mask = gather_padded(batch.frames, torch.as_tensor(starts[songs], device=device),
                                torch.as_tensor(lengths[songs], device=device), width)
        sync(device); t0 = time.perf_counter()  # noqa: E702
        L = lp.loglik(X.reshape(-1, d)).reshape(len(songs), width, K)
        sync(device); t1 = time.perf_counter()  # noqa: E702
        state = local_step(L, mask, lp.log_beta, lp.alpha_mean, lp.alpha_log_mean, lp.T,
                           tol=0.0, max_iter=lp.max_iter, low=lp.low, iteration=lp.iteration)
        sync(device); t2 = time.perf_counter()  # noqa: E702
        R = torch.softmax(L, 2) * mask[..., None]
        frame_statistics(R.reshape(-1, K), X.reshape(-1, d))
        sync(device); t3 = time.perf_counter()  # noqa: E702
        local_step(L, mask, lp.log_beta, lp.alpha_mean, lp.alpha_log_mean, lp.T, tol=0.0,
                   max_iter=lp.max_iter, low=lp.low, check_every=10, iteration=lp.iteration)
        sync(device); t4 = time.perf_counter()  # noqa: E702
        times["eqlogp"] += t1 - t0
        times["local"] += t2 - t1
        times["statistics"] += t3 - t2
        times["local_check_every_10"] += t4 - t3
        del L, state, R
    scale = corpus.n_frames / int(lengths.sum())
    return {k: v * scale for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--songs", type=int, default=None, help="default: 2048 on CUDA, 40 on CPU")
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--local-iters", type=int, default=100)
    ap.add_argument("--components", type=int, default=256)
    ap.add_argument("--song-components", type=int, default=32)
    ap.add_argument("--algorithm", default="memoized", choices=["memoized", "online"])
    ap.add_argument("--local-precision", default="full",
                    choices=["full", "float16", "bfloat16"])
    ap.add_argument("--local-kernels", default="eager", choices=["eager", "compiled"])
    ap.add_argument("--stream", action="store_true",
                    help="fit from an HDF5 file through the streaming path")
    ap.add_argument("--corpus-dir", type=Path, default=None,
                    help="keep the generated corpus there and reuse it (default: none)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run(args, Path(tmp))


def run(args: argparse.Namespace, tmp: Path) -> None:
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available()
                          else ("cpu" if args.device == "auto" else args.device))
    n_songs = args.songs or (2048 if device.type == "cuda" else 40)
    held_out = Corpus.from_arrays(msd_like(8, seed=1))
    corpus = generated_corpus(n_songs, args.corpus_dir or tmp, keep=args.corpus_dir is not None,
                              stream=args.stream)
    if not args.stream and device.type == "cuda":
        corpus = corpus.to(device)
    model = HDPGMM(n_components=args.components, n_song_components=args.song_components,
                   batch_size=min(args.batch_size, n_songs), max_epochs=args.epochs,
                   algorithm=args.algorithm, tol=0.0, local_tol=0.0,
                   local_max_iter=args.local_iters, local_precision=args.local_precision,
                   local_kernels=args.local_kernels,
                   device=str(device), verbose=False,
                   random_state=0)
    t0 = time.perf_counter()
    model._initialise(corpus)
    init_s = time.perf_counter() - t0
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    epoch_s = []
    for epoch in range(args.epochs):
        model.max_epochs = epoch + 1
        sync(device); t0 = time.perf_counter()  # noqa: E702
        with mock.patch("hdpmusic.model.hdpgmm.hold_on_gpu", lambda c, _device: c):
            model.fit(corpus, resume=True)       # as given: in GPU memory, or streamed
        sync(device)
        epoch_s.append(time.perf_counter() - t0)
    phases = phase_seconds(model, corpus, device)
    best = min(epoch_s)
    peak = (torch.cuda.max_memory_allocated(device) if device.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    print(json.dumps({
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "threads": torch.get_num_threads(), "songs": n_songs, "frames": corpus.n_frames,
        "K": args.components, "T": args.song_components, "batch_size": model.batch_size,
        "algorithm": args.algorithm, "stream": args.stream,
        "local_precision": args.local_precision, "local_kernels": args.local_kernels,
        "local_iters": args.local_iters, "init_s": round(init_s, 3),
        "epoch_s": [round(s, 3) for s in epoch_s],
        "frames_per_s": round(corpus.n_frames / best),
        "us_per_frame_epoch": round(1e6 * best / corpus.n_frames, 2),
        "phase_s_per_epoch": {k: round(v, 3) for k, v in phases.items()},
        "padding": round(float(np.mean([h["padding"] for h in model.history_])), 4),
        "peak_memory_gb": round(peak / 2**30, 3),
        "elbo_per_frame": round(model.passes_[-1]["elbo_per_frame"], 5),
        "held_out_logpdf_per_frame": round(model.score(held_out), 4),
    }))


if __name__ == "__main__":
    main()
