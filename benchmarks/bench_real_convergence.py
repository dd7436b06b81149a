"""Does the default memoized fit settle on real music, and what does it gain late? One JSON line.

Goal 5 of issue 20: the default memoized fit (``HDPGMM()`` with only ``n_components``
changed) on a real collection of a few hundred songs should stop by itself within 30
passes at K 64 and K 256. For each K this fits the train + valid songs of a task file
(``benchmarks/real_collection.py`` makes one from recorded music), one pass at a time up to
``--cap`` passes, and reports

* ``passes``, ``converged`` and ``seconds`` (the passes' own time, moves included);
* ``merges``: moves accepted over the fit;
* at passes 10, 20, 30 and at the stop: the training ELBO per frame (whitened frames),
  the held-out log predictive density per frame of the test songs (``HDPGMM.score``,
  nats per frame of the features), and ``log_volume``: the frame-weighted mean
  log-determinant of the components' expected covariances (Σ_k N_k log det E[Σ_k] / Σ N_k).

``--early-stopping`` is the model's ``early_stopping``: ``auto`` (the default: on from 100
songs), ``on`` or ``off`` (the full-batch fit to the ELBO rule). Where it is on, a tenth of
the train + valid songs is held out of the fit and the fit also stops once five passes in a
row have not raised their density, then the held-out songs join for one last pass (the last
snapshot is taken after it); ``validation_scores`` lists their density after every pass
before that one. The fits hold out whole groups (tracks) where the task file has them, as
``HDPGMM.fit`` does by default; ``--no-groups`` holds out single songs (``groups=`` the
ids; then the held-out excerpts' siblings are fitted, and their density keeps rising with
the fit's grip on those tracks).

Between two checkpoints, ``tightening`` = −½ Δ ``log_volume`` is the part of the ELBO's
rise per frame that comes from the components' covariances shrinking (the Gaussian
log-likelihood of a component's own frames rises by −½ log det Σ): where it makes most of
the rise while the held-out density hardly moves, the late passes sharpen the partition of
the training frames rather than find structure that generalises.

    python benchmarks/bench_real_convergence.py /work/realmusic/task.h5 --components 64,256
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch

CHECKPOINTS = (10, 20, 30)
#: ``--early-stopping`` values: the model's ``early_stopping``
SWITCH = {"auto": "auto", "on": True, "off": False}


def log_volume(model) -> float:
    """Σ_k N_k log det E[Σ_k] / Σ_k N_k over the components holding frames."""
    counts = model.stats_.N.detach().cpu().numpy()
    live = counts > 0
    _, logdet = np.linalg.slogdet(np.asarray(model.covariances_)[live])
    return float((counts[live] * logdet).sum() / counts[live].sum())


def snapshot(model, test) -> dict:
    return {"pass": len(model.passes_), "elbo": model.passes_[-1]["elbo_per_frame"],
            "heldout_loglik": float(model.score(test)), "log_volume": log_volume(model),
            "components": int(model.n_active_components_)}


def tightening(rows: list[dict]) -> list[dict]:
    """The ELBO's rise between consecutive snapshots and its covariance-volume part."""
    return [{"passes": f"{a['pass']}-{b['pass']}", "elbo_rise": b["elbo"] - a["elbo"],
             "tightening": -0.5 * (b["log_volume"] - a["log_volume"]),
             "heldout_rise": b["heldout_loglik"] - a["heldout_loglik"]}
            for a, b in itertools.pairwise(rows)]


def settle(train, test, K: int, cap: int, seed: int,
           early_stopping: bool | str = "auto", groups: np.ndarray | None = None) -> dict:
    """A default memoized fit (``early_stopping``: the model's parameter; ``groups``: its
    fit's), one pass at a time, with snapshots at the checkpoints."""
    from hdpmusic import HDPGMM

    model = HDPGMM(n_components=K, verbose=False, random_state=seed,
                   early_stopping=early_stopping)
    rows = []
    for passes in range(1, cap + 1):
        model.max_epochs = passes
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")       # the cap is reported below
            model.fit(train, groups=groups, resume=passes > 1)
        if passes in CHECKPOINTS or model.converged_ or passes == cap:
            rows.append(snapshot(model, test))
        if model.converged_:
            break
    out = {"passes": len(model.passes_), "converged": bool(model.converged_),
           "seconds": float(sum(p["seconds"] for p in model.passes_)),
           "merges": int(sum(p["merges"] for p in model.passes_)),
           "snapshots": rows, "windows": tightening(rows)}
    out["early_stopping"] = bool(model.early_stopping_)
    if model.early_stopping_:
        out.update(stopped_early=any(p.get("stopped_early") for p in model.passes_),
                   folded_in=bool(model.passes_[-1].get("folded_in")),
                   validation_scores=[p["validation_score"] for p in model.passes_
                                      if "validation_score" in p])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", type=Path, help="task file with train/valid/test splits")
    parser.add_argument("--components", default="64,256",
                        help="values of K, comma-separated (default: 64,256)")
    parser.add_argument("--cap", type=int, default=60, help="most passes (default: 60)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    parser.add_argument("--seed", type=int, default=0, help="random_state (default: 0)")
    parser.add_argument("--early-stopping", choices=list(SWITCH), default="auto",
                        help="the model's early_stopping (default: auto)")
    parser.add_argument("--groups", action=argparse.BooleanOptionalAction, default=True,
                        help="hold out whole groups where the task file has them, as "
                             "hdpmusic fit does (default; --no-groups: single songs)")
    args = parser.parse_args()
    from hdpmusic.formats.corpus import Corpus
    from hdpmusic.formats.taskdata import corpus_groups, songs_in_splits

    torch.set_num_threads(args.threads)
    corpus = Corpus.open(args.task)
    train = songs_in_splits(corpus, ["train", "valid"])
    test = songs_in_splits(corpus, ["test"])
    # None: the model reads the file's groups itself; the ids: every song its own group
    groups = None if args.groups else np.asarray(train.ids)
    units = corpus_groups(train) if args.groups else None
    start = time.perf_counter()
    fits = {f"K{K}": settle(train, test, int(K), args.cap, args.seed,
                              SWITCH[args.early_stopping], groups)
            for K in args.components.split(",")}
    print(json.dumps({"task": str(args.task), "early_stopping": args.early_stopping,
                      "groups": None if units is None else len(np.unique(units)),
                      "train_songs": len(train),
                      "test_songs": len(test), "train_frames": int(train.n_frames),
                      "threads": args.threads, "cap": args.cap, "fits": fits,
                      "wall_seconds": time.perf_counter() - start}))


if __name__ == "__main__":
    main()
