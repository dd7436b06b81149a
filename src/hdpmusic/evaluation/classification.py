"""Genre classification: standardised features → logistic regression, macro F1.

The study's protocol: ``Pipeline([StandardScaler,
LogisticRegression(max_iter=20000)])`` (``standardise=False``: the vectors as they are,
for representations normalised as a whole such as the Fisher vectors, whose many
near-empty columns the standardisation would blow up to unit variance; with at least
twice as many columns as fitting songs the model is fitted, to the same optimum, in the
span of the songs' rows: :func:`probe_columns`), a randomized
search of 64 draws over ``C ~ loguniform(1e-4, 1e4)`` scored by macro F1 on the single
predefined train → validation fold, refit on train + validation, macro F1 once on test
(:func:`evaluate_genre`). Accuracy and the confusion matrix are reported beside it.

Collections without a fixed split: :func:`cross_validate_genre` (repeated stratified
group K-fold, C chosen by an inner group cross-validation).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import loguniform
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
from sklearn.model_selection import RandomizedSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from hdpmusic.evaluation.folds import INNER_SPLITS, derived_seed, inner_folds, repeated_folds
from hdpmusic.evaluation.predictions import Predictions, concatenate
from hdpmusic.evaluation.rowspan import RowSpan
from hdpmusic.runtime.errors import DataError

__all__ = ["C_RANGE", "SPLITS", "chance_macro_f1", "column_scaler", "cross_validate_genre",
           "evaluate_genre", "genre_pipeline", "label_metrics", "probe_columns", "split_indices",
           "split_sizes"]

C_RANGE = (1e-4, 1e4)
"""Bounds of the log-uniform search distribution of the inverse regularisation C."""
SPLITS = ("train", "valid", "test")
MAX_ITER = 20000


def split_indices(split: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices of the train, validation and test parts of a predefined split.

    Parameters
    ----------
    split : array of str, shape (J,)
        ``train`` / ``valid`` / ``test``; other values are ignored.

    Returns
    -------
    train, valid, test : np.ndarray of int, each (n_part,)

    Raises
    ------
    DataError
        If a part is empty.
    """
    split = np.asarray(split).astype(str)
    parts = tuple(np.flatnonzero(split == name) for name in SPLITS)
    empty = [name for name, rows in zip(SPLITS, parts, strict=True) if rows.size == 0]
    if empty:
        raise DataError(f"the task's split has no {' / '.join(empty)} songs")
    return parts


def split_sizes(*parts: np.ndarray) -> dict[str, int]:
    """``{"train": n, "valid": n, "test": n}`` of the parts of :func:`split_indices`.

    Kept under one key of a run's config: a bare ``n_train`` would read as the size of
    the representation model's training corpus, a factor of the learning study.
    """
    return {name: int(part.size) for name, part in zip(SPLITS, parts, strict=True)}


def column_scaler(standardise: bool = True) -> StandardScaler | FunctionTransformer:
    """What a probe does to the columns before its linear model: ``StandardScaler`` (zero
    mean, unit variance on the fitting rows), or the identity with ``standardise=False``."""
    return StandardScaler() if standardise else FunctionTransformer()


def probe_columns(standardise: bool = True) -> Pipeline:
    """The columns a probe's linear model is fitted on: :func:`column_scaler`, then the
    coordinates in the span of the fitting rows where that pays (at least twice as many
    columns as rows; :class:`~hdpmusic.evaluation.rowspan.RowSpan`: the same L2-penalised
    optimum and predictions, at rows/columns of the cost)."""
    return Pipeline([("scale", column_scaler(standardise)), ("span", RowSpan())])


def genre_pipeline(C: float = 1.0, standardise: bool = True) -> Pipeline:
    """:func:`probe_columns` → multinomial ``LogisticRegression`` (lbfgs)."""
    return Pipeline([("columns", probe_columns(standardise)),
                     ("lr", LogisticRegression(C=C, max_iter=MAX_ITER))])


def _search(X: np.ndarray, y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]], *,
            n_iter: int, seed: int, n_jobs: int | None,
            standardise: bool) -> RandomizedSearchCV:
    """The randomized search over C on ``folds`` of the rows of ``X``, refit on all."""
    search = RandomizedSearchCV(genre_pipeline(standardise=standardise),
                                {"lr__C": loguniform(*C_RANGE)},
                                n_iter=n_iter, scoring="f1_macro", cv=folds, refit=True,
                                random_state=seed, n_jobs=n_jobs)
    return search.fit(X, y)


