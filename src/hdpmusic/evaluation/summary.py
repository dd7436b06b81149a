"""Summaries of results: mean ± SD over runs, a 95 % bootstrap CI, paired differences.

The CI of a (model, task) is a percentile bootstrap over the task's test songs (whole
groups where the task has them; users for recommendation): each resample redraws the
units once, every run of the model is rescored on it (its predictions kept by the
protocol, :class:`~hdpmusic.evaluation.predictions.Predictions`) and the runs' scores
are averaged, as the reported mean is. All models of a task share the resamples, so
the difference of two models on each resample gives a **paired** bootstrap of their
difference (:func:`paired_differences`). Results without kept predictions (files of
format version 1) have no CI (NaN).

A model may come as several **fits** (the same model fitted with several seeds, each fit's
representations scored by its own runs; ``config["fit"]`` tells them apart). A learned
representation varies with its fit, and one fit's intervals hold that fixed; with
several, each resample also redraws the fits with replacement (independently for every
model: fits of two models are not paired) and averages the drawn fits' mean scores, so
the CI and the paired differences cover the fit-to-fit variation too (a two-level
bootstrap: fits, then songs). One fit gives exactly the one-level bootstrap.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hdpmusic.evaluation.predictions import bootstrap_records
from hdpmusic.evaluation.uncertainty import (
    CONFIDENCE,
    N_RESAMPLES,
    paired_difference,
    percentile_interval,
)

if TYPE_CHECKING:
    from hdpmusic.evaluation.results import RunResult

__all__ = ["format_paired", "format_summary", "model_distributions", "paired_differences",
           "summarise"]


def _by_model(results: Sequence[RunResult]) -> dict[tuple[str, str, str], list[RunResult]]:
    groups: dict[tuple[str, str, str], list[RunResult]] = {}
    for r in results:
        groups.setdefault((r.model, r.task, r.metric), []).append(r)
    return groups


def model_distributions(results: Sequence[RunResult], *, n_resamples: int = N_RESAMPLES,
                        seed: int = 0) -> dict[tuple[str, str], dict[str, np.ndarray]]:
    """Each model's bootstrap distribution of its mean score, per task, paired.

    Parameters
    ----------
    results : sequence of RunResult
        A model enters when every one of its runs on the task kept predictions.
    n_resamples : int
        Resamples (default 1000).
    seed : int
        Seed of the draws (default 0): the same results give the same distributions.

    Returns
    -------
    dict
        ``(task, metric) → model → np.ndarray (n_resamples,)``: the mean over the
        model's runs of each run's score on the resample (several fits: the mean over a
        draw of its fits, with replacement, of each fit's mean, drawn from the model's
        name, so that other models in ``results`` do not change them); the models of a
        task share the resamples of songs.
    """
    tasks: dict[tuple[str, str], dict[str, list[RunResult]]] = {}
    for (model, task, metric), runs in _by_model(results).items():
        if all(r.predictions is not None for r in runs):
            tasks.setdefault((task, metric), {})[model] = runs
    out: dict[tuple[str, str], dict[str, np.ndarray]] = {}
    for (task, metric), models in tasks.items():
        runs = [r for group in models.values() for r in group]
        stats = bootstrap_records([(r.predictions, metric) for r in runs],
                                  n_resamples=n_resamples, seed=seed)
        bounds = np.cumsum([0, *(len(group) for group in models.values())])
        out[(task, metric)] = {
            model: _over_fits(stats[bounds[i]:bounds[i + 1]], _fits(group),
                              np.random.default_rng([seed, 1, zlib.crc32(model.encode())]))
            for i, (model, group) in enumerate(models.items())}
    return out


def _fits(runs: Sequence[RunResult]) -> np.ndarray:
    """The fit of each run (``config["fit"]``, 0 where absent), numbered 0, 1, ...."""
    names = [r.config.get("fit", 0) for r in runs]
    return np.unique(names, return_inverse=True)[1].reshape(-1)


def _over_fits(stats: np.ndarray, fit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A model's distribution of its mean score from its runs' ``stats`` (runs, B): the
    runs' mean for one fit; for several, per resample the mean over a draw of the fits
    (with replacement) of each fit's runs' mean."""
    with np.errstate(all="ignore"):
        n_fits = int(fit.max()) + 1
        if n_fits == 1:
            return np.mean(stats, axis=0)
        per_fit = np.stack([np.mean(stats[fit == f], axis=0) for f in range(n_fits)])
        draws = rng.integers(n_fits, size=(stats.shape[1], n_fits))
        return np.mean(per_fit[draws, np.arange(stats.shape[1])[:, None]], axis=1)


