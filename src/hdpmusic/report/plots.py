"""The report's figures (matplotlib, Agg): scores, learning factors, training traces,
confusion matrices, component feature profiles.

Choices that keep the figures honest and readable:

* Scores are **dot plots**: one row per model, each run a small dot, the mean a diamond
  with a ±SD bar, behind it a broad band: the 95 % bootstrap CI over the test songs
  (when the results kept predictions) — the SD over runs measures the runs' randomness
  only, the CI the noise of the test set. A dot's position, not a bar's length,
  carries the value, so the axis need not start at 0 — it starts at the task's
  **chance level** (the score of an uninformed predictor, drawn as a dashed line with
  the region below it shaded), or, when the results record none, at the metric's floor
  (0 for F1 and nDCG, 0.5 for ROC-AUC).
  The distance from that line is the gain over chance, on the same scale for every model
  of the panel.
  Every metric the report scores tops out at 1, and so does the axis.
* Legends sit below the panels, outside the data; labels are the metrics' and models'
  display names (:mod:`hdpmusic.report.labels`); every panel has a title.
* Figures are drawn in matplotlib's bundled DejaVu fonts (:data:`STYLE`), which hold
  every glyph they use, whatever font a user's matplotlibrc sets.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hdpmusic.evaluation.protocol import RunResult
from hdpmusic.formats.atomic import atomic_path
from hdpmusic.report.labels import metric_label, model_label
from hdpmusic.report.tables import History, MainTable, epoch_means, weight_summary

__all__ = ["HIDDEN_GROUPS", "METRIC_FLOOR", "SCORE_CEILING", "STYLE", "confusion_figure",
           "factor_figure", "hidden_groups", "model_figure", "profile_columns",
           "profile_figure", "save_figure", "score_limits", "scores_figure"]

METRIC_FLOOR = {"roc_auc_macro": 0.5}
"""Lower end of a score axis when no chance level is recorded (default 0)."""
SCORE_CEILING = 1.0
"""The highest score of every metric (F1, ROC-AUC, nDCG): no score axis goes past it."""
STYLE = {"font.family": "DejaVu Sans", "mathtext.fontset": "dejavusans"}
"""matplotlib settings of every figure: the fonts bundled with matplotlib, which hold the
glyphs the figures use (the minus sign of negative ticks, η, 𝔼 in math text)."""

_RUN = dict(s=14, color="#4c72b0", alpha=0.6, linewidths=0, zorder=3)
_MEAN = dict(fmt="D", color="#1b1b1b", ms=5, capsize=3, lw=1.2, zorder=4)
_CI = dict(fmt="none", ecolor="#dd8452", elinewidth=5, alpha=0.55, capsize=0, zorder=2)
_CHANCE = dict(ls="--", color="#b22222", lw=1.1)
_BELOW = dict(color="#eeeeee", zorder=0)
_NOTE_COLOR = "#b22222"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _styled(draw: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``draw`` under :data:`STYLE` (text takes its font when created, math text when
    drawn: both the figure functions and :func:`save_figure` are wrapped)."""
    @functools.wraps(draw)
    def styled(*args: Any, **kwargs: Any) -> Any:
        with _pyplot().rc_context(STYLE):
            return draw(*args, **kwargs)
    return styled


@_styled
def save_figure(fig: Any, path: Path, dpi: int = 110) -> None:
    """Write a figure as PNG (atomically, the legends below the axes included) and
    close it."""
    plt = _pyplot()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)


def score_limits(values: np.ndarray, baseline: float,
                 ceiling: float = SCORE_CEILING) -> tuple[float, float]:
    """Axis limits of a score panel: from ``baseline`` (or below it, when a value is)
    to the highest value (scores, mean ± SD, CI), with a 6 % margin that stops at
    ``ceiling`` (a mean + SD past it is cut there, as no score can be)."""
    lo = min(float(np.min(values)), baseline)
    hi = min(max(float(np.max(values)), baseline), ceiling)
    pad = 0.06 * (hi - lo) if hi > lo else 0.05 * max(abs(hi), 1e-3)
    return lo - pad, min(hi + pad, ceiling)


