"""Several seeded runs of a downstream task, their summary and their results files.

``evaluate`` picks the protocol from the task's annotations (genre → macro F1,
tagging → macro ROC-AUC, recommendation → nDCG@500), aligns the representations to the
task's songs by id (a missing id is an error) and repeats the protocol ``runs`` times
with seeds derived from one seed: the classification tasks reseed their randomized
search, the recommendation task redraws its user split (the kNN graph does not depend
on the seed and is built once).

Results files (``write_results``): ``results.json`` and ``results.csv`` with one row per
run — ``model, task, run, score, metric, config`` (config JSON-encoded in the CSV).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hdpmusic.atomic import atomic_path
from hdpmusic.errors import DataError, FormatError, ParameterError
from hdpmusic.representations import Representations
from hdpmusic.taskdata import TASK_KINDS, TaskData

__all__ = ["COLUMNS", "LOG_FLOOR", "METRICS", "RunResult", "evaluate", "format_summary",
           "read_results", "run_seeds", "split_warnings", "summarise", "write_results"]

METRICS = {"genre": "f1_macro", "tagging": "roc_auc_macro", "recommendation": "ndcg@500"}
LOG_FLOOR = 2.2e-15
"""Floor of the optional log transform, ``log(max(x, 2.2e-15))`` (the study's value)."""
COLUMNS = ("model", "task", "run", "score", "metric", "config")
RESULTS_FORMAT = "hdpmusic-results"
RESULTS_VERSION = 1


@dataclass
class RunResult:
    """The score of one run of one model on one task.

    Attributes
    ----------
    model : str
    task : str
    run : int
        0-based run number.
    score : float
    metric : str
        ``f1_macro``, ``roc_auc_macro`` or ``ndcg@500``.
    config : dict
        The run's seed and the choices made on validation data (C, k, ...).
    """

    model: str
    task: str
    run: int
    score: float
    metric: str
    config: dict[str, Any] = field(default_factory=dict)


def run_seeds(seed: int, runs: int) -> list[int]:
    """Independent 32-bit seeds for ``runs`` runs, derived from ``seed``."""
    return [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(runs)]


def _features(reps: Representations, ids: Sequence[str], log: bool) -> np.ndarray:
    """Rows of the representations for ``ids``, optionally log-transformed, checked finite.

    Returns
    -------
    np.ndarray of float64, shape (len(ids), D)
    """
    X = np.asarray(reps.align(ids), dtype=np.float64)
    if log:
        X = np.log(np.maximum(X, LOG_FLOOR))
    if not np.isfinite(X).all():
        raise DataError("representations contain NaN or infinite values")
    return X


def _labelled_rows(task: TaskData) -> np.ndarray:
    """Songs in the train, valid or test part of the task's split → int (n,)."""
    if task.split is None:
        raise DataError(f"task {task.name!r} has no 'split' dataset; the genre and tagging "
                        "protocols need a train/valid/test split (written by the dataset "
                        "loader)")
    return np.flatnonzero(np.isin(task.split.astype(str), ["train", "valid", "test"]))


def _tag_columns(task: TaskData, tags: Sequence[str] | None) -> np.ndarray:
    """Columns of the annotations for ``tags`` (all when None) → int (n_tags,)."""
    if tags is None:
        return np.arange(len(task.tags))
    index = {t: c for c, t in enumerate(task.tags)}
    missing = [t for t in tags if t not in index]
    if missing:
        raise DataError(f"task {task.name!r} has no tag(s) {', '.join(missing[:5])}")
    return np.array([index[t] for t in tags], dtype=np.int64)


def split_warnings(task: TaskData, kind: str | None = None,
                   tags: Sequence[str] | None = None) -> list[str]:
    """What the task's split leaves that cannot be scored fairly, as sentences to warn.

    Genre: classes with test songs but none in train or valid (their F1 is 0 by
    construction). Tagging: tags with test positives but none in train or valid (nothing
    to learn from), and tags without both a positive and a negative test song (left out
    of the macro ROC-AUC). Recommendation has no such split: nothing to say.

    Parameters
    ----------
    task : TaskData
    kind : {"genre", "tagging", "recommendation"}, optional
        Default: every kind of annotations the task holds.
    tags : sequence of str, optional
        Tagging: the tags scored (default: all).

    Returns
    -------
    list of str
        Empty when all is well (or the task has no split).
    """
    if task.split is None:
        return []
    split = task.split.astype(str)
    test, fit = split == "test", np.isin(split, ["train", "valid"])
    messages = []
    kinds = task.kinds if kind is None else (kind,)
    if "genre" in kinds and task.targets is not None:
        only_test = sorted(set(task.targets[test]) - set(task.targets[fit]))
        if only_test:
            messages.append(f"{len(only_test)} class(es) appear only in the test split, so "
                            f"their F1 is 0 whatever the features: {_some(only_test)}")
    if "tagging" in kinds and task.annotations is not None:
        columns = _tag_columns(task, tags)
        names = np.asarray(task.tags, dtype=object)[columns]
        positive = task.annotations[:, columns] != 0
        in_test = np.asarray(positive[test].sum(axis=0)).ravel()
        in_fit = np.asarray(positive[fit].sum(axis=0)).ravel()
        unscored = (in_test == 0) | (in_test == test.sum())
        if unscored.any():
            messages.append(f"{unscored.sum()} tag(s) lack a positive or a negative test "
                            "song and are left out of the macro ROC-AUC: "
                            f"{_some(names[unscored])}")
        unlearned = (in_fit == 0) & (in_test > 0)
        if unlearned.any():
            messages.append(f"{unlearned.sum()} tag(s) have test positives but none in "
                            f"train or valid: {_some(names[unlearned])}")
    return messages


def _some(names: Sequence[str]) -> str:
    from hdpmusic.datasets.base import name_some

    return name_some(names)


def _protocol(task: TaskData, kind: str, reps: Representations, *, log: bool,
              device: str, n_iter: int | None, keep_consumed: bool,
              tags: Sequence[str] | None, n_splits: int,
              ) -> Callable[[int], tuple[float, dict[str, Any]]]:
    """Prepare the data of one task once; return ``seed → (score, config)``."""
    if kind == "genre":
        from hdpmusic.evaluation.classification import evaluate_genre

        rows = _labelled_rows(task)
        X = _features(reps, [task.ids[r] for r in rows], log)
        y, split = task.targets[rows], task.split[rows]
        draws = 64 if n_iter is None else n_iter
        return lambda seed: evaluate_genre(X, y, split, n_iter=draws, seed=seed)
    if kind == "tagging":
        from hdpmusic.evaluation.tagging import evaluate_tagging

        rows = _labelled_rows(task)
        X = _features(reps, [task.ids[r] for r in rows], log)
        Y = task.annotations[rows][:, _tag_columns(task, tags)].toarray() != 0
        split = task.split[rows]
        draws = 32 if n_iter is None else n_iter
        return lambda seed: evaluate_tagging(X, Y, split, n_iter=draws, seed=seed,
                                             device=device)
    from hdpmusic.evaluation.recommendation import (
        DEFAULT_KS,
        evaluate_recommendation,
        knn_graph,
    )

    X = _features(reps, task.itemlist, log)
    graph = knn_graph(X, max(DEFAULT_KS), device=device)
    return lambda seed: evaluate_recommendation(
        task.interaction, graph, seed=seed, keep_consumed=keep_consumed, n_splits=n_splits,
        device=device)


def evaluate(task: TaskData, reps: Representations, *, task_kind: str | None = None,
             runs: int = 5, seed: int = 0, device: str = "auto", progress: bool = True,
             log: bool = False, model: str | None = None, n_iter: int | None = None,
             keep_consumed: bool = False, tags: Sequence[str] | None = None,
             n_splits: int = 5, task_label: str | None = None) -> list[RunResult]:
    """Score one model's representations on one task, ``runs`` times.

    Parameters
    ----------
    task : TaskData
    reps : Representations
        Must hold every song the task scores (all items for recommendation).
    task_kind : {"genre", "tagging", "recommendation"}, optional
        Default: the kind of annotations the task holds (it must hold one).
    runs : int
        Repetitions; run r uses seed ``run_seeds(seed, runs)[r]``.
    seed : int
    device : str
        Torch device for tagging and recommendation (``"auto"``: CUDA when present).
    progress : bool
        Show a progress bar over runs.
    log : bool
        Use ``log(max(x, 2.2e-15))`` of the representations (the study did so for
        HDPGMM and VQ-codebook features); off unless asked.
    model : str, optional
        Label in the results (default: the representations' ``model`` attribute).
    n_iter : int, optional
        Randomized-search draws (default 64 for genre, 32 for tagging, as the study).
    keep_consumed : bool
        Recommendation: leave already-consumed items in the ranking (the study's
        behaviour).
    tags : sequence of str, optional
        Tagging: the tags scored (default: all tags of the task).
    n_splits : int
        Recommendation: user splits averaged per run (5, as the study).
    task_label : str, optional
        Label of the task in the results (default: the task kind, ``genre``,
        ``tagging`` or ``recommendation``).

    Returns
    -------
    list of RunResult
        One per run.
    """
    from tqdm.auto import tqdm

    kind = task.task_kind if task_kind is None else task_kind
    if kind not in TASK_KINDS:
        raise ParameterError(f"task kind must be one of {', '.join(TASK_KINDS)}; got {kind!r}")
    if kind not in task.kinds:
        raise DataError(f"task {task.name!r} has no {kind} annotations")
    if runs < 1:
        raise ParameterError(f"runs must be >= 1; got {runs}")
    label = model if model is not None else str(reps.attrs.get("model", "unknown"))
    task_label = kind if task_label is None else task_label
    score_run = _protocol(task, kind, reps, log=log, device=device, n_iter=n_iter,
                          keep_consumed=keep_consumed, tags=tags, n_splits=n_splits)
    results = []
    seeds = run_seeds(seed, runs)
    for run, run_seed in enumerate(tqdm(seeds, desc=f"{label} / {task_label}",
                                        disable=not progress)):
        score, config = score_run(run_seed)
        config = {"seed": run_seed, "task_kind": kind, "log": log, **config}
        results.append(RunResult(label, task_label, run, score, METRICS[kind], config))
    return results


def summarise(results: Sequence[RunResult]) -> list[dict[str, Any]]:
    """Mean ± SD of the scores per (model, task), in order of first appearance.

    Returns
    -------
    list of dict
        ``model``, ``task``, ``metric``, ``runs``, ``mean``, ``sd`` (sample SD,
        ddof = 1; NaN for a single run), ``chance`` (mean of the runs' chance levels;
        NaN where the results record none).
    """
    groups: dict[tuple[str, str, str], list[RunResult]] = {}
    for r in results:
        groups.setdefault((r.model, r.task, r.metric), []).append(r)
    rows = []
    for (model, task, metric), group in groups.items():
        scores = [r.score for r in group]
        chance = [float(r.config["chance"]) for r in group if "chance" in r.config]
        rows.append({"model": model, "task": task, "metric": metric, "runs": len(scores),
                     "mean": float(np.mean(scores)),
                     "sd": float(np.std(scores, ddof=1)) if len(scores) > 1 else float("nan"),
                     "chance": float(np.mean(chance)) if chance else float("nan")})
    return rows


def format_summary(summary: Sequence[dict[str, Any]]) -> str:
    """A plain-text table of :func:`summarise`'s rows (the mean alone for one run)."""
    header = ("model", "task", "metric", "runs", "mean ± sd", "chance")
    rows = [(s["model"], s["task"], s["metric"], str(s["runs"]),
             f"{s['mean']:.4f}" + ("" if np.isnan(s["sd"]) else f" ± {s['sd']:.4f}"),
             "" if np.isnan(s.get("chance", np.nan)) else f"{s['chance']:.4f}")
            for s in summary]
    widths = [max(len(row[c]) for row in [header, *rows]) for c in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
                     .rstrip() for row in [header, *rows])


def write_results(results: Sequence[RunResult], out_dir: str | os.PathLike,
                  ) -> tuple[Path, Path]:
    """Write ``results.json`` and ``results.csv`` into ``out_dir``, each atomically.

    Returns
    -------
    json_path, csv_path : pathlib.Path
    """
    out_dir = Path(out_dir)
    records = [asdict(r) for r in results]
    json_path, csv_path = out_dir / "results.json", out_dir / "results.csv"
    with atomic_path(json_path) as tmp:
        tmp.write_text(json.dumps({"format": RESULTS_FORMAT, "format_version": RESULTS_VERSION,
                                   "results": records}, indent=2) + "\n")
    with atomic_path(csv_path) as tmp, tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        for record in records:
            writer.writerow({**record, "score": repr(record["score"]),
                             "config": json.dumps(record["config"], sort_keys=True)})
    return json_path, csv_path


def read_results(path: str | os.PathLike) -> list[RunResult]:
    """Read a ``results.json`` written by :func:`write_results` (or its directory)."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    try:
        content = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise FormatError(f"cannot read results {path}: {err}") from err
    if not isinstance(content, dict) or content.get("format") != RESULTS_FORMAT:
        raise FormatError(f"{path} is not an hdpmusic results file")
    if int(content.get("format_version", 0)) > RESULTS_VERSION:
        raise FormatError(f"{path} has results format version {content['format_version']}; "
                          f"this hdpmusic reads <= {RESULTS_VERSION}: upgrade hdpmusic")
    return [RunResult(**record) for record in content["results"]]
