"""``hdpmusic experiment compare | sweep``: the study's experiment grids end to end.

``compare`` reproduces Table 3 (every frame model fitted on a training corpus, once or
``--fits`` times, and scored on every task); ``sweep`` the learning-factor study (HDPGMM
per η0 on the full corpus, and η0 = 0.1 on random training subsets, each ``--fits``
times; the subsets of one size are fits of one model). Both write into one
directory and reuse the files already there, so a rerun resumes the grid (see
:mod:`hdpmusic.pipeline.experiment`).
"""

from __future__ import annotations

import argparse
import sys

from hdpmusic.cli._types import positive_int, seed, unit_share
from hdpmusic.pipeline.experiment import compare, parse_floats, parse_subsets, sweep
from hdpmusic.runtime.errors import ParameterError


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--train", required=True, help="training corpus .h5")
    p.add_argument("--task", dest="tasks", action="append", required=True,
                   help="task corpus .h5 holding frames and annotations (repeatable)")
    p.add_argument("--out", default="experiment", help="output directory")
    p.add_argument("--runs", type=positive_int, default=5, help="evaluation runs")
    p.add_argument("--seed", type=seed, default=0, help="seed of fits, subsets and runs")
    p.add_argument("--fits", type=positive_int, default=1,
                   help="fits of every seeded model (compare: hdpgmm, vq, ...; sweep: every "
                        "η0 and subset), with seeds --seed, --seed + 1, ...: the intervals "
                        "then cover how the fits vary")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    p.add_argument("--n-iter", type=positive_int, default=None,
                   help="randomized-search draws (default 64 genre, 32 tagging)")
    p.add_argument("--n-splits", type=positive_int, default=5,
                   help="recommendation: user splits averaged per run, as in the study")
    g = p.add_argument_group("HDPGMM (defaults: the paper's)")
    g.add_argument("--n-components", type=positive_int, default=None, help="K (default: 256)")
    g.add_argument("--n-song-components", type=positive_int, default=None, help="T (default: 32)")
    g.add_argument("--batch-size", type=positive_int, default=None,
                   help="songs per update (default: 1024)")
    g.add_argument("--epochs", type=positive_int, default=None, help="passes (default: 100)")
    g.add_argument("--local-max-iter", type=positive_int, default=None,
                   help="local-step iterations (default: 100)")
    g.add_argument("--algorithm", choices=["online", "memoized"], default=None,
                   help="online: the paper's stochastic VI (default, to reproduce its "
                        "tables); memoized: memoized VI with merge/delete moves")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "experiment", help="run the study's experiment grids (Table 3, η0/size sweep)",
        description="Fit, transform, evaluate and report a grid of models in one output "
                    "directory; files already there are reused, so a rerun resumes.")
    sub = p.add_subparsers(dest="experiment", metavar="{compare,sweep}", required=True)
    c = sub.add_parser("compare", help="Table 3: models x tasks",
                       description="Fit each model on --train (--fits times), transform "
                                   "every task corpus, evaluate, write results and the "
                                   "report. Audio "
                                   "models (kim, clmr) read the songs' audio (--audio-root, "
                                   "or where `hdpmusic extract` read it); a training corpus "
                                   "without either skips them with a note.")
    _common(c)
    c.add_argument("--models", default="hdpgmm,g1,vq",
                   help="comma-separated registry names")
    c.add_argument("--eta0", type=unit_share, default=None,
                   help="HDPGMM splash regulariser (default: 0.1)")
    c.add_argument("--vq-clusters", type=positive_int, default=None,
                   help="VQ codebook size (default: 256)")
    c.add_argument("--audio-root", default=None,
                   help="audio of the songs for kim and clmr: a folder the ids are "
                        "relative paths in, or a list file (default: what `hdpmusic "
                        "extract` recorded in each corpus; without either they are skipped)")
    c.set_defaults(func=run_compare)
    s = sub.add_parser("sweep", help="Figure 3: HDPGMM per η0 and training-set size",
                       description="HDPGMM per η0 on the full training corpus and, with "
                                   "--subset-eta0, on random subsets of it.")
    _common(s)
    s.add_argument("--eta0", default="1e-4,1e-3,1e-2,1e-1",
                   help="comma-separated η0 values on the full corpus")
    s.add_argument("--subsets", default="2000x5,20000x5",
                   help="SIZExCOUNT random training subsets, comma-separated ('' for none)")
    s.add_argument("--subset-eta0", type=unit_share, default=0.1, help="η0 of the subsets")
    s.set_defaults(func=run_sweep)


def _hdpgmm(args: argparse.Namespace) -> dict:
    return {"n_components": args.n_components, "n_song_components": args.n_song_components,
            "batch_size": args.batch_size, "max_epochs": args.epochs,
            "local_max_iter": args.local_max_iter, "algorithm": args.algorithm}


def _log(args: argparse.Namespace):
    def log(msg: str) -> None:
        stream = sys.stderr if msg.startswith("note:") else sys.stdout
        if not args.quiet or stream is sys.stderr:
            print(msg, file=stream)
    return log


def _print_summary(results) -> None:
    from hdpmusic.evaluation.protocol import format_summary, summarise
    from hdpmusic.report import relabel

    print(format_summary(summarise(relabel(results))))


def run_compare(args: argparse.Namespace) -> int:
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if not models:
        raise ParameterError("--models names no model")
    results = compare(args.train, args.tasks, args.out, models=models, runs=args.runs,
                      seed=args.seed, device=args.device,
                      params={"hdpgmm": {**_hdpgmm(args), "eta0": args.eta0},
                              "vq": {"n_clusters": args.vq_clusters}},
                      audio_root=args.audio_root, n_iter=args.n_iter,
                      n_splits=args.n_splits, verbose=not args.quiet, log=_log(args),
                      fits=args.fits)
    _print_summary(results)
    return 0


def run_sweep(args: argparse.Namespace) -> int:
    results = sweep(args.train, args.tasks, args.out, eta0s=parse_floats(args.eta0),
                    subsets=parse_subsets(args.subsets), subset_eta0=args.subset_eta0,
                    runs=args.runs, seed=args.seed, device=args.device,
                    hdpgmm=_hdpgmm(args), n_iter=args.n_iter, n_splits=args.n_splits,
                    verbose=not args.quiet, fits=args.fits, log=_log(args))
    _print_summary(results)
    return 0