def _legend_below(fig: Any, handles: Sequence[Any], ncol: int | None = None) -> None:
    fig.legend(handles=list(handles), loc="upper center", bbox_to_anchor=(0.5, 0.0),
               ncol=ncol or len(handles), fontsize=8, frameon=False)


@_styled
def scores_figure(results: Sequence[RunResult], table: MainTable) -> Any:
    """One titled dot-plot panel per task, the models as rows (see the module doc).

    Parameters
    ----------
    results : sequence of RunResult
        Labelled as the rows of ``table`` (:func:`~hdpmusic.report.tables.relabel`).
    table : MainTable
        Its models, tasks, metrics and chance levels.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _pyplot()
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    scores: dict[tuple[str, str], list[float]] = {}
    for r in results:
        scores.setdefault((r.model, r.task), []).append(r.score)
    models, tasks = table.models, table.tasks
    fig, axes = plt.subplots(1, len(tasks), sharey=True, squeeze=False,
                             figsize=(3.5 * len(tasks) + 1.2, 0.42 * len(models) + 1.3))
    rng = np.random.default_rng(0)
    y = np.arange(len(models))
    for ax, task in zip(axes[0], tasks, strict=True):
        metric = table.metrics[task]
        chance = table.chance.get(task)
        baseline = chance if chance is not None else METRIC_FLOOR.get(metric, 0.0)
        shown = []
        for i, model in enumerate(models):
            pts = np.asarray(scores.get((model, task), []), dtype=np.float64)
            if pts.size == 0:
                continue
            ax.scatter(pts, i + rng.uniform(-0.16, 0.16, pts.size), **_RUN)
            sd = float(np.std(pts, ddof=1)) if pts.size > 1 else 0.0
            cell = table.cells.get((model, task))
            if cell is not None and cell.ci_text():
                ax.errorbar([pts.mean()], [i], xerr=[[pts.mean() - cell.ci_low],
                                                     [cell.ci_high - pts.mean()]], **_CI)
                shown.append(np.array([cell.ci_low, cell.ci_high]))
            ax.errorbar([pts.mean()], [i], xerr=[sd], **_MEAN)
            shown.append(np.append(pts, [pts.mean() - sd, pts.mean() + sd]))
        lo, hi = score_limits(np.concatenate(shown), baseline)
        ax.set_xlim(lo, hi)
        if chance is not None:
            ax.axvspan(lo, chance, **_BELOW)
            ax.axvline(chance, **_CHANCE)
        ax.set_title(task, fontsize=10)
        ax.set_xlabel(metric_label(metric))
        ax.grid(axis="x", color="#dddddd", lw=0.6)
        ax.set_axisbelow(True)
    axes[0][0].set_yticks(y, [model_label(m) for m in models])
    axes[0][0].set_ylim(len(models) - 0.5, -0.5)        # first model on top
    handles = [Line2D([], [], ls="", marker="o", color=_RUN["color"], alpha=0.6, label="run"),
               Line2D([], [], ls="-", marker="D", color="#1b1b1b", ms=5,
                      label="mean ± SD over runs")]
    if any(c.ci_text() for c in table.cells.values()):
        handles.append(Line2D([], [], color=_CI["ecolor"], lw=_CI["elinewidth"],
                              alpha=_CI["alpha"], label="95 % CI (bootstrap over test songs)"))
    if table.chance:
        handles += [Line2D([], [], label="chance level", **_CHANCE),
                    Patch(label="below chance", **_BELOW)]
    fig.tight_layout()
    _legend_below(fig, handles)
    return fig


@_styled
def confusion_figure(matrices: Mapping[str, tuple[Sequence[str], np.ndarray]],
                     task: str) -> Any:
    """One titled panel per model: its confusion matrix on a genre task, each row (true
    class) as shares of its songs, the counts written in the cells when they fit.

    Parameters
    ----------
    matrices : mapping
        ``model → (labels, matrix (C, C))``
        (:func:`~hdpmusic.report.tables.confusion_matrices`), rows the true class.
    task : str
        The task, in the titles.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _pyplot()
    models = list(matrices)
    size = max(len(labels) for labels, _ in matrices.values())
    side = min(max(2.6, 0.42 * size + 1.4), 7.0)
    fig, axes = plt.subplots(1, len(models), squeeze=False,
                             figsize=(side * len(models) + 0.8, side + 0.6))
    image = None
    for ax, model in zip(axes[0], models, strict=True):
        labels, matrix = matrices[model]
        matrix = np.asarray(matrix, dtype=np.float64)
        shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
        image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
        ticks = np.arange(len(labels))
        ax.set_xticks(ticks, labels, rotation=60, ha="right", fontsize=8)
        ax.set_yticks(ticks, labels, fontsize=8)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{model_label(model)} on {task}", fontsize=10)
        if len(labels) <= 12:
            for (row, col), count in np.ndenumerate(matrix):
                ax.text(col, row, f"{count:g}", ha="center", va="center", fontsize=7,
                        color="white" if shares[row, col] > 0.6 else "#1b1b1b")
    fig.tight_layout()
    fig.colorbar(image, ax=list(axes[0]), shrink=0.8, label="share of the true class")
    return fig


