"""Genre classification: standardised features → logistic regression, macro F1.

The study's protocol (REFERENCE_NOTES §3.4): ``Pipeline([StandardScaler,
LogisticRegression(max_iter=20000)])``, a randomized search of 64 draws over
``C ~ loguniform(1e-4, 1e4)`` scored by macro F1 on the single predefined
train → validation fold, refit on train + validation, macro F1 once on test.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import loguniform
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import RandomizedSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from hdpmusic.errors import DataError

__all__ = ["C_RANGE", "SPLITS", "chance_macro_f1", "evaluate_genre", "genre_pipeline",
           "split_indices", "split_sizes"]

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


def genre_pipeline(C: float = 1.0) -> Pipeline:
    """``StandardScaler`` → multinomial ``LogisticRegression`` (lbfgs)."""
    return Pipeline([("scale", StandardScaler()),
                     ("lr", LogisticRegression(C=C, max_iter=MAX_ITER))])


def evaluate_genre(X: np.ndarray, y: np.ndarray, split: np.ndarray, *, n_iter: int = 64,
                   seed: int = 0, n_jobs: int | None = None) -> tuple[float, dict[str, Any]]:
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

    Returns
    -------
    score : float
        Macro F1 over the test songs.
    config : dict
        ``C`` (chosen), ``valid_f1`` (its validation score), ``n_iter``,
        ``split_sizes`` (songs per part),
        ``chance`` (:func:`chance_macro_f1` of the test labels).
    """
    train, valid, test = split_indices(split)
    y = np.asarray(y).astype(str)
    fit_rows = np.concatenate([train, valid])
    fold = [(np.arange(train.size), np.arange(train.size, fit_rows.size))]
    search = RandomizedSearchCV(genre_pipeline(), {"lr__C": loguniform(*C_RANGE)},
                                n_iter=n_iter, scoring="f1_macro", cv=fold, refit=True,
                                random_state=seed, n_jobs=n_jobs)
    search.fit(X[fit_rows], y[fit_rows])
    score = f1_score(y[test], search.predict(X[test]), average="macro")
    config = {"C": float(search.best_params_["lr__C"]), "valid_f1": float(search.best_score_),
              "n_iter": n_iter, "split_sizes": split_sizes(train, valid, test),
              "chance": chance_macro_f1(y[test], np.unique(y))}
    return float(score), config


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
