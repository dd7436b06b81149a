"""Tables, plots and a self-contained HTML/markdown report from results and models.

``write_report`` reads ``results.json`` files (``hdpmusic evaluate``) and, optionally,
HDPGMM model files, and writes into one directory:

* ``report.md`` and ``report.html`` — the main table (models × tasks, mean ± SD over
  runs, the metric, the number of runs, the best mean per task in bold, the chance level
  when the results record one in ``config["chance"]``) and the figures, referenced by
  relative paths (the directory can be moved or zipped as a whole);
* ``scores_<task>.png`` — per task, bars of the mean with SD error bars and the raw
  per-run scores as points (the study's Figure 3);
* ``eta0_effect.png`` / ``size_effect.png`` — the learning-factor plots, when the results
  carry a splash regulariser (``config["eta0"]``, or ``regularization``) or a training
  corpus size (``config["n_train"]``, ``corpus_size``, ``train_size``) with more than one
  value for a model;
* ``<model>_history.png`` (ELBO per frame and active components over updates, from
  ``history_``) and ``<model>_weights.png`` (sorted corpus weights, log scale).

Results of one model that differ in η0 or corpus size get separate rows, labelled e.g.
``hdpgmm (η0=0.1, n_train=213k)``. All metrics used here (F1, ROC-AUC, nDCG) are
higher-is-better.

The computation (:func:`variant_label`, :func:`main_table`, :func:`factor_series`,
:func:`history_series`) is separate from the plotting and the file writing.
"""

from __future__ import annotations

import dataclasses
import html
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hdpmusic.atomic import atomic_path
from hdpmusic.errors import DataError
from hdpmusic.evaluation.protocol import RunResult, read_results, summarise

__all__ = [
    "CHANCE_KEYS",
    "ETA0_KEYS",
    "SIZE_KEYS",
    "Cell",
    "Figure",
    "MainTable",
    "build_report",
    "epoch_means",
    "factor_series",
    "find_results",
    "format_number",
    "history_series",
    "main_table",
    "parse_size",
    "relabel",
    "table_html",
    "table_markdown",
    "variant_label",
    "write_report",
]

ETA0_KEYS = ("eta0", "regularization", "regularisation")
"""Config keys read as the splash regulariser η0 (first present wins)."""
SIZE_KEYS = ("n_train", "corpus_size", "train_size", "n_songs_train")
"""Config keys read as the training corpus size (first present wins)."""
CHANCE_KEYS = ("chance", "chance_level")
"""Config keys read as the task's chance level."""


# ----------------------------------------------------------------------- pure helpers
def _first(config: Mapping[str, Any], keys: Sequence[str]) -> Any:
    for key in keys:
        if key in config and config[key] is not None:
            return config[key]
    return None