@_styled
def factor_figure(series: Mapping[str, Mapping[str, Mapping[str, np.ndarray]]],
                  xlabel: str, ylabels: Mapping[str, str] | None = None) -> Any:
    """One titled panel per task: mean ± SD against the factor (log x when positive), and
    the per-run points; one legend below the panels.

    ``ylabels`` gives the metric identifier of each task.
    """
    plt = _pyplot()
    tasks = list(series)
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.2), squeeze=False)
    colours: dict[str, Any] = {}
    handles = []
    for ax, task in zip(axes[0], tasks, strict=True):
        for label, s in series[task].items():
            if label not in colours:
                colours[label] = f"C{len(colours) % 10}"
            line = ax.errorbar(s["x"], s["mean"], yerr=s["sd"], marker="o", capsize=3,
                               color=colours[label], label=model_label(label))
            if model_label(label) not in [h.get_label() for h in handles]:
                handles.append(line)
            ax.scatter(s["points_x"], s["points_y"], s=8, alpha=0.5, color=colours[label])
        if np.all(np.concatenate([s["x"] for s in series[task].values()]) > 0):
            ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(metric_label((ylabels or {}).get(task, "score")))
        ax.set_title(task, fontsize=10)
    fig.tight_layout()
    _legend_below(fig, handles, ncol=min(len(handles), 3))
    return fig


def _objective_panel(ax: Any, hist: History) -> list[Any]:
    if not np.isfinite(hist.objective).any():
        ax.text(0.5, 0.5, "not recorded", ha="center", va="center", transform=ax.transAxes)
        ax.set_title("Objective", fontsize=10)
        return []
    per_record = hist.x_label == "update"
    (line,) = ax.plot(hist.x, hist.objective, marker="." if len(hist) < 60 else None,
                      alpha=0.45 if per_record else 1.0, color="C0",
                      label="per mini-batch" if per_record else f"per {hist.x_label}")
    handles = [line]
    x, means = epoch_means(hist)
    if len(x) > 1:
        (mean_line,) = ax.plot(x, means, color="C3", marker="o", ms=3,
                               label=f"{hist.group_label} mean")
        handles.append(mean_line)
    ax.set_xlabel(hist.x_label)
    ax.set_ylabel(hist.objective_label)
    ax.set_title(f"{hist.objective_label} over training", fontsize=10)
    return handles


