"""Convergence of HDPGMM inference against planted truth and scikit-learn; one JSON line.

A planted corpus (``hdpmusic.datasets.synthetic.planted_hdp``: 20 well-separated components in
d = 8, geometric corpus weights, 3–5 components a song, 150–300 frames a song; 300
training and 100 held-out songs) is fitted with K = 64, T = 16, batch 100, η0 = 0 by

* ``online``: the paper's stochastic VI (κ 0.6, τ0 64),
* ``memoized``: memoized VI without moves,
* ``memoized_moves``: memoized VI with reorder/merge/delete moves (the default),
* ``sklearn``: scikit-learn's ``BayesianGaussianMixture`` (Dirichlet process, full
  covariances, K 64) on the pooled training frames,

and measured after 1, 5, 10 and 30 passes (EM iterations for scikit-learn): adjusted Rand
index of the held-out frames' components against the truth, components holding > 1 % of
the weight (truth at seed 0: 17 of the 20 planted hold > 1 % of the training frames; the
geometric weights leave three at 0.84–0.87 %), held-out mean log predictive density per
frame (scikit-learn: its ``score``, a plug-in density), the ELBO per frame of the whitened frames
(scikit-learn: its ``lower_bound_``, a total up to a constant in other units: compare it
along its own curve only) and seconds per pass (the curves with early stopping off, every
pass on all training songs). ``to_convergence`` runs each memoized fit (default settings:
early stopping on, 300 songs being over 100; ``early_stopping`` and ``folded_in`` say what
ended it) and scikit-learn (``max_iter`` 500, its default ``tol``) until they stop by
themselves. ``--updates-batches 20,100`` adds ``online_by_updates``: the online schedule at
each batch size after 30, 90, 300 and 900 updates (the same figures, with ``total_step``,
Σρ_t, the schedule's total weight of new information): whether the online fit's distance
from its initialisation is set by its updates rather than its passes.
``--local-kernels compiled`` fits with the local step fused by ``torch.compile``; a
two-pass fit first pays the compilation (``compile_warmup_s``), so that the figures are
those of a process that has compiled. ``--min-bucket-frames 0`` fits with the length
buckets of a CPU on any device (the default, ``auto``, fills a GPU's buckets to 2²⁶ / K
frames: issue 20, goal 3).

    python benchmarks/bench_convergence.py --device cpu [--updates-batches 20,100]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import BayesianGaussianMixture

from hdpmusic import HDPGMM
from hdpmusic.datasets.synthetic import planted_hdp
from hdpmusic.model.initial import INITIAL_LABELS
from hdpmusic.model.online import total_step

CHECKPOINTS = (1, 5, 10, 30)
#: online updates after which ``--updates-batches`` reports (whole passes at batch 20 or 100)
UPDATES = (30, 90, 300, 900)
MODEL = dict(n_components=64, n_song_components=16, batch_size=100, eta0=0.0, verbose=False)
FITS = {"online": dict(algorithm="online"),
        "memoized": dict(algorithm="memoized", moves=False),
        "memoized_moves": dict(algorithm="memoized", moves=True)}


def used(weights: np.ndarray) -> int:
    return int((weights > 0.01).sum())


def hdpgmm_curve(train, test, truth, params: dict, device: str, seed: int,
                 checkpoints=CHECKPOINTS) -> dict:
    """Figures at each checkpoint (passes) of one fit, continued pass by pass."""
    model = HDPGMM(**{**MODEL, **params}, tol=0.0, early_stopping=False, device=device,
                   random_state=seed)
    curve, done = {}, 0
    for passes in checkpoints:
        model.max_epochs = passes
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            model.fit(train, resume=done > 0)
        done = passes
        curve[passes] = {
            "ari": adjusted_rand_score(truth, model.predict(np.concatenate(test))),
            "components": used(model.weights_),
            "heldout_loglik": model.score(test),
            "elbo": model.passes_[-1]["elbo_per_frame"],
            "s_per_pass": float(np.mean([p["seconds"] for p in model.passes_])),
            "updates": model.n_steps_,
        }
    return curve


def online_by_updates(train, test, truth, batch: int, device: str, seed: int) -> dict:
    """The online schedule's figures after each count of ``UPDATES`` at one batch size,
    with its total step Σρ_t: {updates: figures}."""
    per_pass = -(-len(train) // batch)
    curve = hdpgmm_curve(train, test, truth, {**FITS["online"], "batch_size": batch}, device,
                         seed, checkpoints=[u // per_pass for u in UPDATES])
    schedule = HDPGMM()                          # the fits' step size: the defaults
    return {str(f["updates"]): {**f, "total_step": total_step(
                0, f["updates"], tau0=schedule.tau0, kappa=schedule.kappa)}
            for f in curve.values()}


def hdpgmm_converged(train, test, truth, params: dict, device: str, seed: int) -> dict:
    model = HDPGMM(**MODEL, **params, max_epochs=200, device=device, random_state=seed)
    t0 = time.perf_counter()
    model.fit(train)
    return {"seconds": time.perf_counter() - t0, "passes": len(model.passes_),
            "converged": model.converged_, "early_stopping": model.early_stopping_,
            "stopped_early": any(p.get("stopped_early") for p in model.passes_),
            "folded_in": bool(model.passes_[-1].get("folded_in")),
            "ari": adjusted_rand_score(truth, model.predict(np.concatenate(test))),
            "components": used(model.weights_), "heldout_loglik": model.score(test)}


def sklearn_curve(frames, test_frames, truth, seed: int) -> dict:
    bgm = BayesianGaussianMixture(n_components=64, covariance_type="full",
                                  weight_concentration_prior_type="dirichlet_process",
                                  warm_start=True, random_state=seed)
    curve, done, seconds = {}, 0, 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for passes in CHECKPOINTS:
            bgm.max_iter = passes - done
            t0 = time.perf_counter()
            bgm.fit(frames)
            seconds += time.perf_counter() - t0
            done = passes
            curve[passes] = {"ari": adjusted_rand_score(truth, bgm.predict(test_frames)),
                             "components": used(bgm.weights_),
                             "heldout_loglik": float(bgm.score(test_frames)),
                             "elbo": float(bgm.lower_bound_), "s_per_pass": seconds / passes}
    return curve


def sklearn_converged(frames, test_frames, truth, seed: int) -> dict:
    bgm = BayesianGaussianMixture(n_components=64, covariance_type="full",
                                  weight_concentration_prior_type="dirichlet_process",
                                  max_iter=500, random_state=seed)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        bgm.fit(frames)
    return {"seconds": time.perf_counter() - t0, "passes": int(bgm.n_iter_),
            "converged": bool(bgm.converged_),
            "ari": adjusted_rand_score(truth, bgm.predict(test_frames)),
            "components": used(bgm.weights_), "heldout_loglik": float(bgm.score(test_frames))}


def bucket_frames(value: str) -> int | str:
    """``--min-bucket-frames``: ``auto`` or a number of frames."""
    return value if value == "auto" else int(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--init", choices=list(INITIAL_LABELS), default=None,
                        help="HDPGMM's initialisation (default: the model's)")
    parser.add_argument("--local-kernels", choices=["eager", "compiled"], default="eager",
                        help="HDPGMM's local_kernels (default: eager)")
    parser.add_argument("--min-bucket-frames", type=bucket_frames, default="auto",
                        help="HDPGMM's min_bucket_frames: an int or auto (default: auto)")
    parser.add_argument("--skip-curves", action="store_true",
                        help="only the to-convergence figures")
    parser.add_argument("--skip-sklearn", action="store_true",
                        help="no scikit-learn reference (the HDPGMM fits' speed alone)")
    parser.add_argument("--updates-batches", default="",
                        help="comma-separated batch sizes: the online schedule after "
                             f"{', '.join(map(str, UPDATES))} updates at each (default: none)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.init is not None:
        MODEL["init"] = args.init
    MODEL["local_kernels"] = args.local_kernels
    MODEL["min_bucket_frames"] = args.min_bucket_frames
    corpus = planted_hdp(seed=args.seed, songs=400)
    train, test = corpus.songs[:300], corpus.songs[300:]
    truth = np.concatenate(corpus.labels[300:])
    frames, test_frames = np.concatenate(train), np.concatenate(test)
    out: dict = {"device": args.device, "init": MODEL.get("init", HDPGMM().init),
                 "local_kernels": args.local_kernels,
                 "min_bucket_frames": args.min_bucket_frames,
                 "train_frames": len(frames), "true_components": len(corpus.weights)}
    if args.local_kernels == "compiled":
        t0 = time.perf_counter()
        with warnings.catch_warnings():          # two passes: it has not converged
            warnings.simplefilter("ignore", ConvergenceWarning)
            HDPGMM(**MODEL, max_epochs=2, device=args.device).fit(train)
        out["compile_warmup_s"] = time.perf_counter() - t0
    if not args.skip_curves:
        out["curves"] = {name: hdpgmm_curve(train, test, truth, params, args.device, args.seed)
                         for name, params in FITS.items()}
        if not args.skip_sklearn:
            out["curves"]["sklearn"] = sklearn_curve(frames, test_frames, truth, args.seed)
    conv = out["to_convergence"] = {
        name: hdpgmm_converged(train, test, truth, FITS[name], args.device, args.seed)
        for name in ("memoized_moves", "memoized")}
    if not args.skip_sklearn:
        conv["sklearn"] = sklearn_converged(frames, test_frames, truth, args.seed)
        out["time_ratio_memoized_moves_to_sklearn"] = (conv["memoized_moves"]["seconds"]
                                                       / conv["sklearn"]["seconds"])
    out["online_by_updates"] = {
        b: online_by_updates(train, test, truth, int(b), args.device, args.seed)
        for b in args.updates_batches.split(",") if b}
    print(json.dumps(out, default=float))


if __name__ == "__main__":
    main()