def parse_size(value: Any) -> float:
    """A factor value as a number: ``213000``, ``"1e-3"``, ``"213k"``, ``"2M"`` → float.

    NaN when the value cannot be read as a number.

    Parameters
    ----------
    value : int, float or str

    Returns
    -------
    float
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        pass
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kKmM]?)\s*", str(value))
    if not match:
        return float("nan")
    scale = {"": 1.0, "k": 1e3, "m": 1e6}[match.group(2).lower()]
    return float(match.group(1)) * scale


def _fmt_factor(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def variant_label(result: RunResult) -> str:
    """The row label of a result: its model, plus η0 and corpus size when recorded.

    Parameters
    ----------
    result : RunResult

    Returns
    -------
    str
        e.g. ``"hdpgmm (η0=0.1, n_train=213k)"`` or ``"g1"``.
    """
    parts = []
    eta0 = _first(result.config, ETA0_KEYS)
    if eta0 is not None:
        parts.append(f"η0={_fmt_factor(eta0)}")
    size = _first(result.config, SIZE_KEYS)
    if size is not None:
        parts.append(f"n_train={_fmt_factor(size)}")
    return f"{result.model} ({', '.join(parts)})" if parts else result.model


def relabel(results: Iterable[RunResult]) -> list[RunResult]:
    """Copies of the results whose ``model`` is their :func:`variant_label`."""
    return [dataclasses.replace(r, model=variant_label(r)) for r in results]


def format_number(x: float, digits: int = 4) -> str:
    """``x`` with ``digits`` decimals; ``–`` for NaN."""
    return "–" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


@dataclass
class Cell:
    """One (model, task) entry of the main table."""

    mean: float
    sd: float
    runs: int
    best: bool = False

    def text(self, digits: int = 4) -> str:
        """``mean ± sd``."""
        return f"{format_number(self.mean, digits)} ± {format_number(self.sd, digits)}"


@dataclass
class MainTable:
    """Models × tasks of mean ± SD.

    Attributes
    ----------
    models : list of str
        Row labels, in order of first appearance.
    tasks : list of str
        Column labels, in order of first appearance.
    metrics : dict of str to str
        The metric of each task (several joined by ``/``).
    cells : dict of (str, str) to Cell
        Missing pairs have no entry.
    chance : dict of str to float
        Chance level per task (the mean over the runs that record one: the test data
        of a run may differ, as the users of a recommendation run do).
    """

    models: list[str]
    tasks: list[str]
    metrics: dict[str, str]
    cells: dict[tuple[str, str], Cell]
    chance: dict[str, float] = field(default_factory=dict)


def main_table(results: Sequence[RunResult]) -> MainTable:
    """Summarise results (already labelled) into the main table; mark the best per task.

    The best cell of a task is the highest mean (all ties bold).

    Parameters
    ----------
    results : sequence of RunResult

    Returns
    -------
    MainTable
    """
    summary = summarise(results)
    models: list[str] = []
    tasks: list[str] = []
    metrics: dict[str, list[str]] = {}
    cells: dict[tuple[str, str], Cell] = {}
    for s in summary:
        if s["model"] not in models:
            models.append(s["model"])
        if s["task"] not in tasks:
            tasks.append(s["task"])
        metrics.setdefault(s["task"], [])
        if s["metric"] not in metrics[s["task"]]:
            metrics[s["task"]].append(s["metric"])
        key = (s["model"], s["task"])
        if key in cells:   # same model and task under two metrics: keep the first
            continue
        cells[key] = Cell(s["mean"], s["sd"], s["runs"])
    for task in tasks:
        means = [c.mean for (m, t), c in cells.items() if t == task and math.isfinite(c.mean)]
        if means:
            top = max(means)
            for (_, t), c in cells.items():
                if t == task and c.mean == top:
                    c.best = True
    levels: dict[str, list[float]] = {}
    for r in results:
        value = _first(r.config, CHANCE_KEYS)
        if value is not None:
            levels.setdefault(r.task, []).append(float(value))
    chance = {task: float(np.mean(values)) for task, values in levels.items()}
    return MainTable(models, tasks, {t: "/".join(m) for t, m in metrics.items()}, cells,
                     chance)


def table_markdown(table: MainTable, digits: int = 4) -> str:
    """The main table as markdown (best per task in bold, ``(n=runs)`` after each cell)."""
    header = ["model", *(f"{t} ({table.metrics[t]})" for t in table.tasks)]
    lines = ["| " + " | ".join(header) + " |", "|---" + "|---:" * len(table.tasks) + "|"]
    for model in table.models:
        row = [model.replace("|", "/")]
        for task in table.tasks:
            cell = table.cells.get((model, task))
            if cell is None:
                row.append("")
                continue
            text = f"**{cell.text(digits)}**" if cell.best else cell.text(digits)
            row.append(f"{text} (n={cell.runs})")
        lines.append("| " + " | ".join(row) + " |")
    if table.chance:
        row = ["chance", *(format_number(table.chance[t], digits) if t in table.chance
                           else "" for t in table.tasks)]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def table_html(table: MainTable, digits: int = 4) -> str:
    """The main table as a plain HTML ``<table>`` (best per task in ``<b>``)."""
    esc = html.escape
    head = "".join(f"<th>{esc(t)}<br><small>{esc(table.metrics[t])}</small></th>"
                   for t in table.tasks)
    rows = [f"<tr><th>model</th>{head}</tr>"]
    for model in table.models:
        tds = []
        for task in table.tasks:
            cell = table.cells.get((model, task))
            if cell is None:
                tds.append("<td></td>")
                continue
            text = esc(cell.text(digits))
            if cell.best:
                text = f"<b>{text}</b>"
            tds.append(f"<td>{text} <small>(n={cell.runs})</small></td>")
        rows.append(f"<tr><td>{esc(model)}</td>{''.join(tds)}</tr>")
    if table.chance:
        tds = "".join(f"<td>{format_number(table.chance[t], digits)}</td>"
                      if t in table.chance else "<td></td>" for t in table.tasks)
        rows.append(f"<tr><td><i>chance</i></td>{tds}</tr>")
    return "<table>\n" + "\n".join(rows) + "\n</table>\n"


def factor_series(results: Sequence[RunResult], factor: str,
                  ) -> dict[str, dict[str, dict[str, np.ndarray]]]:
    """Scores against a learning factor, for the factor's sweep plots.

    Parameters
    ----------
    results : sequence of RunResult
        With their original model names.
    factor : {"eta0", "n_train"}
        Read from the config keys :data:`ETA0_KEYS` or :data:`SIZE_KEYS`.

    Returns
    -------
    dict
        ``task → series label → {"x", "mean", "sd", "points_x", "points_y"}``, one series
        per model and value of the other factor, kept only when the factor takes at least
        two values in it; ``x`` sorted ascending.
    """
    keys, other_keys, other = ((ETA0_KEYS, SIZE_KEYS, "n_train") if factor == "eta0"
                               else (SIZE_KEYS, ETA0_KEYS, "η0"))
    groups: dict[str, dict[str, dict[float, list[float]]]] = {}
    for r in results:
        value = _first(r.config, keys)
        if value is None:
            continue
        x = parse_size(value)
        if not math.isfinite(x):
            continue
        other_value = _first(r.config, other_keys)
        label = r.model if other_value is None else \
            f"{r.model} ({other}={_fmt_factor(other_value)})"
        groups.setdefault(r.task, {}).setdefault(label, {}).setdefault(x, []).append(r.score)
    out: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    for task, series in groups.items():
        for label, by_x in series.items():
            if len(by_x) < 2:
                continue
            xs = sorted(by_x)
            px = np.concatenate([[x] * len(by_x[x]) for x in xs])
            py = np.concatenate([by_x[x] for x in xs])
            out.setdefault(task, {})[label] = {
                "x": np.array(xs), "mean": np.array([np.mean(by_x[x]) for x in xs]),
                "sd": np.array([np.std(by_x[x], ddof=1) if len(by_x[x]) > 1 else 0.0
                                for x in xs]),
                "points_x": px, "points_y": py}
    return out


def history_series(history: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """``step``, ``epoch``, ``elbo_per_frame`` and ``n_active`` arrays from ``history_``.

    Missing entries read as NaN; ``step`` defaults to 1, 2, ... when absent.
    """
    n = len(history)
    step = np.array([h.get("step", i + 1) for i, h in enumerate(history)], dtype=np.float64)
    epoch = np.array([h.get("epoch", np.nan) for h in history], dtype=np.float64)
    elbo = np.array([h.get("elbo_per_frame", np.nan) for h in history], dtype=np.float64)
    active = np.array([h.get("n_active", np.nan) for h in history], dtype=np.float64)
    return {"step": step.reshape(n), "epoch": epoch.reshape(n),
            "elbo_per_frame": elbo.reshape(n), "n_active": active.reshape(n)}


def epoch_means(hist: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Mean ELBO per frame of each epoch, placed at the epoch's last update.

    Mini-batch ELBOs scatter with the songs drawn; their epoch means show the trend.

    Returns
    -------
    steps, means : np.ndarray
        Empty when the history records no epochs.
    """
    epoch, step, elbo = hist["epoch"], hist["step"], hist["elbo_per_frame"]
    known = np.isfinite(epoch)
    epochs = np.unique(epoch[known])
    steps = np.array([step[known & (epoch == e)].max() for e in epochs])
    means = np.array([np.nanmean(elbo[known & (epoch == e)]) for e in epochs])
    return steps, means


