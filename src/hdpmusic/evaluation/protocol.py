"""Several seeded runs of a downstream task, their summary and their results files.

``evaluate`` picks the protocol from the task's annotations (genre → macro F1,
tagging → macro ROC-AUC, recommendation → nDCG@500), aligns the representations to the
task's songs by id (a missing id is an error) and repeats the protocol ``runs`` times
with seeds derived from one seed: the classification tasks reseed their randomized
search, the recommendation task redraws its user split (the kNN graph does not depend
on the seed and is built once).

With ``cv=K`` (genre and tagging) the fixed split is not used: every run scores all
labelled songs by repeated stratified group K-fold
(:func:`~hdpmusic.evaluation.classification.cross_validate_genre`,
:func:`~hdpmusic.evaluation.tagging.cross_validate_tagging`); the recommendation
protocol, whose user splits are random already, is unchanged.

Every run keeps its test predictions (:class:`~hdpmusic.evaluation.predictions.Predictions`,
resampling units: the task's ``groups``, else the songs; the users for recommendation)
and records a percentile bootstrap CI of its score in its config (``ci95``);
:mod:`hdpmusic.evaluation.summary` pools the runs of each model into the CI of its mean
and the paired differences between models.

Results files (``write_results``, format version 2): ``results.json`` (the runs, the
summary with CIs and the paired differences), ``results.csv`` with one row per run —
``model, task, run, score, metric, config`` (config JSON-encoded) — and
``predictions.npz`` (the runs' predictions, keyed by the ``predictions`` entry of each
run in ``results.json``). Version 1 files (no predictions) are still read.
"""

from __future__ import annotations

import csv
import json
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hdpmusic.evaluation.fitted import fitted_counts, mixed_fit_message
from hdpmusic.evaluation.predictions import (
    Predictions,
    bootstrap_records,
    load_predictions,
    save_predictions,
)
from hdpmusic.evaluation.recommendation import (
    DEFAULT_KS,
    evaluate_recommendation,
    knn_graph,
    split_sizes,
)
from hdpmusic.evaluation.results import RunResult
from hdpmusic.evaluation.summary import (
    format_paired,
    format_summary,
    model_distributions,
    paired_differences,
    summarise,
)
from hdpmusic.evaluation.uncertainty import CONFIDENCE, N_RESAMPLES, percentile_interval
from hdpmusic.formats.atomic import atomic_path
from hdpmusic.formats.csvtext import spreadsheet_text
from hdpmusic.formats.representations import Representations
from hdpmusic.formats.taskdata import TASK_KINDS, TaskData, song_groups
from hdpmusic.runtime.errors import DataError, FormatError, ParameterError, name_some

__all__ = ["COLUMNS", "LOG_FLOOR", "METRICS", "MIN_CLASS_TEST", "MIN_TEST", "PREDICTIONS",
           "RunResult", "evaluate", "format_paired", "format_summary", "model_distributions",
           "paired_differences",
           "read_results", "run_seeds", "split_warnings", "summarise", "write_results"]

METRICS = {"genre": "f1_macro", "tagging": "roc_auc_macro", "recommendation": "ndcg@500"}
LOG_FLOOR = 2.2e-15
"""Floor of the optional log transform, ``log(max(x, 2.2e-15))`` (the study's value)."""
COLUMNS = ("model", "task", "run", "score", "metric", "config")
RESULTS_FORMAT = "hdpmusic-results"
RESULTS_VERSION = 2
PREDICTIONS = "predictions.npz"
"""File of the runs' predictions beside ``results.json``."""
MIN_TEST = 30
"""Fewer test songs than this draw a warning (:func:`split_warnings`)."""
MIN_CLASS_TEST = 5
"""Fewer test songs of a class (positives of a tag) than this draw a warning."""


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