def _counts_panel(ax: Any, hist: History) -> list[Any]:
    ax.set_title("Components over training", fontsize=10)
    if not hist.counts:
        ax.text(0.5, 0.5, "not recorded", ha="center", va="center", transform=ax.transAxes)
        return []
    handles = []
    flat = []
    for i, (label, values) in enumerate(hist.counts.items()):
        (line,) = ax.plot(hist.x, values, color=f"C{i + 1}", label=label,
                          marker="." if len(hist) < 60 else None)
        handles.append(line)
        finite = values[np.isfinite(values)]
        if finite.size and np.all(finite == finite[0]):
            flat.append(f"{label}: {finite[0]:g} throughout")
    if flat:
        top = max(float(np.nanmax(v)) for v in hist.counts.values())
        ax.set_ylim(0, 1.25 * top if top > 0 else 1)
        ax.text(0.5, 0.35, "constant:\n" + "\n".join(flat), ha="center", va="center",
                fontsize=8, transform=ax.transAxes,
                bbox=dict(boxstyle="round", fc="white", ec="#bbbbbb"))
    ax.set_xlabel(hist.x_label)
    ax.set_ylabel("components")
    return handles


def _weights_panel(ax: Any, weights: np.ndarray) -> list[Any]:
    from matplotlib.ticker import LogLocator

    w = np.sort(np.asarray(weights, dtype=np.float64))[::-1]
    summary = weight_summary(w)
    (line,) = ax.plot(np.arange(1, len(w) + 1), np.maximum(w, 1e-300), marker=".",
                      color="C0", label=r"$\mathbb{E}[\beta_k]$, largest first")
    handles = [line]
    for q, ls in ((50, ":"), (90, "--"), (99, "-.")):
        handles.append(ax.axvline(summary[f"n{q}"], color="#777777", ls=ls, lw=1,
                                  label=f"{q} % of the weight: {summary[f'n{q}']:g} "
                                        "components"))
    ax.set_yscale("log")
    ax.yaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))     # fewer minor labels
    ax.set_xlabel("component rank")
    ax.set_ylabel(r"$\mathbb{E}[\beta_k]$")
    ax.set_title(r"Corpus weights $\mathbb{E}[\beta_k]$, sorted", fontsize=10)
    ax.text(0.03, 0.04, f"effective number {summary['effective']:.1f} of K = "
            f"{summary['K']:g}", ha="left", va="bottom", fontsize=8, transform=ax.transAxes)
    return handles


@_styled
def model_figure(hist: History | None, weights: np.ndarray | None, title: str,
                 note: str | None = None) -> Any:
    """An HDPGMM's training trace and weights: up to three titled panels.

    The objective over updates (with pass means) or passes; the component counts the
    records carry (a constant count is said so on the panel); the sorted corpus weights
    with how many components hold 50/90/99 % of them and their effective number.
    ``note`` (:func:`~hdpmusic.report.tables.stopping_note`: a fit that stopped at its
    pass cap, not converged) is written on the objective's panel, or under the title
    when there is none.
    """
    plt = _pyplot()
    panels = []
    if hist is not None and len(hist):
        panels += [lambda ax: _objective_panel(ax, hist), lambda ax: _counts_panel(ax, hist)]
    if weights is not None and np.asarray(weights).size:
        panels.append(lambda ax: _weights_panel(ax, weights))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 3.3),
                             squeeze=False)
    legends = [(ax, draw(ax)) for ax, draw in zip(axes[0], panels, strict=True)]
    if note and hist is not None and len(hist):
        axes[0][0].text(0.97, 0.05, note, ha="right", va="bottom", fontsize=8,
                        color=_NOTE_COLOR, wrap=True, transform=axes[0][0].transAxes,
                        bbox=dict(boxstyle="round", fc="white", ec=_NOTE_COLOR))
    elif note:
        title = f"{title}\n{note}"
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()              # before the legends, which hang below the axes
    for ax, handles in legends:
        if handles:
            ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.2),
                      fontsize=7, frameon=False)
    return fig


