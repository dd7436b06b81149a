"""Throughput of the item-kNN evaluation on a synthetic Echonest-sized problem.

Prints one JSON line: items/s for building the top-k cosine graph and users/s for
scoring users (nDCG@500, consumed items excluded) at the smallest and largest k.
Defaults: 40 000 items × 256 dims, 50 000 users with ≈ 60 interactions each drawn from
a Zipf-like popularity (the scale of the study's filtered Echonest data, whose 571k
users are scored through their 10 % validation and test samples).

    python benchmarks/bench_recommendation.py [--items 40000] [--users 50000] [--device auto]
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
from hdpmusic.evaluation.recommendation import knn_graph, split_users, user_ndcg


def synthetic_interactions(n_users: int, n_items: int, per_user: int,
                           rng: np.random.Generator) -> sp.csr_matrix:
    """Binary users × items matrix, ≈ per_user items per user, Zipf(0.8) popularity."""
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    popularity /= popularity.sum()
    counts = np.maximum(2, rng.poisson(per_user, n_users))
    items = rng.choice(n_items, size=int(counts.sum()), p=popularity)
    users = np.repeat(np.arange(n_users), counts)
    matrix = sp.csr_matrix((np.ones(items.size, dtype=np.float32), (users, items)),
                           shape=(n_users, n_items))
    matrix.data[:] = 1.0
    return matrix


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=40_000)
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--per-user", type=int, default=60)
    parser.add_argument("--k", type=int, default=512)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    device = resolve_device(args.device)
    X = rng.normal(size=(args.items, args.dim)).astype(np.float32)
    interaction = synthetic_interactions(args.users, args.items, args.per_user, rng)

    start = time.perf_counter()
    graph = knn_graph(X, args.k, device=str(device))
    graph_seconds = time.perf_counter() - start

    valid, _ = split_users(interaction, args.seed)
    scoring = {}
    for k in (16, args.k):
        start = time.perf_counter()
        scores = user_ndcg(graph, valid, k, device=str(device))
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        scoring[k] = {"users_per_s": len(valid) / seconds, "seconds": seconds,
                      "mean_ndcg": float(np.mean(scores))}
    print(json.dumps({
        "benchmark": "recommendation",
        "device": torch.cuda.get_device_name(device) if device.type == "cuda"
        else platform.processor() or "cpu",
        "torch_threads": torch.get_num_threads(),
        "items": args.items, "users": args.users, "dim": args.dim, "k": args.k,
        "interactions": int(interaction.nnz), "scored_users": len(valid),
        "graph_items_per_s": args.items / graph_seconds, "graph_seconds": graph_seconds,
        "scoring_users_per_s_k16": scoring[16]["users_per_s"],
        "scoring_users_per_s_kmax": scoring[args.k]["users_per_s"],
        "scoring_seconds_kmax": scoring[args.k]["seconds"],
    }))


if __name__ == "__main__":
    main()