def _slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")
    return slug or "x"


# ---------------------------------------------------------------------- plotting
@dataclass
class Figure:
    """A written figure: its file name (relative to the report) and caption."""

    file: str
    caption: str
    section: str


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    plt = _pyplot()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def plot_task_scores(results: Sequence[RunResult], task: str, path: Path,
                     chance: float | None = None) -> None:
    """Bars of the mean score per model with SD error bars and the per-run points."""
    plt = _pyplot()
    models: list[str] = []
    scores: dict[str, list[float]] = {}
    metric = ""
    for r in results:
        if r.task != task:
            continue
        metric = metric or r.metric
        if r.model not in scores:
            models.append(r.model)
        scores.setdefault(r.model, []).append(r.score)
    x = np.arange(len(models))
    means = np.array([np.mean(scores[m]) for m in models])
    sds = np.array([np.std(scores[m], ddof=1) if len(scores[m]) > 1 else 0.0
                    for m in models])
    fig, ax = plt.subplots(figsize=(max(4.0, 0.8 * len(models) + 2), 3.6))
    ax.bar(x, means, yerr=sds, capsize=4, color="#9ecae1", edgecolor="#3182bd",
           label="mean ± SD")
    rng = np.random.default_rng(0)
    for i, m in enumerate(models):
        pts = np.asarray(scores[m])
        ax.scatter(i + rng.uniform(-0.18, 0.18, len(pts)), pts, s=12, color="#08306b",
                   zorder=3, label="runs" if i == 0 else None)
    if chance is not None:
        ax.axhline(chance, ls="--", color="grey", lw=1, label=f"chance ({chance:.3g})")
    lo = min(np.min(means - sds), min(min(v) for v in scores.values()))
    hi = max(np.max(means + sds), max(max(v) for v in scores.values()))
    if chance is not None:
        lo, hi = min(lo, chance), max(hi, chance)
    pad = 0.1 * (hi - lo) if hi > lo else 0.05 * max(abs(hi), 1e-3)
    ax.set_ylim(max(lo - pad, 0.0) if lo >= 0 else lo - pad, hi + pad)
    ax.set_xticks(x, models, rotation=30, ha="right")
    ax.set_ylabel(metric)
    ax.set_title(task)
    ax.legend(fontsize=7)
    _save(fig, path)