def _labelled_rows(task: TaskData, cv: int | None = None) -> np.ndarray:
    """Songs in the train, valid or test part of the task's split → int (n,); with
    ``cv``, every song when the task has no split."""
    if task.split is None and cv is not None:
        return np.arange(len(task.ids))
    if task.split is None:
        raise DataError(f"task {task.name!r} has no 'split' dataset; the genre and tagging "
                        "protocols need a train/valid/test split (written by the dataset "
                        "loader) or cross-validation (--cv K)")
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
                   tags: Sequence[str] | None = None, cv: int | None = None) -> list[str]:
    """What the task's split leaves that cannot be scored fairly, as sentences to warn.

    Genre: classes with test songs but none in train or valid (their F1 is 0 by
    construction), else with test songs but none in train (the validation search over
    C never fits them; only the final refit on train + valid sees them), and classes
    without valid songs (the validation search cannot score them). Tagging: tags with
    test positives but none in train or valid (nothing to learn from), and tags
    without both a positive and a negative test song (left out of the macro ROC-AUC).
    Both: a test split too small to tell models apart — fewer
    than :data:`MIN_TEST` (30) songs, or a class (a tag's positives) with fewer than
    :data:`MIN_CLASS_TEST` (5) test songs — naming the fix, cross-validation
    (``--cv``). Recommendation: fewer than :data:`MIN_TEST` test users a user split
    (:func:`~hdpmusic.evaluation.recommendation.split_sizes`; its bootstrap resamples
    them).

    Parameters
    ----------
    task : TaskData
    kind : {"genre", "tagging", "recommendation"}, optional
        Default: every kind of annotations the task holds.
    tags : sequence of str, optional
        Tagging: the tags scored (default: all).
    cv : int, optional
        Cross-validation: every labelled song is a test song once, so only the sizes
        over all labelled songs are checked.

    Returns
    -------
    list of str
        Empty when all is well.
    """
    kinds = task.kinds if kind is None else (kind,)
    messages = _user_warnings(task) if "recommendation" in kinds else []
    if task.split is None and cv is None:
        return messages
    labelled = np.zeros(len(task.ids), dtype=bool)
    labelled[_labelled_rows(task, cv)] = True
    if cv is None:
        split = task.split.astype(str)
        test, fit = split == "test", np.isin(split, ["train", "valid"])
    else:
        test, fit = labelled, labelled
    if "genre" in kinds and task.targets is not None:
        only_test = sorted(set(task.targets[test]) - set(task.targets[fit]))
        if only_test:
            messages.append(f"{len(only_test)} class(es) appear only in the test split, so "
                            f"their F1 is 0 whatever the features: {_some(only_test)}")
        if cv is None:
            messages += _missing_part_warnings(task.targets, split, set(only_test))
        classes = np.unique(task.targets[labelled])
        in_test = np.array([np.sum(task.targets[test] == c) for c in classes])
        messages += _small_test(int(test.sum()), classes[in_test < MIN_CLASS_TEST],
                                "class(es)", cv)
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
        unlearned = (in_fit == 0) & (in_test > 0) & (cv is None)
        if unlearned.any():
            messages.append(f"{unlearned.sum()} tag(s) have test positives but none in "
                            f"train or valid: {_some(names[unlearned])}")
        rare = names[(in_test > 0) & (in_test < MIN_CLASS_TEST)]
        messages += _small_test(int(test.sum()), rare, "tag(s)", cv)
    return messages


def _user_warnings(task: TaskData) -> list[str]:
    """The warning of user splits too small to tell models apart (empty when they are
    not, or the task holds no interactions)."""
    if task.interaction is None:
        return []
    eligible, _, n_test = split_sizes(task.interaction)
    if n_test >= MIN_TEST:
        return []
    return [f"only {n_test} test user(s) a user split (a tenth of the {eligible} users with "
            f"two or more interactions; fewer than {MIN_TEST}): recommendation scores are "
            "noisy, and their 95 % CI, which resamples those users, too narrow to trust; "
            "collect more listening data"]


def _missing_part_warnings(targets: np.ndarray, split: np.ndarray,
                           named: set[str]) -> list[str]:
    """The warnings of classes lacking train or valid songs, leaving out those ``named``
    already (only in test).

    Parameters
    ----------
    targets : np.ndarray of str, shape (n,)
    split : np.ndarray of str, shape (n,)
        ``train`` / ``valid`` / ``test`` per song (other values are ignored).
    named : set of str

    Returns
    -------
    list of str
        Up to two sentences, empty when every class has train and valid songs.
    """
    def having(part: str) -> set[str]:
        return set(targets[split == part])

    labelled = having("train") | having("valid") | having("test")
    no_train = sorted((having("test") - having("train")) - named)
    no_valid = sorted((labelled - having("valid")) - named)
    messages = []
    if no_train:
        messages.append(f"{len(no_train)} class(es) have test songs but none in train, so "
                        "the validation search over C never fits them (only the final "
                        f"refit on train + valid does): {_some(no_train)}")
    if no_valid:
        messages.append(f"{len(no_valid)} class(es) have no valid songs, so the validation "
                        f"search over C cannot score them: {_some(no_valid)}")
    return messages