def summarise(results: Sequence[RunResult], *, n_resamples: int = N_RESAMPLES,
              seed: int = 0, confidence: float = CONFIDENCE,
              distributions: dict[tuple[str, str], dict[str, np.ndarray]] | None = None,
              ) -> list[dict[str, Any]]:
    """Mean ± SD of the scores per (model, task), with its bootstrap CI, in order of
    first appearance.

    Parameters
    ----------
    results : sequence of RunResult
    n_resamples, seed
        Of the bootstrap (default 1000 resamples, seed 0).
    confidence : float
        Coverage of the CI (default 0.95).
    distributions : dict, optional
        :func:`model_distributions` of ``results``, when already computed.

    Returns
    -------
    list of dict
        ``model``, ``task``, ``metric``, ``runs``, ``fits``, ``mean`` (over all runs of
        all fits), ``sd`` (sample SD over them, ddof = 1; NaN for a single run),
        ``ci_low``, ``ci_high`` (percentile bootstrap CI of the mean over test songs or
        groups, and fits where there are several; NaN without kept predictions),
        ``chance`` (mean of the runs' chance levels; NaN where the results record none).
    """
    if distributions is None:
        distributions = model_distributions(results, n_resamples=n_resamples, seed=seed)
    rows = []
    for (model, task, metric), group in _by_model(results).items():
        scores = [r.score for r in group]
        chance = [float(r.config["chance"]) for r in group if "chance" in r.config]
        samples = distributions.get((task, metric), {}).get(model)
        low, high = (float("nan"),) * 2 if samples is None else \
            percentile_interval(samples, confidence)
        rows.append({"model": model, "task": task, "metric": metric, "runs": len(scores),
                     "fits": int(_fits(group).max()) + 1, "mean": float(np.mean(scores)),
                     "sd": float(np.std(scores, ddof=1)) if len(scores) > 1 else float("nan"),
                     "ci_low": low, "ci_high": high,
                     "chance": float(np.mean(chance)) if chance else float("nan")})
    return rows


def paired_differences(results: Sequence[RunResult], *, n_resamples: int = N_RESAMPLES,
                       seed: int = 0, confidence: float = CONFIDENCE,
                       distributions: dict[tuple[str, str], dict[str, np.ndarray]]
                       | None = None) -> list[dict[str, Any]]:
    """Paired bootstrap differences between every two models of each task.

    Parameters
    ----------
    results : sequence of RunResult
    n_resamples, seed, confidence, distributions
        As :func:`summarise`.

    Returns
    -------
    list of dict
        One per task and pair of models (in order of first appearance, ``model_a``
        before ``model_b``): ``task``, ``metric``, ``model_a``, ``model_b``,
        ``difference`` (mean of a − mean of b), ``ci_low``, ``ci_high`` (percentile
        CI of the difference over the shared resamples), ``wins_a``, ``wins_b`` (share
        of the resamples where each scores higher), ``resamples``.
    """
    if distributions is None:
        distributions = model_distributions(results, n_resamples=n_resamples, seed=seed)
    means = {(r["model"], r["task"], r["metric"]): r["mean"]
             for r in summarise(results, distributions=distributions)}
    rows = []
    for (task, metric), models in distributions.items():
        names = list(models)
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                stats = paired_difference(models[a], models[b], confidence)
                rows.append({"task": task, "metric": metric, "model_a": a, "model_b": b,
                             "difference": means[(a, task, metric)] - means[(b, task, metric)],
                             "ci_low": stats["low"], "ci_high": stats["high"],
                             "wins_a": stats["wins_a"], "wins_b": stats["wins_b"],
                             "resamples": int(models[a].size)})
    return rows


def _interval(low: float, high: float, digits: int = 4) -> str:
    return "" if not (np.isfinite(low) and np.isfinite(high)) else \
        f"[{low:.{digits}f}, {high:.{digits}f}]"


def _columns(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[c]) for row in [header, *rows]) for c in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
                     .rstrip() for row in [header, *rows])


def format_summary(summary: Sequence[dict[str, Any]]) -> str:
    """A plain-text table of :func:`summarise`'s rows (the mean alone for one run; the
    CI column blank without one; "6 of 2 fits": runs of a model fitted twice)."""
    header = ("model", "task", "metric", "runs", "mean ± sd", "95 % CI", "chance")
    rows = [(s["model"], s["task"], s["metric"],
             str(s["runs"]) + (f" of {s['fits']} fits" if s.get("fits", 1) > 1 else ""),
             f"{s['mean']:.4f}" + ("" if np.isnan(s["sd"]) else f" ± {s['sd']:.4f}"),
             _interval(s.get("ci_low", np.nan), s.get("ci_high", np.nan)),
             "" if np.isnan(s.get("chance", np.nan)) else f"{s['chance']:.4f}")
            for s in summary]
    return _columns(header, rows)


def format_paired(rows: Sequence[dict[str, Any]]) -> str:
    """A plain-text table of :func:`paired_differences`, one block per task."""
    blocks = []
    for task in dict.fromkeys(r["task"] for r in rows):
        mine = [r for r in rows if r["task"] == task]
        header = ("A", "B", "A − B", "95 % CI", "A wins", "B wins")
        table = [(r["model_a"], r["model_b"], f"{r['difference']:+.4f}",
                  _interval(r["ci_low"], r["ci_high"]), f"{r['wins_a']:.1%}",
                  f"{r['wins_b']:.1%}") for r in mine]
        blocks.append(f"paired differences on {task} ({mine[0]['metric']}; "
                      f"{mine[0]['resamples']} paired bootstrap resamples of the test "
                      f"songs, groups or users):\n" + _columns(header, table))
    return "\n\n".join(blocks)