def label_metrics(y_true: np.ndarray, y_pred: np.ndarray,
                  classes: np.ndarray) -> dict[str, Any]:
    """Accuracy and confusion matrix of predicted labels.

    Parameters
    ----------
    y_true, y_pred : np.ndarray of str, shape (n,)
    classes : np.ndarray of str, shape (C,)
        Rows and columns of the matrix, in this order.

    Returns
    -------
    dict
        ``accuracy`` (float) and ``confusion``: ``{"labels": [C], "matrix": [[C × C]]}``,
        ``matrix[i][j]`` the songs of class i predicted as class j.
    """
    labels = [str(c) for c in classes]
    matrix = confusion_matrix(np.asarray(y_true).astype(str), np.asarray(y_pred).astype(str),
                              labels=labels)
    return {"accuracy": float(accuracy_score(y_true, y_pred)),
            "confusion": {"labels": labels, "matrix": matrix.tolist()}}


def _groups(groups: np.ndarray | None, n: int) -> np.ndarray:
    return np.arange(n) if groups is None else np.asarray(groups)


def evaluate_genre(X: np.ndarray, y: np.ndarray, split: np.ndarray, *, n_iter: int = 64,
                   seed: int = 0, n_jobs: int | None = None, groups: np.ndarray | None = None,
                   predictions: bool = False, standardise: bool = True) -> tuple[Any, ...]:
    """Macro F1 on the test songs after a validation search over C.

    Parameters
    ----------
    X : np.ndarray, shape (J, D)
        Song representations.
    y : np.ndarray of str, shape (J,)
        Genre labels.
    split : np.ndarray of str, shape (J,)
        ``train`` / ``valid`` / ``test`` per song (other values are left out).
    n_iter : int
        Draws of C from :data:`C_RANGE` (log-uniform).
    seed : int
        Seed of the draws.
    n_jobs : int, optional
        Parallel fits (joblib).
    groups : np.ndarray, shape (J,), optional
        Resampling unit of each song in the returned predictions (default: the song).
    predictions : bool
        Also return the test songs' :class:`~hdpmusic.evaluation.predictions.Predictions`.
    standardise : bool, default=True
        Standardise the columns on the fitting songs (:func:`column_scaler`).

    Returns
    -------
    score : float
        Macro F1 over the test songs.
    config : dict
        ``C`` (chosen), ``valid_f1`` (its validation score), ``n_iter``, ``standardise``,
        ``split_sizes`` (songs per part),
        ``chance`` (:func:`chance_macro_f1` of the test labels), ``accuracy`` and
        ``confusion`` (:func:`label_metrics`).
    predictions : Predictions
        Only with ``predictions=True``.
    """

    train, valid, test = split_indices(split)
    y = np.asarray(y).astype(str)
    fit_rows = np.concatenate([train, valid])
    fold = [(np.arange(train.size), np.arange(train.size, fit_rows.size))]
    search = _search(X[fit_rows], y[fit_rows], fold, n_iter=n_iter, seed=seed, n_jobs=n_jobs,
                     standardise=standardise)
    predicted = search.predict(X[test])
    score = f1_score(y[test], predicted, average="macro")
    classes = np.unique(y)
    config = {"C": float(search.best_params_["lr__C"]), "valid_f1": float(search.best_score_),
              "n_iter": n_iter, "standardise": standardise,
              "split_sizes": split_sizes(train, valid, test),
              "chance": chance_macro_f1(y[test], classes),
              **label_metrics(y[test], predicted, classes)}
    if not predictions:
        return float(score), config
    kept = Predictions(_groups(groups, y.size)[test], np.zeros(test.size), predicted, y[test])
    return float(score), config, kept