def plot_factor(series: Mapping[str, Mapping[str, Mapping[str, np.ndarray]]],
                xlabel: str, path: Path, ylabels: Mapping[str, str] | None = None) -> None:
    """One panel per task: mean ± SD against the factor (log x), per-run points.

    ``ylabels`` names the metric of each task.
    """
    plt = _pyplot()
    tasks = list(series)
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.4), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        for label, s in series[task].items():
            line = ax.errorbar(s["x"], s["mean"], yerr=s["sd"], marker="o", capsize=3,
                               label=label)
            ax.scatter(s["points_x"], s["points_y"], s=8, alpha=0.5,
                       color=line[0].get_color())
        if np.all(np.concatenate([s["x"] for s in series[task].values()]) > 0):
            ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel((ylabels or {}).get(task, "score"))
        ax.set_title(task)
        ax.legend(fontsize=7)
    _save(fig, path)


def plot_history(hist: Mapping[str, np.ndarray], title: str, path: Path) -> None:
    """ELBO per frame and active components against the update number."""
    plt = _pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.4))
    a1.plot(hist["step"], hist["elbo_per_frame"], marker="." if len(hist["step"]) < 50
            else None, alpha=0.5, label="mini-batch")
    steps, means = epoch_means(hist)
    if len(steps) > 1:
        a1.plot(steps, means, color="C3", marker="o", label="epoch mean")
        a1.legend(fontsize=7)
    a1.set_xlabel("update")
    a1.set_ylabel("ELBO per frame")
    a2.plot(hist["step"], hist["n_active"], color="C1",
            marker="." if len(hist["step"]) < 50 else None)
    a2.set_xlabel("update")
    a2.set_ylabel("active components")
    fig.suptitle(title)
    _save(fig, path)


