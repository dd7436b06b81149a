"""Which HDPGMM representation, from which training regime, beats G1 and VQ — with CIs.

For every genre task file given (a corpus with ``targets``, and ``groups`` where the
collection has them, e.g. the demo's ``tasks/genre.h5`` or a ``hdpmusic prepare table``
corpus), the models are fitted without labels on all its songs, each HDPGMM regime is
turned into every representation kind, and every representation is scored by repeated
stratified group K-fold cross-validation (``evaluate(..., cv=K)``: every song scored once
per repeat, C chosen by an inner group CV on the training folds). Prints one JSON line
per collection: songs, classes, groups, each representation's macro F1 with its 95 %
bootstrap CI (whole groups resampled), and the paired differences (CI, share of resamples
won) of every HDPGMM representation against G1 and the VQ codebooks, and of the kinds of
one HDPGMM fit against each other.

Regimes (``--regimes``, names below): memoized VI to convergence (early stopping off: the
full-batch optimum) with or without the splash (η0 0 / 0.1) or started from the k-means++
seeding alone instead of k-means (``-seeded``) or stopped early on a held-out tenth of the
songs (``-early``, what the default ``early_stopping="auto"`` does from 100 songs; whole
groups where the task file has them, single songs in runs before 2026-12-07), the paper's
online schedule (κ 0.6, τ0 64, η0 0.1, or η0 0; batches of 32 songs, 10 epochs, or 50
with ``-long``; ``-b1024``: the paper's batch of 1024, one update a pass here), at
K 64 (T 16) and K 256 (T 32). Fitted models and representations are kept under
``--work`` and reused by a rerun.

With ``--fit-seeds 0,1,2`` every seeded model (the HDPGMM regimes and VQ; G1 has no
seed) is fitted once per seed (under ``--work``/``seed<N>``), all fits are scored with the
same protocol seed (``--seed``: the same folds and draws of C), and each model's fits
enter the summary as fits of one model (``evaluate(..., fit=k)``): its CI and paired
differences then cover the fit-to-fit variation as well as the songs' (a two-level
bootstrap); ``fits`` in the output says how many.

    python benchmarks/bench_representation.py TASK.h5 [TASK.h5 ...] --work DIR
        [--regimes memo64,online64,...] [--kinds posterior,fisher,...] [--cv 5]
        [--repeats 3] [--n-iter 8] [--fit-seeds 0,1,2] [--every-pair]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

#: training regimes: HDPGMM parameters (the demo's local settings)
REGIMES: dict[str, dict[str, Any]] = {
    "memo64": {"n_components": 64, "n_song_components": 16, "algorithm": "memoized",
               "eta0": 0.0, "max_epochs": 60, "early_stopping": False},
    "memo64-seeded": {"n_components": 64, "n_song_components": 16, "algorithm": "memoized",
                      "eta0": 0.0, "max_epochs": 60, "init": "kmeans++",
                      "early_stopping": False},
    "memo64-early": {"n_components": 64, "n_song_components": 16, "algorithm": "memoized",
                     "eta0": 0.0, "max_epochs": 60, "early_stopping": True},
    "memo64-splash": {"n_components": 64, "n_song_components": 16, "algorithm": "memoized",
                      "eta0": 0.1, "max_epochs": 60, "early_stopping": False},
    "online64": {"n_components": 64, "n_song_components": 16, "algorithm": "online",
                 "eta0": 0.1, "max_epochs": 10},
    "online64-seeded": {"n_components": 64, "n_song_components": 16, "algorithm": "online",
                        "eta0": 0.1, "max_epochs": 10, "init": "kmeans++"},
    "online64-nosplash": {"n_components": 64, "n_song_components": 16,
                          "algorithm": "online", "eta0": 0.0, "max_epochs": 10},
    "memo256": {"n_components": 256, "n_song_components": 32, "algorithm": "memoized",
                "eta0": 0.0, "max_epochs": 40, "early_stopping": False},
    "online256": {"n_components": 256, "n_song_components": 32, "algorithm": "online",
                  "eta0": 0.1, "max_epochs": 10},
    "online256-seeded": {"n_components": 256, "n_song_components": 32, "algorithm": "online",
                         "eta0": 0.1, "max_epochs": 10, "init": "kmeans++"},
    "online256-long": {"n_components": 256, "n_song_components": 32, "algorithm": "online",
                       "eta0": 0.1, "max_epochs": 50},
    "online256-b1024": {"n_components": 256, "n_song_components": 32, "algorithm": "online",
                        "eta0": 0.1, "max_epochs": 10, "batch_size": 1024},
}
#: every regime's settings unless it sets its own
COMMON = {"batch_size": 32, "local_max_iter": 50, "device": "cpu", "verbose": False}
#: representation kinds: (kind, min_weight)
KINDS: dict[str, tuple[str, float]] = {
    "posterior": ("posterior", 0.0),
    "responsibility": ("responsibility", 0.0),
    "fisher": ("fisher", 0.0),
    "fisher-mean": ("fisher-mean", 0.0),
    "fisher-w1%": ("fisher", 0.01),
}
#: baselines: registry name and parameters
BASELINES: dict[str, tuple[str, dict[str, Any]]] = {
    "g1": ("g1", {}),
    "vq64": ("vq", {"n_clusters": 64, "verbose": False}),
    "vq256": ("vq", {"n_clusters": 256, "verbose": False}),
}
#: baselines without a seed: one fit whatever the seeds
UNSEEDED = ("g1",)


def fit_all(corpus_path: Path, work: Path, regimes: list[str], seed: int,
            unseeded: bool = True) -> dict[str, tuple[str, Path, float]]:
    """Fit (or reuse) every model (``unseeded``: the baselines without a seed too);
    ``label → (registry name, model file, fit seconds)``."""
    from hdpmusic.formats.corpus import Corpus
    from hdpmusic.representations.registry import model_class

    corpus = Corpus.open(corpus_path)
    plan = {f"hdpgmm-{r}": ("hdpgmm", {**COMMON, **REGIMES[r], "random_state": seed})
            for r in regimes}
    plan.update({name: (model, params if name in UNSEEDED else {**params, "random_state": seed})
                 for name, (model, params) in BASELINES.items()
                 if unseeded or name not in UNSEEDED})
    out = {}
    for label, (name, params) in plan.items():
        path = work / "models" / f"{label}.ckpt"
        seconds = float("nan")
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")       # capped fits are recorded below
                model = model_class(name)(**params).fit(corpus)
            seconds = time.perf_counter() - start
            model.save(path)
        out[label] = (name, path, seconds)
    return out


def representations(models: dict[str, tuple[str, Path, float]], corpus_path: Path,
                    work: Path, kinds: list[str]) -> dict[str, Path]:
    """Write (or reuse, unless made with other transform attributes, such as an earlier
    revision of its kind) every representation file; ``label → file``."""
    from hdpmusic.formats.corpus import Corpus
    from hdpmusic.formats.representations import Representations, read_attrs
    from hdpmusic.pipeline.experiment import stale_attribute
    from hdpmusic.representations.registry import load_model, representation_attrs

    corpus = Corpus.open(corpus_path)
    out = {}
    for label, (_, path, _) in models.items():
        name, model = load_model(path)
        variants = ({f"{label}:{k}": dict(zip(("kind", "min_weight"), KINDS[k], strict=True))
                     for k in kinds} if name == "hdpgmm" else {label: {}})
        for rep_label, options in variants.items():
            file = work / "reps" / f"{rep_label.replace(':', '_')}.h5"
            attrs = representation_attrs(name, model, options)
            if not file.exists() or stale_attribute(read_attrs(file), attrs) is not None:
                file.parent.mkdir(parents=True, exist_ok=True)
                X = model.transform(corpus, **options)
                Representations(corpus.ids, X, attrs).save(file)
            out[rep_label] = file
    return out


def model_facts(models: dict[str, tuple[str, Path, float]]) -> dict[str, dict[str, Any]]:
    """Passes, convergence and live components of each HDPGMM fit."""
    from hdpmusic.representations.registry import load_model

    facts = {}
    for label, (name, path, seconds) in models.items():
        if name != "hdpgmm":
            continue
        _, model = load_model(path)
        facts[label] = {"passes": len(model.passes_), "converged": bool(model.converged_),
                        "live": int(model.song_components().size),
                        "n_effective": round(float(model.passes_[-1]["n_effective"]), 1),
                        "fit_seconds": None if np.isnan(seconds) else round(seconds, 1)}
    return facts


def score(task_path: Path, reps: list[dict[str, Path]], *, cv: int, repeats: int,
          n_iter: int, seed: int) -> tuple[list[dict], list[dict], dict[str, int]]:
    """Summary rows, paired rows and each representation's dimension; ``reps``: the
    representations of each fit seed (a label in several: fits of one model)."""
    from hdpmusic.evaluation.protocol import evaluate
    from hdpmusic.evaluation.summary import model_distributions, paired_differences, summarise
    from hdpmusic.formats.representations import Representations
    from hdpmusic.formats.taskdata import read_task

    task = read_task(task_path)
    results, dims = [], {}
    for k, fit_reps in enumerate(reps):
        for label, file in fit_reps.items():
            r = Representations.load(file)
            dims[label] = int(r.X.shape[1])
            results += evaluate(task, r, task_kind="genre", runs=1, seed=seed,
                                progress=False, model=label, n_iter=n_iter, cv=cv,
                                cv_repeats=repeats, device="cpu",
                                fit=k if len(reps) > 1 else None)
    dist = model_distributions(results, seed=seed)
    return summarise(results, distributions=dist), paired_differences(
        results, distributions=dist), dims


def compared(pair: dict[str, Any], baselines: list[str], every: bool = False) -> bool:
    """The pairs printed: every HDPGMM representation against every baseline, two kinds
    of one HDPGMM fit against each other (``hdpgmm-memo64:fisher`` against
    ``hdpgmm-memo64:posterior``), and one kind from two regimes (``hdpgmm-memo64-early:
    posterior`` against ``hdpgmm-memo64:posterior``); ``every``: any two HDPGMM
    representations too (``hdpgmm-memo64:fisher`` against ``hdpgmm-online256:posterior``)."""
    a, b = pair["model_a"], pair["model_b"]
    if not a.startswith("hdpgmm"):
        return False
    fit_a, _, kind_a = a.partition(":")
    fit_b, _, kind_b = b.partition(":")
    return b in baselines or fit_a == fit_b or kind_a == kind_b or every


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tasks", nargs="+", type=Path, help="genre task corpus files")
    parser.add_argument("--work", type=Path, required=True, help="models and reps folder")
    parser.add_argument("--regimes", default=",".join(REGIMES))
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--cv", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n-iter", type=int, default=8, help="draws of C per search")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the protocol, and of the fits without --fit-seeds")
    parser.add_argument("--fit-seeds", default=None,
                        help="fit every seeded model once per seed, comma-separated")
    parser.add_argument("--every-pair", action="store_true",
                        help="print the difference of every two HDPGMM representations")
    args = parser.parse_args()
    regimes, kinds = args.regimes.split(","), args.kinds.split(",")
    fit_seeds = [args.seed] if args.fit_seeds is None else \
        [int(s) for s in args.fit_seeds.split(",")]
    for task_path in args.tasks:
        from hdpmusic.formats.taskdata import read_task

        name = "_".join(task_path.resolve().parts[-3:]).removesuffix(".h5")
        start = time.perf_counter()
        models, reps = {}, []
        for k, fit_seed in enumerate(fit_seeds):
            work = args.work / name if args.fit_seeds is None else \
                args.work / f"seed{fit_seed}" / name
            fitted = fit_all(task_path, work, regimes, fit_seed, unseeded=k == 0)
            models.update({f"{label}@{fit_seed}" if args.fit_seeds else label: fit
                           for label, fit in fitted.items()})
            reps.append(representations(fitted, task_path, work, kinds))
        summary, paired, dims = score(task_path, reps, cv=args.cv, repeats=args.repeats,
                                      n_iter=args.n_iter, seed=args.seed)
        task = read_task(task_path)
        baselines = [b for b in reps[0] if b in BASELINES]
        print(json.dumps({
            "benchmark": "representation", "collection": str(task_path),
            "songs": len(task.ids), "classes": len(set(task.targets)),
            "groups": None if task.groups is None else len(set(task.groups)),
            "cv": f"{args.repeats}x{args.cv}-fold", "n_iter": args.n_iter,
            "fit_seeds": fit_seeds,
            "seconds": round(time.perf_counter() - start, 1),
            "models": model_facts(models),
            "f1_macro": {s["model"]: [round(s["mean"], 4), round(s["ci_low"], 4),
                                      round(s["ci_high"], 4), dims[s["model"]], s["fits"]]
                         for s in summary},
            "paired": {f"{p['model_a']} - {p['model_b']}": [
                round(p["difference"], 4), round(p["ci_low"], 4), round(p["ci_high"], 4),
                round(p["wins_a"], 3)] for p in paired if compared(p, baselines, args.every_pair)},
        }), flush=True)


if __name__ == "__main__":
    main()