def profile_columns(columns: Sequence[str] | None, dim: int) -> tuple[np.ndarray, list[str],
                                                                       list[tuple[str, int]]]:
    """The columns a feature profile shows: MFCC, log onset and log chroma.

    Parameters
    ----------
    columns : sequence of str or None
        The corpus's column names (``hdpmusic.audio.features`` naming).
    dim : int

    Returns
    -------
    index : np.ndarray of int
        Columns shown, in order (all ``dim`` when the names are unknown).
    ticks : list of str
        Short tick label of each.
    groups : list of (str, int)
        Group name and its number of columns, in order.
    """
    names = list(columns or [])
    if len(names) != dim:
        return np.arange(dim), [str(i) for i in range(dim)], [("feature", dim)]
    mfcc = [i for i, c in enumerate(names) if c.startswith("mfcc_")]
    onset = [i for i, c in enumerate(names) if c == "log_onset"]
    chroma = [i for i, c in enumerate(names) if c.startswith("log_chroma_")]
    if not (mfcc or onset or chroma):
        return np.arange(dim), names, [("feature", dim)]
    ticks = ([names[i].removeprefix("mfcc_") for i in mfcc] + ["" for _ in onset]
             + [names[i].removeprefix("log_chroma_") for i in chroma])
    groups = [(g, len(ix)) for g, ix in (("MFCC", mfcc), ("onset", onset),
                                         ("chroma", chroma)) if ix]
    return np.array(mfcc + onset + chroma), ticks, groups


@_styled
def profile_figure(z: np.ndarray, columns: Sequence[str] | None, title: str) -> Any:
    """A small bar chart of a component's mean frame, as z-scores against all frames.

    Parameters
    ----------
    z : np.ndarray, shape (d,)
        (component mean − mean of all frames) / SD of all frames, per column.
    columns : sequence of str or None
        Column names (see :func:`profile_columns`).
    title : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _pyplot()
    index, ticks, groups = profile_columns(columns, len(z))
    values = np.nan_to_num(np.asarray(z, dtype=np.float64)[index])
    fig, ax = plt.subplots(figsize=(4.4, 1.7))
    x = np.arange(len(values))
    ax.bar(x, values, color=np.where(values >= 0, "#c44e52", "#4c72b0"), width=0.8)
    ax.axhline(0, color="#333333", lw=0.6)
    top = max(1.0, float(np.abs(values).max()) * 1.1)
    ax.set_ylim(-top, top)
    ax.set_xticks(x, ticks, fontsize=6)
    ax.set_xlim(-0.6, len(values) - 0.4)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_ylabel("z-score", fontsize=7)
    start = 0
    for name, n in groups:
        if start:
            ax.axvline(start - 0.5, color="#999999", lw=0.6)
        ax.text(start + (n - 1) / 2, -0.32, name, ha="center", va="top", fontsize=7,
                transform=ax.get_xaxis_transform())
        start += n
    hidden = hidden_groups(columns, len(z))
    ax.set_title(f"{title}\n({' and '.join(hidden)} not shown)" if hidden else title,
                 fontsize=8)
    return fig


#: Column-name prefixes of the feature groups a profile leaves out, and their names
HIDDEN_GROUPS = (("d_mfcc_", "Δ MFCC"), ("dd_mfcc_", "ΔΔ MFCC"))


def hidden_groups(columns: Sequence[str] | None, dim: int) -> list[str]:
    """Names of the feature groups of ``columns`` that :func:`profile_columns` leaves out
    (the MFCC's Δ and ΔΔ), for the profile's title.

    Parameters
    ----------
    columns : sequence of str or None
    dim : int

    Returns
    -------
    list of str
        e.g. ``["Δ MFCC", "ΔΔ MFCC"]``; empty when every column is shown.
    """
    shown = set(profile_columns(columns, dim)[0].tolist())
    left = [c for i, c in enumerate(columns or []) if i not in shown]
    return [name for prefix, name in HIDDEN_GROUPS if any(c.startswith(prefix) for c in left)]