def plot_weights(weights: np.ndarray, title: str, path: Path) -> None:
    """Corpus-level weights sorted in decreasing order, log scale."""
    plt = _pyplot()
    w = np.sort(np.asarray(weights, dtype=np.float64))[::-1]
    fig, ax = plt.subplots(figsize=(5, 3.4))
    ax.plot(np.arange(1, len(w) + 1), np.maximum(w, 1e-300), marker=".")
    ax.set_yscale("log")
    ax.set_xlabel("component rank")
    ax.set_ylabel("E[β_k]")
    ax.set_title(title)
    _save(fig, path)


# ------------------------------------------------------------------------ report
CHANCE_NOTE = ("Chance: the expected score of an uninformed predictor on the same test data "
               "(uniform guesses for macro F1, random scores for ROC-AUC, random rankings "
               "for nDCG).")


def _markdown(table: MainTable | None, figures: Sequence[Figure], title: str,
              intro: str = "") -> str:
    lines = [f"# {title}", ""]
    if intro:
        lines += [intro, ""]
    if table is not None:
        lines += ["## Main results", "",
                  "Mean ± SD over runs (n = number of runs); best mean per task in bold.", ""]
        lines.append(table_markdown(table))
        if table.chance:
            lines += ["", CHANCE_NOTE]
        lines.append("")
    section = None
    for fig in figures:
        if fig.section != section:
            section = fig.section
            lines += [f"## {section}", ""]
        lines += [f"![{fig.caption}]({fig.file})", "", f"*{fig.caption}*", ""]
    return "\n".join(lines).rstrip() + "\n"