def _small_test(n_test: int, rare: Sequence[str], what: str, cv: int | None) -> list[str]:
    """The warning of a test set too small to tell models apart (empty when it is not)."""
    problems = []
    if n_test < MIN_TEST:
        problems.append(f"only {n_test} {'labelled' if cv else 'test'} songs "
                        f"(fewer than {MIN_TEST})")
    if len(rare):
        problems.append(f"{len(rare)} {what} with fewer than {MIN_CLASS_TEST} "
                        f"{'songs' if cv else 'test songs'}: {_some(rare)}")
    if not problems:
        return []
    fix = ("collect more songs" if cv else
           "evaluate with --cv K (cross-validation over all labelled songs)")
    return [f"{' and '.join(problems)}: scores are noisy (see their 95 % CI); {fix}"]


def _some(names: Sequence[str]) -> str:
    return name_some(names)


Protocol = Callable[[int], tuple[float, dict[str, Any], Predictions]]
"""``seed → (score, config, predictions)`` of one prepared task."""


def _protocol(task: TaskData, kind: str, reps: Representations, *, log: bool,
              device: str, n_iter: int | None, keep_consumed: bool,
              tags: Sequence[str] | None, n_splits: int, cv: int | None,
              cv_repeats: int, standardise: bool) -> Protocol:
    """Prepare the data of one task once; return ``seed → (score, config, predictions)``."""
    if kind == "recommendation":
        X = _features(reps, task.itemlist, log)
        graph = knn_graph(X, max(DEFAULT_KS), device=device)
        return lambda seed: evaluate_recommendation(
            task.interaction, graph, seed=seed, keep_consumed=keep_consumed,
            n_splits=n_splits, device=device, predictions=True)
    rows = _labelled_rows(task, cv)
    X = _features(reps, [task.ids[r] for r in rows], log)
    groups = song_groups([task.ids[r] for r in rows],
                         None if task.groups is None else task.groups[rows])
    folds = {"n_splits": cv, "repeats": cv_repeats}
    if kind == "genre":
        from hdpmusic.evaluation import classification

        y = task.targets[rows]
        draws = 64 if n_iter is None else n_iter
        if cv is not None:
            return lambda seed: classification.cross_validate_genre(
                X, y, groups, n_iter=draws, seed=seed, standardise=standardise, **folds)
        split = task.split[rows]
        return lambda seed: classification.evaluate_genre(
            X, y, split, n_iter=draws, seed=seed, groups=groups, predictions=True,
            standardise=standardise)
    from hdpmusic.evaluation import tagging

    Y = task.annotations[rows][:, _tag_columns(task, tags)].toarray() != 0
    draws = 32 if n_iter is None else n_iter
    if cv is not None:
        return lambda seed: tagging.cross_validate_tagging(
            X, Y, groups, n_iter=draws, seed=seed, device=device, standardise=standardise,
            **folds)
    split = task.split[rows]
    return lambda seed: tagging.evaluate_tagging(X, Y, split, n_iter=draws, seed=seed,
                                                 device=device, groups=groups,
                                                 predictions=True, standardise=standardise)


