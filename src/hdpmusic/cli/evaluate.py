"""``hdpmusic evaluate TASK REPS [REPS ...]``: score representation files on a task."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="score representations on a downstream task",
        description="Score representation files on the task stored in a corpus file "
                    "(genre: macro F1, tagging: macro ROC-AUC, recommendation: nDCG@500); "
                    "writes results.json and results.csv and prints mean ± SD per model.")
    parser.add_argument("task", help="corpus file (.h5) holding the task annotations")
    parser.add_argument("reps", nargs="+", help="representation files (.h5 or .npz)")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--runs", type=int, default=5, help="runs per model (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    parser.add_argument("--task", dest="task_kind",
                        choices=("genre", "tagging", "recommendation"),
                        help="task kind (default: every kind of annotations in the file)")
    parser.add_argument("--name", dest="names", action="append", default=None,
                        metavar="NAME",
                        help="label of a model in the results, once per representation "
                             "file in order (default: the file name without extension)")
    parser.add_argument("--device", default="auto", help="torch device (default auto)")
    parser.add_argument("--log", action="store_true",
                        help="use log(max(x, 2.2e-15)) of the representations")
    parser.add_argument("--n-iter", type=int, default=None,
                        help="randomized-search draws (default 64 genre, 32 tagging)")
    parser.add_argument("--keep-consumed", action="store_true",
                        help="recommendation: keep consumed items in the ranking (study)")
    parser.add_argument("--n-splits", type=int, default=5,
                        help="recommendation: user splits averaged per run (default 5, "
                             "as the study)")
    parser.add_argument("--tags", default=None,
                        help="tagging: file with the tags to score, one per line")
    parser.set_defaults(func=run_evaluate)


def model_labels(paths: Sequence[str], names: Sequence[str] | None = None) -> list[str]:
    """A results label per representation file: its name from ``names``, else the file
    name without extension (the whole path when two files share a name)."""
    from hdpmusic.errors import ParameterError

    if names is not None:
        if len(names) != len(paths):
            raise ParameterError(f"--name given {len(names)} times for {len(paths)} "
                                 "representation files; give one per file, in order")
        labels = list(names)
    else:
        labels = [Path(p).stem for p in paths]
        if len(set(labels)) < len(labels):
            labels = [str(p) for p in paths]
    if len(set(labels)) < len(labels):
        raise ParameterError(f"model names repeat: {', '.join(labels)}")
    return labels


def _read_tags(path: str) -> list[str]:
    from hdpmusic.errors import DataError

    try:
        lines = Path(path).read_text().splitlines()
    except OSError as err:
        raise DataError(f"cannot read tag list {path}: {err}") from err
    return [line.strip() for line in lines if line.strip()]


def run_evaluate(args: argparse.Namespace) -> int:
    from hdpmusic.evaluation.protocol import (
        evaluate,
        format_summary,
        split_warnings,
        summarise,
        write_results,
    )
    from hdpmusic.representations import Representations
    from hdpmusic.taskdata import read_task

    task = read_task(args.task)
    labels = model_labels(args.reps, args.names)
    reps = [Representations.load(p) for p in args.reps]
    tags = None if args.tags is None else _read_tags(args.tags)
    for message in split_warnings(task, args.task_kind, tags):
        logging.getLogger(__name__).warning("warning: %s: %s", args.task, message)
    kinds = [args.task_kind] if args.task_kind is not None else list(task.kinds) or [None]
    results = []
    for r, label in zip(reps, labels, strict=True):
        for kind in kinds:
            results += evaluate(task, r, task_kind=kind, runs=args.runs, seed=args.seed,
                                device=args.device, progress=not args.quiet, log=args.log,
                                model=label, n_iter=args.n_iter,
                                keep_consumed=args.keep_consumed, tags=tags,
                                n_splits=args.n_splits)
    json_path, csv_path = write_results(results, args.out)
    print(format_summary(summarise(results)))
    print(f"results: {json_path}, {csv_path}")
    return 0
