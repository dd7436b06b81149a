"""Data-parallel fitting throughput for 1 and N ranks; prints one JSON line.

Writes an MSD-shaped corpus to HDF5 (streamed from disk, as at scale), runs
``torchrun --nproc-per-node R -m hdpmusic fit`` for each R in ``--ranks`` (gloo on CPU,
NCCL on GPUs), and reads the run's history: frames/s over all updates and the share of
time ranks waited for data (``data_wait``, measured on rank 0).

    python benchmarks/bench_scale.py --ranks 1 2 --songs 24
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from hdpmusic import HDPGMM, Corpus

sys.path.insert(0, str(Path(__file__).parent))
from bench_fit import msd_like


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--songs", type=int, default=24)
    ap.add_argument("--batch-size", type=int, default=12)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--local-iters", type=int, default=30)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    out: dict = {"songs": args.songs, "batch_size": args.batch_size,
                 "local_iters": args.local_iters}
    with tempfile.TemporaryDirectory() as tmp:
        corpus_path = Path(tmp) / "corpus.h5"
        Corpus.from_arrays(msd_like(args.songs)).save(corpus_path)
        out["frames"] = Corpus.open(corpus_path).n_frames
        for ranks in args.ranks:
            model_path = Path(tmp) / f"model{ranks}.hdp"
            cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node",
                   str(ranks), "--master-addr", "127.0.0.1", "--master-port", str(free_port()),
                   "-m", "hdpmusic", "-q", "fit", str(corpus_path), "--out", str(model_path),
                   "--batch-size", str(args.batch_size), "--epochs", str(args.epochs),
                   "--local-tol", "0", "--local-max-iter", str(args.local_iters),
                   "--device", args.device, "--checkpoint-every", "0"]
            subprocess.run(cmd, check=True, capture_output=True)
            history = HDPGMM.load(model_path).history_
            seconds = sum(h["seconds"] for h in history)
            frames = out["frames"] * args.epochs
            out[f"ranks{ranks}"] = {
                "frames_per_s": round(frames / seconds),
                "data_wait_share": round(float(np.mean([h["data_wait"] for h in history])), 4),
                "updates": len(history)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