def _html(table: MainTable | None, figures: Sequence[Figure], title: str,
          intro: str = "") -> str:
    esc = html.escape
    parts = ["<!DOCTYPE html>", "<html><head><meta charset=\"utf-8\">",
             f"<title>{esc(title)}</title>",
             "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;"
             "text-align:right}td:first-child{text-align:left}img{max-width:100%}</style>",
             "</head><body>", f"<h1>{esc(title)}</h1>"]
    if intro:
        parts.append(f"<p>{esc(intro)}</p>")
    if table is not None:
        parts += ["<h2>Main results</h2>",
                  "<p>Mean ± SD over runs (n = number of runs); best mean per task in "
                  "bold.</p>", table_html(table)]
        if table.chance:
            parts.append(f"<p>{esc(CHANCE_NOTE)}</p>")
    section = None
    for fig in figures:
        if fig.section != section:
            section = fig.section
            parts.append(f"<h2>{esc(section)}</h2>")
        parts.append(f"<figure><img src=\"{esc(fig.file)}\" alt=\"{esc(fig.caption)}\">"
                     f"<figcaption>{esc(fig.caption)}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def build_report(results: Sequence[RunResult], out_dir: str | os.PathLike, *,
                 models: Mapping[str, tuple[Sequence[Mapping[str, Any]], np.ndarray]]
                 | None = None, title: str = "hdpmusic report",
                 intro: str = "") -> tuple[Path, Path]:
    """Write the report of in-memory results and model traces into ``out_dir``.

    Parameters
    ----------
    results : sequence of RunResult
        May be empty when only models are reported.
    out_dir : path-like
        Created if needed; existing files of the same names are replaced.
    models : mapping of str to (history, weights), optional
        Per model name, its ``history_`` records and its ``weights_`` (K,).
    title : str
    intro : str
        A paragraph under the title (what was run on what).

    Returns
    -------
    markdown_path, html_path : pathlib.Path
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    figures: list[Figure] = []
    table = None
    if results:
        labelled = relabel(results)
        table = main_table(labelled)
        for task in table.tasks:
            name = f"scores_{_slug(task)}.png"
            plot_task_scores(labelled, task, out / name, table.chance.get(task))
            figures.append(Figure(name, f"{task}: {table.metrics[task]} per model, mean ± SD "
                                  "(bars) and runs (points)", "Scores per task"))
        for factor, xlabel, name in (("eta0", "η0 (splash regulariser)", "eta0_effect.png"),
                                     ("n_train", "training songs", "size_effect.png")):
            series = factor_series(results, factor)
            if series:
                plot_factor(series, xlabel, out / name, table.metrics)
                figures.append(Figure(name, f"effect of {xlabel} on the scores",
                                      "Learning factors"))
    for name, (history, weights) in (models or {}).items():
        slug = _slug(name)
        if history:
            plot_history(history_series(history), name, out / f"{slug}_history.png")
            figures.append(Figure(f"{slug}_history.png", f"{name}: ELBO per frame and "
                                  "active components over updates", f"Model {name}"))
        w = np.asarray(weights, dtype=np.float64)
        if w.size:
            plot_weights(w, name, out / f"{slug}_weights.png")
            figures.append(Figure(f"{slug}_weights.png", f"{name}: component weights, "
                                  "sorted (log scale)", f"Model {name}"))
    md_path, html_path = out / "report.md", out / "report.html"
    with atomic_path(md_path) as tmp:
        tmp.write_text(_markdown(table, figures, title, intro), encoding="utf-8")
    with atomic_path(html_path) as tmp:
        tmp.write_text(_html(table, figures, title, intro), encoding="utf-8")
    return md_path, html_path


def find_results(paths: Iterable[str | os.PathLike]) -> list[RunResult]:
    """Read results files; a directory means its ``results.json``, else any below it.

    Raises
    ------
    DataError
        When a directory holds no results file.
    """
    results: list[RunResult] = []
    for p in map(Path, paths):
        if p.is_dir() and not (p / "results.json").exists():
            found = sorted(p.rglob("results.json"))
            if not found:
                raise DataError(f"no results.json in {p}")
            for f in found:
                results.extend(read_results(f))
        else:
            results.extend(read_results(p))
    return results


def write_report(result_paths: Iterable[str | os.PathLike], out_dir: str | os.PathLike, *,
                 model_paths: Iterable[str | os.PathLike] = (),
                 title: str = "hdpmusic report", intro: str = "") -> tuple[Path, Path]:
    """Read results and HDPGMM model files and write the report (see the module doc).

    Returns
    -------
    markdown_path, html_path : pathlib.Path
    """
    results = find_results(result_paths)
    models: dict[str, tuple[list[dict[str, Any]], np.ndarray]] = {}
    model_paths = list(model_paths)
    if model_paths:
        from hdpmusic.model.hdpgmm import HDPGMM

        for path in map(Path, model_paths):
            model = HDPGMM.load(path, device="cpu")
            name = path.stem
            while name in models:
                name += "_"
            models[name] = (list(model.history_), np.asarray(model.weights_))
    if not results and not models:
        raise DataError("nothing to report: no results and no models")
    return build_report(results, out_dir, models=models, title=title, intro=intro)
