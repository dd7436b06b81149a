"""``hdpmusic report``: tables, plots and an HTML/markdown report from results."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "report", help="tables and plots from results files (and model files)",
        description="Write report.md and report.html with the main table (models × tasks, "
                    "mean ± SD, best per task in bold), per-task score plots, learning-"
                    "factor plots (η0, corpus size) when the results record them, and the "
                    "ELBO, active-component and weight plots of the given HDPGMM models.")
    p.add_argument("results", nargs="*",
                   help="results.json files or directories holding them")
    p.add_argument("--models", nargs="+", default=[], metavar="MODEL",
                   help="HDPGMM model files whose training traces are plotted")
    p.add_argument("--out", required=True, help="report directory")
    p.add_argument("--title", default="hdpmusic report",
                   help="title of the report (default 'hdpmusic report')")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hdpmusic.report import write_report

    md, html = write_report(args.results, args.out, model_paths=args.models,
                            title=args.title)
    print(f"wrote {md} and {html}")
    return 0
