"""Cost of the item-kNN recommendation protocol at the study's Echonest scale.

Prints one JSON line: seconds to build the top-512 cosine graph (once per model and
run), seconds of one user split (k chosen among 16…512 on the validation users, then
the test users scored: 7 scorings of 10 % of the users each), users/s, and the
projected hours of the study's protocol (``--runs`` runs × ``--splits`` splits per
model). Wall-clock and CPU seconds (all threads) are both given: on a machine shared
with other jobs the CPU seconds divided by the threads are the idle-machine time.
Defaults: the filtered Taste Profile of the paper, 40 980 items × 571 355 users with
≥ 20 (≈ 59 on average, ≈ 34 M) interactions drawn from a Zipf-like popularity, 256-dim
item representations.

    python benchmarks/bench_recommendation.py [--users 571355] [--device auto]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import scipy.sparse as sp
import torch

from hdpmusic.evaluation import resolve_device
from hdpmusic.evaluation.recommendation import evaluate_recommendation, knn_graph


def synthetic_interactions(n_users: int, n_items: int, per_user: int,
                           rng: np.random.Generator, min_items: int = 20) -> sp.csr_matrix:
    """Binary users × items matrix, ≈ per_user (≥ min_items) items per user, Zipf(0.8)."""
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    popularity /= popularity.sum()
    counts = np.maximum(min_items, rng.poisson(per_user, n_users))
    items = rng.choice(n_items, size=int(counts.sum()), p=popularity)
    users = np.repeat(np.arange(n_users), counts)
    matrix = sp.csr_matrix((np.ones(items.size, dtype=np.float32), (users, items)),
                           shape=(n_users, n_items))
    matrix.data[:] = 1.0
    return matrix


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=40_980)
    parser.add_argument("--users", type=int, default=571_355)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--per-user", type=int, default=59)
    parser.add_argument("--runs", type=int, default=5, help="runs projected")
    parser.add_argument("--splits", type=int, default=5, help="splits per run projected")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from hdpmusic.runtime.threads import thread_info

    rng = np.random.default_rng(args.seed)
    device = resolve_device(args.device)
    X = rng.normal(size=(args.items, args.dim)).astype(np.float32)
    interaction = synthetic_interactions(args.users, args.items, args.per_user, rng)

    start, cpu = time.perf_counter(), time.process_time()
    graph = knn_graph(X, 512, device=str(device))
    _sync(device)
    graph_seconds, graph_cpu = time.perf_counter() - start, time.process_time() - cpu

    start, cpu = time.perf_counter(), time.process_time()
    _, config = evaluate_recommendation(interaction, graph, seed=args.seed, n_splits=1,
                                        device=str(device))
    _sync(device)
    split_seconds, split_cpu = time.perf_counter() - start, time.process_time() - cpu
    scored = 6 * config["n_valid_users"] + config["n_test_users"]
    print(json.dumps({
        "benchmark": "recommendation",
        "device": torch.cuda.get_device_name(device) if device.type == "cuda"
        else platform.processor() or "cpu",
        **thread_info(),
        "items": args.items, "users": args.users, "dim": args.dim,
        "interactions": int(interaction.nnz), "valid_users": config["n_valid_users"],
        "test_users": config["n_test_users"],
        "graph_seconds": round(graph_seconds, 2), "graph_cpu_seconds": round(graph_cpu, 2),
        "split_seconds": round(split_seconds, 2), "split_cpu_seconds": round(split_cpu, 2),
        "scored_users_per_s": round(scored / split_seconds, 1),
        "runs": args.runs, "splits": args.splits,
        "projected_hours": round(args.runs * (graph_seconds + args.splits * split_seconds)
                                 / 3600, 2),
        "projected_cpu_hours": round(args.runs * (graph_cpu + args.splits * split_cpu)
                                     / 3600, 2),
    }))


if __name__ == "__main__":
    main()