def evaluate(task: TaskData, reps: Representations, *, task_kind: str | None = None,
             runs: int = 5, seed: int = 0, device: str = "auto", progress: bool = True,
             log: bool = False, model: str | None = None, n_iter: int | None = None,
             keep_consumed: bool = False, tags: Sequence[str] | None = None,
             n_splits: int = 5, task_label: str | None = None, cv: int | None = None,
             cv_repeats: int = 3, n_resamples: int = N_RESAMPLES,
             standardise: bool | None = None, fit: int | None = None) -> list[RunResult]:
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
    cv : int, optional
        Genre and tagging: K of a repeated stratified group K-fold over all labelled
        songs instead of the fixed split (default: the fixed split). Each run makes
        ``cv_repeats`` repeats seeded from its seed.
    cv_repeats : int
        Repeats per run with ``cv`` (default 3).
    n_resamples : int
        Bootstrap resamples of each run's CI (``config["ci95"]``; default 1000, seed 0,
        as :func:`summarise`: one run's CI is its summary's).
    standardise : bool, optional
        Genre and tagging: standardise the columns before the linear probe (the study's
        protocol) or use the vectors as they are. Default: the representation file's
        ``standardise`` attribute, True where it has none (False for vectors normalised
        as a whole, HDPGMM's Fisher kinds, which the standardisation would turn into
        noise: their many near-empty columns get unit variance).
    fit : int, optional
        Which fit of the model ``reps`` come from, when it was fitted several times (e.g.
        with several seeds): recorded as ``config["fit"]``, with the runs numbered from
        ``fit × runs``, so that the summaries resample the fits too
        (:mod:`~hdpmusic.evaluation.summary`). Default: one fit, nothing recorded.

    Returns
    -------
    list of RunResult
        One per run, with its predictions.

    Warns
    -----
    UserWarning
        The model behind ``reps`` was fitted on some of the scored songs and not on
        others (:mod:`hdpmusic.evaluation.fitted`). Where ``reps`` say which songs it
        was fitted on, every run records their counts as ``config["fitted_songs"]``.
    """
    from tqdm.auto import tqdm

    kind = task.task_kind if task_kind is None else task_kind
    if kind not in TASK_KINDS:
        raise ParameterError(f"task kind must be one of {', '.join(TASK_KINDS)}; got {kind!r}")
    if kind not in task.kinds:
        raise DataError(f"task {task.name!r} has no {kind} annotations")
    if runs < 1:
        raise ParameterError(f"runs must be >= 1; got {runs}")
    if fit is not None and fit < 0:
        raise ParameterError(f"fit must be >= 0; got {fit}")
    if n_resamples < 1:
        raise ParameterError(f"--resamples must be >= 1; got {n_resamples}")
    if cv is not None and (cv < 2 or cv_repeats < 1):
        raise ParameterError(f"--cv needs K >= 2 and --cv-repeats >= 1; got {cv}, "
                             f"{cv_repeats}")
    label = model if model is not None else str(reps.attrs.get("model", "unknown"))
    task_label = kind if task_label is None else task_label
    fold_cv = None if kind == "recommendation" else cv
    if standardise is None:
        standardise = bool(reps.attrs.get("standardise", True))
    fitted = _fitted_counts(task, kind, reps, fold_cv)
    if fitted is not None and (message := mixed_fit_message(fitted)) is not None:
        warnings.warn(f"{label}: {message}", UserWarning, stacklevel=2)
    score_run = _protocol(task, kind, reps, log=log, device=device, n_iter=n_iter,
                          keep_consumed=keep_consumed, tags=tags, n_splits=n_splits,
                          cv=fold_cv, cv_repeats=cv_repeats, standardise=standardise)
    results = []
    seeds = run_seeds(seed, runs)
    for run, run_seed in enumerate(tqdm(seeds, desc=f"{label} / {task_label}",
                                        disable=not progress)):
        score, config, kept = score_run(run_seed)
        (samples,) = bootstrap_records([(kept, METRICS[kind])], n_resamples=n_resamples)
        config = {"seed": run_seed, "task_kind": kind, "log": log, **config,
                  "ci95": list(percentile_interval(samples, CONFIDENCE)),
                  "resampled": _unit(kind, task, fold_cv)}
        if fitted is not None:
            config["fitted_songs"] = fitted
        if fit is not None:
            config["fit"], run = fit, fit * runs + run
        results.append(RunResult(label, task_label, run, score, METRICS[kind], config, kept))
    return results


def _fitted_counts(task: TaskData, kind: str, reps: Representations,
                   cv: int | None) -> dict[str, list[int]] | None:
    """:func:`~hdpmusic.evaluation.fitted.fitted_counts` of the songs a task scores (None
    when the representations do not say which songs their model was fitted on)."""
    if kind == "recommendation":
        ids, parts = list(task.itemlist), None
    else:
        rows = _labelled_rows(task, cv)
        ids = [task.ids[r] for r in rows]
        parts = None if cv is not None else task.split[rows]
    fitted = reps.fitted_for(ids)
    return None if fitted is None else fitted_counts(fitted, parts)


def _unit(kind: str, task: TaskData, cv: int | None) -> str:
    """What the bootstrap of a run resamples, in words."""
    if kind == "recommendation":
        return "test users"
    songs = "songs" if cv is not None else "test songs"
    return f"{songs} by group" if task.groups is not None else songs


def write_results(results: Sequence[RunResult], out_dir: str | os.PathLike, *,
                  n_resamples: int = N_RESAMPLES, seed: int = 0,
                  distributions: dict[tuple[str, str], dict[str, np.ndarray]] | None = None,
                  ) -> tuple[Path, Path]:
    """Write ``results.json``, ``results.csv`` and, when runs kept predictions,
    ``predictions.npz`` into ``out_dir``, each atomically.

    ``results.json`` also holds ``summary`` (:func:`summarise`) and ``paired``
    (:func:`paired_differences`), computed here with ``n_resamples`` and ``seed``
    unless their ``distributions`` (:func:`model_distributions` of ``results`` with the
    same settings) are given.

    Returns
    -------
    json_path, csv_path : pathlib.Path
    """
    out_dir = Path(out_dir)
    records = [{name: getattr(r, name) for name in COLUMNS} for r in results]
    kept = {f"r{i}": r.predictions for i, r in enumerate(results)
            if r.predictions is not None}
    for i, record in enumerate(records):
        if f"r{i}" in kept:
            record["predictions"] = f"r{i}"
    if distributions is None:
        distributions = model_distributions(results, n_resamples=n_resamples, seed=seed)
    content: dict[str, Any] = {"format": RESULTS_FORMAT, "format_version": RESULTS_VERSION,
                               "results": records}
    if kept:
        content.update({
            "predictions": PREDICTIONS,
            "bootstrap": {"resamples": n_resamples, "seed": seed, "confidence": CONFIDENCE},
            "summary": summarise(results, distributions=distributions),
            "paired": paired_differences(results, distributions=distributions)})
        save_predictions(kept, out_dir / PREDICTIONS)
    elif (out_dir / PREDICTIONS).exists():
        (out_dir / PREDICTIONS).unlink()
    json_path, csv_path = out_dir / "results.json", out_dir / "results.csv"
    with atomic_path(json_path) as tmp:
        tmp.write_text(json.dumps(content, indent=2) + "\n")
    with atomic_path(csv_path) as tmp, tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for record in records:
            writer.writerow({**record, "model": spreadsheet_text(record["model"]),
                             "score": repr(record["score"]),
                             "config": json.dumps(record["config"], sort_keys=True)})
    return json_path, csv_path


def read_results(path: str | os.PathLike) -> list[RunResult]:
    """Read a ``results.json`` written by :func:`write_results` (or its directory), with
    the runs' predictions when it has them (format version 2)."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    try:
        content = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise FormatError(f"cannot read results {path}: {err}") from err
    except RecursionError:
        raise FormatError(f"cannot read results {path}: JSON nested too deeply") from None
    if not isinstance(content, dict) or content.get("format") != RESULTS_FORMAT:
        raise FormatError(f"{path} is not an hdpmusic results file")
    if int(content.get("format_version", 0)) > RESULTS_VERSION:
        raise FormatError(f"{path} has results format version {content['format_version']}; "
                          f"this hdpmusic reads <= {RESULTS_VERSION}: upgrade hdpmusic")
    records = [dict(record) for record in content["results"]]
    keys = [record.pop("predictions", None) for record in records]
    kept = load_predictions(path.parent / content["predictions"]) \
        if content.get("predictions") and any(keys) else {}
    missing = [k for k in keys if k is not None and k not in kept]
    if missing:
        raise FormatError(f"{path}: predictions {', '.join(missing[:3])} are not in "
                          f"{content['predictions']}")
    return [RunResult(**record, predictions=None if key is None else kept[key])
            for record, key in zip(records, keys, strict=True)]
