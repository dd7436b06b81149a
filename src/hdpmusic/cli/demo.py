"""``hdpmusic demo``: the whole study in miniature on an offline demo collection."""

from __future__ import annotations

import argparse

from hdpmusic.cli._options import add_jobs
from hdpmusic.cli._types import seed
from hdpmusic.pipeline.demo import run_demo


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo", help="run the whole study offline on a small rendered music collection",
        description="Render excerpts of real compositions from music21's bundled corpus "
                    "(composer or collection as genre, tags from the scores, a simulated "
                    "listening log), extract features, fit HDPGMM, G1 and VQ (KIM and CLMR "
                    "with --deep), evaluate genre classification, tagging and "
                    "recommendation over several runs, and write a report. A second run "
                    "reuses everything already made.")
    p.add_argument("--out", default="hdpmusic-demo",
                   help="output folder")
    p.add_argument("--quick", action="store_true",
                   help="a smaller run: 4 classes x 10 excerpts and smaller fits")
    p.add_argument("--deep", action="store_true",
                   help="also train KIM and CLMR (short CPU training; better on a GPU)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    p.add_argument("--seed", type=seed, default=0, help="seed of the collection, fits, runs")
    add_jobs(p, "processes for rendering and extraction")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hdpmusic.evaluation.protocol import (
        format_paired,
        format_summary,
        model_distributions,
        paired_differences,
        summarise,
    )

    def log(msg: str) -> None:
        if not args.quiet or msg.startswith("note:"):
            print(msg, flush=True)

    outcome = run_demo(args.out, quick=args.quick, deep=args.deep, device=args.device,
                       seed=args.seed, jobs=args.jobs, progress=not args.quiet, log=log)
    print()
    print(f"hdpmusic demo: {outcome.n_songs} songs, classes {', '.join(outcome.classes)}")
    distributions = model_distributions(outcome.results)
    print(format_summary(summarise(outcome.results, distributions=distributions)))
    print("chance: the expected score of an uninformed predictor on the same test data "
          "(uniform guesses, random scores, random rankings)")
    print()
    print(format_paired(paired_differences(outcome.results, distributions=distributions)))
    print()
    print("HDPGMM's most loaded components and their most enriched tags:")
    print(outcome.components, end="")
    print(f"report: {outcome.report}")
    return 0
