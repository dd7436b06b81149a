"""How many unlabelled songs does an HDPGMM representation need? One JSON line per collection.

The learning factor "training corpus size" of the study (its Figure 3), on a collection of
real recordings: one training regime of ``bench_representation.py`` (``--regime``,
default the paper's online schedule at K 256) is fitted without labels on random subsets
of the collection's songs (``--sizes``, shares of the collection; ``--subsets`` subsets
each, subset ``i`` with seed ``--seed + i``) and on all of them (``--subsets`` seeds), every
fit turns **all** songs into representations, and every representation is scored by
stratified group cross-validation over all songs, as in ``bench_representation.py``; G1,
which learns nothing from other songs, is the reference. The subsets of one size are fits
of one model, so each size's CI covers the subsets' variation as well as the songs'.

An online fit makes the same number of updates at every size (``--epochs`` passes over the
whole collection's batches: ``ceil(epochs × batches(all) / batches(subset))`` passes over
a subset), so that size is not confused with the amount of optimisation; a memoized
regime runs to its stopping rule at every size. Prints each size's macro F1 with its 95 %
CI and fits, and its paired differences against G1 and against all songs.

    python benchmarks/bench_corpus_size.py TASK.h5 [TASK.h5 ...] --work DIR
        [--regime online256] [--sizes 0.167,0.5] [--subsets 3] [--cv 5] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import math
import time
import warnings
from pathlib import Path

from bench_representation import COMMON, REGIMES, score


def fit_subsets(task_path: Path, work: Path, regime: str, size: int, subsets: int,
                seed: int, epochs: int) -> list[Path]:
    """Fit (or reuse) the regime on ``subsets`` random subsets of ``size`` songs (all
    songs: ``subsets`` seeds) and write every song's posterior; the representation files."""
    from hdpmusic.formats.corpus import Corpus
    from hdpmusic.formats.representations import Representations
    from hdpmusic.model.hdpgmm import HDPGMM
    from hdpmusic.pipeline.experiment import subset_indices
    from hdpmusic.representations.registry import representation_attrs

    corpus = Corpus.open(task_path)
    n = len(corpus)
    params = {**REGIMES[regime], **COMMON}
    if params["algorithm"] == "online":
        batches = math.ceil(n / params["batch_size"])
        params["max_epochs"] = math.ceil(epochs * batches
                                         / math.ceil(size / params["batch_size"]))
    files = []
    for i in range(subsets):
        stem = work / f"{regime}_n{size}_s{i}"
        model_path, reps_path = stem.with_suffix(".hdp"), stem.with_suffix(".h5")
        if not model_path.exists():
            songs = corpus if size == n else corpus.subset(subset_indices(n, size, seed, i))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = HDPGMM(**params, random_state=seed + i).fit(songs)
            work.mkdir(parents=True, exist_ok=True)
            model.save(model_path)
        if not reps_path.exists():
            model = HDPGMM.load(model_path, device="cpu")
            Representations(corpus.ids, model.transform(corpus, kind="posterior"),
                            representation_attrs("hdpgmm", model, {"kind": "posterior"})
                            ).save(reps_path)
        files.append(reps_path)
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tasks", nargs="+", type=Path, help="genre task corpus files")
    parser.add_argument("--work", type=Path, required=True, help="models and reps folder")
    parser.add_argument("--regime", default="online256", choices=sorted(REGIMES))
    parser.add_argument("--sizes", default="0.167,0.5",
                        help="subset sizes as shares of the collection, comma-separated "
                             "(all songs are always fitted too)")
    parser.add_argument("--subsets", type=int, default=3, help="subsets (fits) per size")
    parser.add_argument("--epochs", type=int, default=10,
                        help="online: passes over the whole collection's batches")
    parser.add_argument("--cv", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--n-iter", type=int, default=6, help="draws of C per search")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from hdpmusic.formats.corpus import Corpus
    from hdpmusic.formats.representations import Representations
    from hdpmusic.formats.taskdata import read_task
    from hdpmusic.representations.registry import model_class, representation_attrs

    for task_path in args.tasks:
        start = time.perf_counter()
        work = args.work / "_".join(task_path.resolve().parts[-3:]).removesuffix(".h5")
        corpus = Corpus.open(task_path)
        n = len(corpus)
        sizes = sorted({max(2, round(float(s) * n)) for s in args.sizes.split(",")} | {n})
        fits = {size: fit_subsets(task_path, work, args.regime, size, args.subsets,
                                  args.seed, args.epochs) for size in sizes}
        g1 = work / "g1.h5"
        if not g1.exists():
            model = model_class("g1")().fit(corpus)
            Representations(corpus.ids, model.transform(corpus),
                            representation_attrs("g1", model, {})).save(g1)
        reps = [{f"n{size}": files[i] for size, files in fits.items()}
                for i in range(args.subsets)]
        reps[0]["g1"] = g1
        summary, paired, _ = score(task_path, reps, cv=args.cv, repeats=args.repeats,
                                   n_iter=args.n_iter, seed=args.seed)
        task = read_task(task_path)
        wanted = {"g1", f"n{n}"}
        print(json.dumps({
            "benchmark": "corpus_size", "collection": str(task_path), "songs": n,
            "groups": None if task.groups is None else len(set(task.groups)),
            "regime": args.regime, "sizes": sizes, "subsets": args.subsets,
            "cv": f"{args.repeats}x{args.cv}-fold", "seconds": round(time.perf_counter()
                                                                    - start, 1),
            "f1_macro": {s["model"]: [round(s["mean"], 4), round(s["ci_low"], 4),
                                      round(s["ci_high"], 4), s["fits"]] for s in summary},
            "paired": {f"{p['model_a']} - {p['model_b']}": [
                round(p["difference"], 4), round(p["ci_low"], 4), round(p["ci_high"], 4),
                round(p["wins_a"], 3)] for p in paired
                if p["model_a"] in wanted or p["model_b"] in wanted},
        }), flush=True)


if __name__ == "__main__":
    main()