def cross_validate_genre(X: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None, *,
                         n_splits: int = 5, repeats: int = 3, n_iter: int = 64,
                         seed: int = 0, n_jobs: int | None = None,
                         standardise: bool = True) -> tuple[float, dict[str, Any], Any]:
    """Macro F1 of out-of-fold predictions, repeated stratified group K-fold.

    Each repeat partitions the songs into ``n_splits`` folds
    (:func:`hdpmusic.evaluation.folds.group_folds`, stratified by label, groups kept
    whole, seeded per repeat); each fold's songs are predicted by a model whose C was
    chosen by an inner group cross-validation on the other folds
    (:func:`~hdpmusic.evaluation.folds.inner_folds`) and refit on them. Every song is
    predicted once per repeat; a repeat's score is the macro F1 of its pooled
    out-of-fold predictions, and the score is the mean over repeats (the bootstrap of
    the predictions resamples songs or groups once for all repeats and averages the
    repeats in the same way).

    Parameters
    ----------
    X : np.ndarray, shape (J, D)
    y : np.ndarray of str, shape (J,)
    groups : np.ndarray, shape (J,), optional
        Group of each song (default: each song its own).
    n_splits : int
        K (default 5).
    repeats : int
        Repeats (default 3).
    n_iter : int
        Draws of C per search.
    seed : int
        Seeds the folds of every repeat and the searches.
    n_jobs : int, optional
    standardise : bool, default=True
        As :func:`evaluate_genre`.

    Returns
    -------
    score : float
    config : dict
        ``cv`` (``{"folds", "repeats", "inner_folds"}``), ``C`` (chosen per repeat and
        fold), ``repeat_scores``, ``n_iter``, ``standardise``, ``n_songs``, ``chance``, ``accuracy``
        (mean over repeats) and ``confusion`` (summed over repeats).
    predictions : Predictions
        One block per repeat.
    """

    y = np.asarray(y).astype(str)
    groups = _groups(groups, y.size)
    classes = np.unique(y)
    chosen, repeat_scores, accuracy, blocks = [], [], [], []
    matrix = np.zeros((classes.size, classes.size), dtype=np.int64)
    for r, folds in enumerate(repeated_folds(y, groups, n_splits, repeats, seed)):
        predicted = np.empty(y.size, dtype=object)
        for f, (train, test) in enumerate(folds):
            inner = inner_folds(y[train], groups[train], derived_seed(seed, r, f, 0))
            search = _search(X[train], y[train], inner, n_iter=n_iter,
                             seed=derived_seed(seed, r, f, 1), n_jobs=n_jobs,
                             standardise=standardise)
            predicted[test] = search.predict(X[test])
            chosen.append(float(search.best_params_["lr__C"]))
        predicted = predicted.astype(str)
        repeat_scores.append(float(f1_score(y, predicted, average="macro")))
        metrics = label_metrics(y, predicted, classes)
        accuracy.append(metrics["accuracy"])
        matrix += np.asarray(metrics["confusion"]["matrix"])
        blocks.append(Predictions(groups, np.full(y.size, r), predicted, y))
    config = {"cv": {"folds": n_splits, "repeats": repeats, "inner_folds": INNER_SPLITS},
              "C": chosen, "repeat_scores": repeat_scores, "n_iter": n_iter,
              "standardise": standardise,
              "n_songs": int(y.size), "chance": chance_macro_f1(y, classes),
              "accuracy": float(np.mean(accuracy)),
              "confusion": {"labels": classes.tolist(), "matrix": matrix.tolist()}}
    return float(np.mean(repeat_scores)), config, concatenate(blocks)


def chance_macro_f1(y_test: np.ndarray, classes: np.ndarray) -> float:
    """Macro F1 of guessing uniformly among ``classes`` (expected counts).

    With ``n`` test songs, ``n_c`` of class c and ``C`` classes, a uniform guesser
    predicts c for ``n / C`` songs, ``n_c / C`` of them right, so
    ``F1_c = 2 (n_c / C) / (n_c + n / C)``; classes absent from the test set score 0,
    as scikit-learn's macro F1 counts them once predicted.

    Parameters
    ----------
    y_test : np.ndarray of str, shape (n,)
    classes : np.ndarray of str, shape (C,)
        Every label the classifier may predict.

    Returns
    -------
    float
    """
    y_test = np.asarray(y_test).astype(str)
    n, C = y_test.size, len(classes)
    counts = np.array([np.sum(y_test == c) for c in np.asarray(classes).astype(str)])
    return float(np.mean(2 * (counts / C) / (counts + n / C)))
