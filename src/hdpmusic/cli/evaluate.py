"""``hdpmusic evaluate TASK REPS [REPS ...]``: score representation files on a task."""

from __future__ import annotations

import argparse
import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from hdpmusic.cli._types import WholeNumber, positive_int, seed
from hdpmusic.formats.atomic import check_output_folder
from hdpmusic.formats.representations import Representations
from hdpmusic.model.kinds import outdated_kind
from hdpmusic.runtime.errors import DataError, ParameterError

#: ``--standardise`` choices: ``evaluate``'s ``standardise`` argument
STANDARDISE: dict[str, bool | None] = {"auto": None, "yes": True, "no": False}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="score representations on a downstream task",
        description="Score representation files on the task stored in a corpus file "
                    "(genre: macro F1, tagging: macro ROC-AUC, recommendation: nDCG@500); "
                    "writes results.json, results.csv and predictions.npz and prints mean "
                    "± SD and a 95 % bootstrap CI per model (over the test songs, whole "
                    "groups where the task file has them), and with several models their "
                    "paired differences.")
    parser.add_argument("task", help="corpus file (.h5) holding the task annotations")
    parser.add_argument("reps", nargs="+", help="representation files (.h5 or .npz)")
    parser.add_argument("--out", required=True, help="output directory (refused when it "
                        "holds files, unless --overwrite)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the results in an existing --out")
    parser.add_argument("--runs", type=positive_int, default=None,
                        help="runs per model (default 5; 1 with --cv, whose repeats "
                             "already redraw the folds)")
    parser.add_argument("--seed", type=seed, default=0, help="base seed")
    parser.add_argument("--task", dest="task_kind",
                        choices=("genre", "tagging", "recommendation"),
                        help="task kind (default: every kind of annotations in the file)")
    parser.add_argument("--name", dest="names", action="append", default=None,
                        metavar="NAME",
                        help="label of a model in the results, once per representation "
                             "file in order; files given one name are fits of one model "
                             "(e.g. fit --seed 0, 1, 2), whose intervals then cover the "
                             "fit-to-fit variation (default: the file name without "
                             "extension)")
    parser.add_argument("--device", default="auto",
                        help="torch device: auto, cpu, cuda, cuda:1, ...")
    parser.add_argument("--log", action="store_true",
                        help="use log(max(x, 2.2e-15)) of the representations")
    parser.add_argument("--n-iter", type=positive_int, default=None,
                        help="randomized-search draws (default 64 genre, 32 tagging)")
    parser.add_argument("--keep-consumed", action="store_true",
                        help="recommendation: keep consumed items in the ranking (study)")
    parser.add_argument("--n-splits", type=positive_int, default=5,
                        help="recommendation: user splits averaged per run, as in the "
                             "study")
    parser.add_argument("--tags", default=None,
                        help="tagging: file with the tags to score, one per line (default: "
                             "every tag of the task)")
    parser.add_argument("--cv", type=WholeNumber(2), default=None, metavar="K",
                        help="genre and tagging: repeated stratified group K-fold over all "
                             "labelled songs, for collections without a published split "
                             "(C chosen by an inner group CV; default: the task's fixed "
                             "split); recommendation is unaffected")
    parser.add_argument("--cv-repeats", type=positive_int, default=3,
                        help="repeats of the K-fold per run with --cv")
    parser.add_argument("--standardise", choices=tuple(STANDARDISE), default="auto",
                        help="genre and tagging: standardise the columns before the linear "
                             "probe (yes: the study's protocol), use the vectors as they "
                             "are (no), or as each representation file says (auto: no for "
                             "HDPGMM's Fisher vectors, yes for the rest)")
    parser.add_argument("--resamples", type=positive_int, default=1000,
                        help="bootstrap resamples of the CIs")
    parser.set_defaults(func=run_evaluate)


def model_labels(paths: Sequence[str], names: Sequence[str] | None = None) -> list[str]:
    """A results label per representation file: its name from ``names`` (a name given to
    several files: fits of one model), else the file name without extension (the whole
    path when two files share a name)."""

    if names is not None:
        if len(names) != len(paths):
            raise ParameterError(f"--name given {len(names)} times for {len(paths)} "
                                 "representation files; give one per file, in order")
        return list(names)
    labels = [Path(p).stem for p in paths]
    if len(set(labels)) < len(labels):
        labels = [str(p) for p in paths]
    if len(set(labels)) < len(labels):
        raise ParameterError(f"model names repeat: {', '.join(labels)}")
    return labels


def fit_numbers(labels: Sequence[str]) -> list[int | None]:
    """Each file's fit of its model: 0, 1, ... for a label given to several files, None
    for a model of one file."""
    files, seen = Counter(labels), Counter()
    out: list[int | None] = []
    for label in labels:
        out.append(seen[label] if files[label] > 1 else None)
        seen[label] += 1
    return out


def _read_tags(path: str) -> list[str]:
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as err:
        raise DataError(f"cannot read tag list {path}: {err}") from err
    return [line.strip() for line in lines if line.strip()]


def run_evaluate(args: argparse.Namespace) -> int:
    from hdpmusic.evaluation.protocol import (
        evaluate,
        format_paired,
        format_summary,
        model_distributions,
        paired_differences,
        split_warnings,
        summarise,
        write_results,
    )
    from hdpmusic.formats.taskdata import read_task

    labels = model_labels(args.reps, args.names)
    check_output_folder(args.out, overwrite=args.overwrite, what="its results")
    task = read_task(args.task)
    reps = [Representations.load(p) for p in args.reps]
    for path, r in zip(args.reps, reps, strict=True):
        if (message := outdated_kind(r.attrs)) is not None:
            logging.getLogger(__name__).warning("warning: %s: %s", path, message)
    tags = None if args.tags is None else _read_tags(args.tags)
    for message in split_warnings(task, args.task_kind, tags, cv=args.cv):
        logging.getLogger(__name__).warning("warning: %s: %s", args.task, message)
    kinds = [args.task_kind] if args.task_kind is not None else list(task.kinds) or [None]
    runs = args.runs if args.runs is not None else (1 if args.cv else 5)
    results = []
    for r, label, fit in zip(reps, labels, fit_numbers(labels), strict=True):
        for kind in kinds:
            results += evaluate(task, r, task_kind=kind, runs=runs, seed=args.seed,
                                device=args.device, progress=not args.quiet, log=args.log,
                                model=label, n_iter=args.n_iter,
                                keep_consumed=args.keep_consumed, tags=tags,
                                n_splits=args.n_splits, cv=args.cv,
                                cv_repeats=args.cv_repeats, n_resamples=args.resamples,
                                standardise=STANDARDISE[args.standardise], fit=fit)
    distributions = model_distributions(results, n_resamples=args.resamples)
    json_path, csv_path = write_results(results, args.out, n_resamples=args.resamples,
                                        distributions=distributions)
    print(format_summary(summarise(results, distributions=distributions)))
    paired = paired_differences(results, distributions=distributions)
    if paired:
        print()
        print(format_paired(paired))
    print(f"results: {json_path}, {csv_path}")
    return 0
