"""Auto-tagging (MTAT top-50): one binary logistic regression per tag, macro ROC-AUC.

Features are standardised on the fitting rows (``standardise=False``: used as they are,
as for genre, :func:`hdpmusic.evaluation.classification.column_scaler`). Each tag's model
minimises the scikit-learn objective ``C · Σ_i log-loss_i + ½‖w‖²`` (intercept
unpenalised). Two interchangeable solvers:

* ``"torch"`` — all tags at once as one linear layer with BCE, full-batch L-BFGS
  (float64 on the CPU, float32 on a GPU), warm-started along the sorted search draws;
* ``"sklearn"`` — one ``LogisticRegression`` (lbfgs) per tag.

Representations at least twice as wide as the fitting songs are fitted in the span of their rows
(:func:`~hdpmusic.evaluation.classification.probe_columns`: the same optimum and logits),
each fold's columns built once for all its draws of C.

The regularisation C is searched over ``loguniform(1e-4, 1e4)`` draws on the predefined
validation songs, the model refit on train + validation, and scored by macro ROC-AUC over
the tags with at least one positive and one negative test song (macro PR-AUC, the
average precision, beside it). A tag without both classes among the fitting songs gets
a constant score. Collections without a fixed split: :func:`cross_validate_tagging`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.stats import loguniform
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score

from hdpmusic.evaluation import resolve_device
from hdpmusic.evaluation.classification import (
    C_RANGE,
    probe_columns,
    split_indices,
    split_sizes,
)
from hdpmusic.evaluation.folds import (
    INNER_SPLITS,
    derived_seed,
    inner_folds,
    rarest_tag,
    repeated_folds,
)
from hdpmusic.evaluation.predictions import Predictions, concatenate
from hdpmusic.runtime.errors import DataError, ParameterError
from hdpmusic.runtime.threads import get_threads, limit

__all__ = ["BACKENDS", "CHANCE_AUC", "cross_validate_tagging", "evaluate_tagging",
           "fit_logistic_sklearn", "fit_logistic_torch", "macro_ap", "macro_auc"]

BACKENDS = ("torch", "sklearn")
#: fits with fewer entries (songs × dims × tags) than this run on one thread: thread
#: synchronisation costs more than it saves, and stalls on a busy machine
SINGLE_THREAD_SIZE = 1 << 22
#: expected macro ROC-AUC of random scores
CHANCE_AUC = 0.5
MAX_ITER = 1000

Weights = tuple[np.ndarray, np.ndarray]
"""``(W, b)``: coefficients (D, n_tags) and intercepts (n_tags,)."""


def macro_auc(Y: np.ndarray, scores: np.ndarray) -> tuple[float, np.ndarray]:
    """Macro ROC-AUC over the tags that have both a positive and a negative song.

    Parameters
    ----------
    Y : np.ndarray of bool, shape (n, n_tags)
    scores : np.ndarray, shape (n, n_tags)
        Any score monotone in the predicted probability (logits).

    Returns
    -------
    auc : float
    scored : np.ndarray of bool, shape (n_tags,)
        Which tags entered the mean.

    Raises
    ------
    DataError
        If no tag has both classes.
    """
    Y = np.asarray(Y, dtype=bool)
    positives = Y.sum(axis=0)
    scored = (positives > 0) & (positives < Y.shape[0])
    if not scored.any():
        raise DataError("no tag has both positive and negative songs to score")
    return float(roc_auc_score(Y[:, scored], scores[:, scored], average="macro")), scored


def macro_ap(Y: np.ndarray, scores: np.ndarray) -> float:
    """Macro average precision (PR-AUC) over the tags with both a positive and a negative
    song (those :func:`macro_auc` scores).

    Parameters
    ----------
    Y : np.ndarray of bool, shape (n, n_tags)
    scores : np.ndarray, shape (n, n_tags)

    Returns
    -------
    float
    """
    Y = np.asarray(Y, dtype=bool)
    scored = _fittable(Y)
    if not scored.any():
        raise DataError("no tag has both positive and negative songs to score")
    return float(average_precision_score(Y[:, scored], scores[:, scored], average="macro"))


def _fittable(Y: np.ndarray) -> np.ndarray:
    """Tags with both classes among the rows of ``Y`` (n, n_tags) → bool (n_tags,)."""
    positives = Y.sum(axis=0)
    return (positives > 0) & (positives < Y.shape[0])


def _constant_intercepts(Y: np.ndarray) -> np.ndarray:
    """Clipped log-odds of each tag's frequency (n_tags,): the score of unfittable tags."""
    rate = np.clip(Y.mean(axis=0), 1e-6, 1 - 1e-6)
    return np.log(rate / (1 - rate))


def fit_logistic_sklearn(X: np.ndarray, Y: np.ndarray, C: float, *,
                         tol: float = 1e-4) -> Weights:
    """One scikit-learn ``LogisticRegression`` per tag.

    Parameters
    ----------
    X : np.ndarray, shape (n, D)
        Standardised features.
    Y : np.ndarray of bool, shape (n, n_tags)
    C : float
        Inverse regularisation strength.
    tol : float
        lbfgs stopping tolerance (scikit-learn's default; looser than the torch
        solver's).

    Returns
    -------
    W : np.ndarray, shape (D, n_tags)
    b : np.ndarray, shape (n_tags,)
    """
    W = np.zeros((X.shape[1], Y.shape[1]))
    b = _constant_intercepts(Y)
    for tag in np.flatnonzero(_fittable(Y)):
        model = LogisticRegression(C=C, tol=tol, max_iter=MAX_ITER).fit(X, Y[:, tag])
        W[:, tag], b[tag] = model.coef_[0], model.intercept_[0]
    return W, b


def fit_logistic_torch(X: np.ndarray, Y: np.ndarray, C: float, *, device: str = "cpu",
                       init: Weights | None = None, max_iter: int = MAX_ITER,
                       tol: float = 1e-6) -> Weights:
    """All tags' logistic regressions at once: BCE + L2, full-batch L-BFGS.

    Minimises ``Σ_tags [Σ_i BCE_i + ‖w‖² / (2C)] / n``, the scikit-learn objective
    divided by n, so the solution equals :func:`fit_logistic_sklearn`'s.

    Parameters
    ----------
    X : np.ndarray, shape (n, D)
        Standardised features.
    Y : np.ndarray of bool, shape (n, n_tags)
    C : float
        Inverse regularisation strength.
    device : str
        A torch device (``"auto"`` picks CUDA when present); float64 on the CPU,
        float32 on a GPU.
    init : (W, b), optional
        Warm start (a solution for a nearby C).
    max_iter : int
        L-BFGS iteration cap.
    tol : float
        Stop when the largest gradient entry falls below this.

    Returns
    -------
    W : np.ndarray, shape (D, n_tags)
    b : np.ndarray, shape (n_tags,)
    """
    import torch
    import torch.nn.functional as F

    dev = resolve_device(device)
    dtype = torch.float64 if dev.type == "cpu" else torch.float32
    fittable = _fittable(Y)
    Xt = torch.as_tensor(X, dtype=dtype, device=dev)
    Yt = torch.as_tensor(Y[:, fittable], dtype=dtype, device=dev)
    if init is None:
        w0, b0 = np.zeros((X.shape[1], Y.shape[1])), _constant_intercepts(Y)
    else:
        w0, b0 = init
    d, n_fit = X.shape[1], int(fittable.sum())
    theta = torch.tensor(np.concatenate([w0[:, fittable].ravel(), b0[fittable]]),
                         dtype=dtype, device=dev, requires_grad=True)
    n = X.shape[0]
    optimiser = torch.optim.LBFGS([theta], lr=1.0, max_iter=max_iter, history_size=20,
                                  tolerance_grad=tol,
                                  tolerance_change=10 * torch.finfo(dtype).eps,
                                  line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        W, b = theta[:d * n_fit].view(d, n_fit), theta[d * n_fit:]
        logits = Xt @ W + b
        loss = (F.binary_cross_entropy_with_logits(logits, Yt, reduction="sum")
                + (W * W).sum() / (2 * C)) / n
        loss.backward()
        return loss

    if fittable.any():
        optimiser.step(closure)
    W_out = np.zeros((X.shape[1], Y.shape[1]))
    b_out = _constant_intercepts(Y)
    solution = theta.detach().cpu().numpy()
    W_out[:, fittable] = solution[:d * n_fit].reshape(d, n_fit)
    b_out[fittable] = solution[d * n_fit:]
    return W_out, b_out


def _solver(backend: str, device: str) -> Callable[[np.ndarray, np.ndarray, float,
                                                    Weights | None], Weights]:
    if backend == "torch":
        return lambda X, Y, C, init: fit_logistic_torch(X, Y, C, device=device, init=init)
    if backend == "sklearn":
        return lambda X, Y, C, init: fit_logistic_sklearn(X, Y, C)
    raise ParameterError(f"tagging backend must be one of {', '.join(BACKENDS)}; "
                         f"got {backend!r}")


def _probe_space(X_fit: np.ndarray, X_apply: np.ndarray,
                 standardise: bool) -> tuple[np.ndarray, np.ndarray]:
    """The fitting and the applied rows in the columns the model is fitted on
    (:func:`~hdpmusic.evaluation.classification.probe_columns`, fitted on ``X_fit``)."""
    columns = probe_columns(standardise).fit(X_fit)
    return columns.transform(X_fit), columns.transform(X_apply)


def _fit_scores(solve: Callable[..., Weights], A_fit: np.ndarray, Y_fit: np.ndarray,
                A_apply: np.ndarray, C: float, init: Weights | None,
                ) -> tuple[np.ndarray, Weights]:
    """Fit on the rows ``A_fit`` of :func:`_probe_space`; logits of ``A_apply``."""
    W, b = solve(A_fit, Y_fit, C, init)
    return A_apply @ W + b, (W, b)


def evaluate_tagging(X: np.ndarray, Y: np.ndarray, split: np.ndarray, *, n_iter: int = 32,
                     seed: int = 0, backend: str = "torch", device: str = "cpu",
                     groups: np.ndarray | None = None, predictions: bool = False,
                     standardise: bool = True) -> tuple[Any, ...]:
    """Macro ROC-AUC on the test songs after a validation search over C.

    Parameters
    ----------
    X : np.ndarray, shape (J, D)
        Song representations.
    Y : np.ndarray of bool, shape (J, n_tags)
        Tag annotations.
    split : np.ndarray of str, shape (J,)
        ``train`` / ``valid`` / ``test`` per song (other values are left out).
    n_iter : int
        Draws of C from ``loguniform(1e-4, 1e4)``.
    seed : int
        Seed of the draws.
    backend : {"torch", "sklearn"}
        Solver (same objective).
    device : str
        Torch device for the ``"torch"`` backend.
    groups : np.ndarray, shape (J,), optional
        Resampling unit of each song in the returned predictions (default: the song).
    predictions : bool
        Also return the test songs' :class:`~hdpmusic.evaluation.predictions.Predictions`
        (true tags and logits).
    standardise : bool, default=True
        Standardise the columns on the fitting songs.

    Fits smaller than :data:`SINGLE_THREAD_SIZE` (songs × dims × tags) run on one
    thread; larger ones on :func:`hdpmusic.runtime.threads.get_threads`.

    Returns
    -------
    score : float
        Macro ROC-AUC over the scored test tags.
    config : dict
        ``C``, ``valid_auc``, ``n_iter``, ``backend``, ``n_tags`` (scored in test),
        ``n_tags_total``, ``split_sizes``, ``chance`` (0.5, random scores),
        ``pr_auc_macro`` (:func:`macro_ap` over the same tags).
    predictions : Predictions
        Only with ``predictions=True``.
    """

    Y = np.asarray(Y, dtype=bool)
    train, valid, test = split_indices(split)
    solve = _solver(backend, device)
    with _threads(X, Y):
        best_C, best_auc = _choose_C(solve, X, Y, [(train, valid)], n_iter=n_iter, seed=seed,
                                     standardise=standardise)
        fit_rows = np.concatenate([train, valid])
        A_fit, A_test = _probe_space(X[fit_rows], X[test], standardise)
        logits, _ = _fit_scores(solve, A_fit, Y[fit_rows], A_test, best_C, None)
    score, scored = macro_auc(Y[test], logits)
    config = {"C": best_C, "valid_auc": float(best_auc), "n_iter": n_iter,
              "standardise": standardise, "backend": backend, "n_tags": int(scored.sum()),
              "n_tags_total": Y.shape[1],
              "split_sizes": split_sizes(train, valid, test), "chance": CHANCE_AUC,
              "pr_auc_macro": macro_ap(Y[test], logits)}
    if not predictions:
        return score, config
    rows = np.arange(Y.shape[0]) if groups is None else np.asarray(groups)
    return score, config, Predictions(rows[test], np.zeros(test.size), logits, Y[test])


def cross_validate_tagging(X: np.ndarray, Y: np.ndarray, groups: np.ndarray | None = None,
                           *, n_splits: int = 5, repeats: int = 3, n_iter: int = 32,
                           seed: int = 0, backend: str = "torch", device: str = "cpu",
                           standardise: bool = True) -> tuple[float, dict[str, Any], Any]:
    """Macro ROC-AUC of out-of-fold logits, repeated stratified group K-fold.

    As :func:`hdpmusic.evaluation.classification.cross_validate_genre`, songs stratified
    by their rarest tag (:func:`hdpmusic.evaluation.folds.rarest_tag`): every song is
    scored once per repeat by the model of the folds it was left out of (C chosen by an
    inner group cross-validation on those folds); a repeat's score is the macro ROC-AUC
    of its pooled out-of-fold logits, the score the mean over repeats.

    Parameters
    ----------
    X : np.ndarray, shape (J, D)
    Y : np.ndarray of bool, shape (J, n_tags)
    groups : np.ndarray, shape (J,), optional
        Group of each song (default: each song its own).
    n_splits, repeats : int
        K (default 5) and repeats (default 3).
    n_iter, seed, backend, device, standardise
        As :func:`evaluate_tagging`.

    Returns
    -------
    score : float
    config : dict
        ``cv``, ``C`` (per repeat and fold), ``repeat_scores``, ``n_iter``, ``standardise``,
        ``backend``,
        ``n_tags_total``, ``n_songs``, ``chance``, ``pr_auc_macro`` (mean over repeats).
    predictions : Predictions
        One block per repeat.
    """

    Y = np.asarray(Y, dtype=bool)
    groups = np.arange(Y.shape[0]) if groups is None else np.asarray(groups)
    strata = rarest_tag(Y)
    solve = _solver(backend, device)
    chosen, repeat_scores, pr_aucs, blocks = [], [], [], []
    with _threads(X, Y):
        for r, folds in enumerate(repeated_folds(strata, groups, n_splits, repeats, seed)):
            logits = np.empty(Y.shape)
            for f, (train, test) in enumerate(folds):
                inner = [(train[a], train[b]) for a, b in
                         inner_folds(strata[train], groups[train], derived_seed(seed, r, f, 0))]
                C, _ = _choose_C(solve, X, Y, inner, n_iter=n_iter,
                                 seed=derived_seed(seed, r, f, 1), standardise=standardise)
                A_fit, A_test = _probe_space(X[train], X[test], standardise)
                logits[test], _ = _fit_scores(solve, A_fit, Y[train], A_test, C, None)
                chosen.append(C)
            repeat_scores.append(macro_auc(Y, logits)[0])
            pr_aucs.append(macro_ap(Y, logits))
            blocks.append(Predictions(groups, np.full(Y.shape[0], r), logits, Y))
    config = {"cv": {"folds": n_splits, "repeats": repeats, "inner_folds": INNER_SPLITS},
              "C": chosen, "repeat_scores": repeat_scores, "n_iter": n_iter,
              "standardise": standardise, "backend": backend, "n_tags_total": Y.shape[1],
              "n_songs": int(Y.shape[0]),
              "chance": CHANCE_AUC, "pr_auc_macro": float(np.mean(pr_aucs))}
    return float(np.mean(repeat_scores)), config, concatenate(blocks)


def _threads(X: np.ndarray, Y: np.ndarray) -> Any:
    """One thread for small fits, :func:`hdpmusic.runtime.threads.get_threads` otherwise."""

    small = X.shape[0] * X.shape[1] * Y.shape[1] < SINGLE_THREAD_SIZE
    return limit(1 if small else get_threads())


def _choose_C(solve: Callable[..., Weights], X: np.ndarray, Y: np.ndarray,
              folds: list[tuple[np.ndarray, np.ndarray]], *, n_iter: int, seed: int,
              standardise: bool) -> tuple[float, float]:
    """The C of ``n_iter`` log-uniform draws with the best mean validation macro ROC-AUC
    over ``folds`` (fits warm-started along the sorted draws, per fold).

    Returns
    -------
    C, auc : float

    Raises
    ------
    DataError
        No fold has a tag with both classes among its validation songs.
    """
    draws = np.sort(loguniform(*C_RANGE).rvs(size=n_iter, random_state=seed))
    best_C, best_auc = float(draws[0]), -np.inf
    weights: list[Weights | None] = [None] * len(folds)
    spaces = [_probe_space(X[fit], X[valid], standardise) for fit, valid in folds]
    for C in draws:
        aucs = []
        for i, (fit, valid) in enumerate(folds):
            A_fit, A_valid = spaces[i]
            logits, weights[i] = _fit_scores(solve, A_fit, Y[fit], A_valid, C, weights[i])
            if _fittable(Y[valid]).any():
                aucs.append(macro_auc(Y[valid], logits)[0])
        if not aucs:
            raise DataError("no tag has both positive and negative validation songs to "
                            "choose C on")
        if np.mean(aucs) > best_auc:
            best_C, best_auc = float(C), float(np.mean(aucs))
    return best_C, best_auc
