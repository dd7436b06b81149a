"""The numbers of the report: the main table (with bootstrap CIs), paired differences,
confusion matrices, factor sweeps and training traces.

Pure computation over :class:`~hdpmusic.evaluation.protocol.RunResult` lists and
``history_`` records; the plotting (:mod:`hdpmusic.report.plots`) and the pages
(:mod:`hdpmusic.report.page`) only draw and write what these return.

Results of one model that differ in η0 or corpus size get separate rows, labelled e.g.
``hdpgmm (η0=0.1, n_train=213k)``. All metrics used here (F1, ROC-AUC, nDCG) are
higher-is-better.
"""

from __future__ import annotations

import dataclasses
import html
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hdpmusic.evaluation.fitted import mixed_fit_message
from hdpmusic.evaluation.protocol import RunResult, summarise
from hdpmusic.report.labels import metric_label, model_label

__all__ = [
    "CHANCE_KEYS",
    "COUNT_KEYS",
    "ELBO_KEYS",
    "ETA0_KEYS",
    "GROUP_KEYS",
    "SIZE_KEYS",
    "Cell",
    "History",
    "MainTable",
    "confusion_matrices",
    "epoch_means",
    "factor_series",
    "fit_cautions",
    "format_number",
    "history_series",
    "main_table",
    "paired_html",
    "paired_markdown",
    "parse_size",
    "relabel",
    "stopping_note",
    "table_html",
    "table_markdown",
    "task_facts",
    "variant_label",
    "weight_summary",
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
    """One (model, task) entry of the main table.

    ``ci_low``, ``ci_high``: the 95 % bootstrap CI of the mean (NaN when the results
    kept no predictions); ``fits``: fits of the model the runs come from (the CI then
    covers their variation, :mod:`~hdpmusic.evaluation.summary`).
    """

    mean: float
    sd: float
    runs: int
    best: bool = False
    ci_low: float = float("nan")
    ci_high: float = float("nan")
    fits: int = 1

    def text(self, digits: int = 4) -> str:
        """``mean ± sd``."""
        return f"{format_number(self.mean, digits)} ± {format_number(self.sd, digits)}"

    def count_text(self) -> str:
        """``n=runs``, with the fits when there are several: ``n=6, 3 fits``."""
        return f"n={self.runs}" + (f", {self.fits} fits" if self.fits > 1 else "")

    def ci_text(self, digits: int = 4) -> str:
        """``[low, high]``, or ``""`` without a CI."""
        if not (math.isfinite(self.ci_low) and math.isfinite(self.ci_high)):
            return ""
        return f"[{format_number(self.ci_low, digits)}, {format_number(self.ci_high, digits)}]"


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


def main_table(results: Sequence[RunResult], *,
               distributions: Mapping[tuple[str, str], Mapping[str, np.ndarray]]
               | None = None) -> MainTable:
    """Summarise results (already labelled) into the main table; mark the best per task.

    The best cell of a task is the highest mean (all ties bold).

    Parameters
    ----------
    results : sequence of RunResult
    distributions : mapping, optional
        :func:`~hdpmusic.evaluation.summary.model_distributions` of ``results`` (the
        bootstrap behind the CIs), when already computed.

    Returns
    -------
    MainTable
    """
    summary = summarise(results, distributions=distributions)
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
        cells[key] = Cell(s["mean"], s["sd"], s["runs"], ci_low=s["ci_low"],
                          ci_high=s["ci_high"], fits=s["fits"])
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
    """The main table as markdown (best per task in bold, ``(n=runs)`` after each cell,
    ``(n=runs, F fits)`` for a model fitted F times)."""
    header = ["model", *(f"{t} ({metric_label(table.metrics[t])})" for t in table.tasks)]
    lines = ["| " + " | ".join(header) + " |", "|---" + "|---:" * len(table.tasks) + "|"]
    for model in table.models:
        row = [model_label(model).replace("|", "/")]
        for task in table.tasks:
            cell = table.cells.get((model, task))
            if cell is None:
                row.append("")
                continue
            text = f"**{cell.text(digits)}**" if cell.best else cell.text(digits)
            ci = f" {cell.ci_text(digits)}" if cell.ci_text(digits) else ""
            row.append(f"{text}{ci} ({cell.count_text()})")
        lines.append("| " + " | ".join(row) + " |")
    if table.chance:
        row = ["chance", *(format_number(table.chance[t], digits) if t in table.chance
                           else "" for t in table.tasks)]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def table_html(table: MainTable, digits: int = 4) -> str:
    """The main table as a plain HTML ``<table>`` (best per task in ``<b>``)."""
    esc = html.escape
    head = "".join(f"<th>{esc(t)}<br><small>{esc(metric_label(table.metrics[t]))}</small></th>"
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
            ci = f"<br><small>95 % CI {cell.ci_text(digits)}</small>" \
                if cell.ci_text(digits) else ""
            tds.append(f"<td>{text} <small>({cell.count_text()})</small>{ci}</td>")
        rows.append(f"<tr><td>{esc(model_label(model))}</td>{''.join(tds)}</tr>")
    if table.chance:
        tds = "".join(f"<td>{format_number(table.chance[t], digits)}</td>"
                      if t in table.chance else "<td></td>" for t in table.tasks)
        rows.append(f"<tr><td><i>chance</i></td>{tds}</tr>")
    return "<table>\n" + "\n".join(rows) + "\n</table>\n"


_PAIRED_HEADER = ("A", "B", "A − B", "95 % CI", "A wins", "B wins")


def _paired_cells(row: Mapping[str, Any], digits: int) -> list[str]:
    ci = (f"[{format_number(row['ci_low'], digits)}, {format_number(row['ci_high'], digits)}]"
          if math.isfinite(row["ci_low"]) else "–")
    return [model_label(row["model_a"]), model_label(row["model_b"]),
            f"{row['difference']:+.{digits}f}", ci, f"{row['wins_a']:.0%}",
            f"{row['wins_b']:.0%}"]


def _by_task(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    out: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        out.setdefault(row["task"], []).append(row)
    return out


def paired_markdown(rows: Sequence[Mapping[str, Any]], digits: int = 4) -> str:
    """The paired differences (:func:`~hdpmusic.evaluation.summary.paired_differences`)
    as one markdown table per task, under a ``### task (metric)`` heading."""
    lines: list[str] = []
    for task, mine in _by_task(rows).items():
        lines += [f"### {task} ({metric_label(mine[0]['metric'])})", "",
                  "| " + " | ".join(_PAIRED_HEADER) + " |", "|---|---" + "|---:" * 4 + "|"]
        lines += ["| " + " | ".join(c.replace("|", "/") for c in _paired_cells(r, digits))
                  + " |" for r in mine]
        lines.append("")
    return "\n".join(lines)


def paired_html(rows: Sequence[Mapping[str, Any]], digits: int = 4) -> str:
    """The paired differences as one HTML ``<table>`` per task, under an ``<h3>``."""
    esc = html.escape
    parts = []
    for task, mine in _by_task(rows).items():
        head = "".join(f"<th>{esc(h)}</th>" for h in _PAIRED_HEADER)
        body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in _paired_cells(r, digits))
                       + "</tr>\n" for r in mine)
        parts.append(f"<h3>{esc(task)} <small>({esc(metric_label(mine[0]['metric']))})"
                     f"</small></h3>\n<table>\n<tr>{head}</tr>\n{body}</table>\n")
    return "".join(parts)


def task_facts(results: Sequence[RunResult]) -> dict[str, str]:
    """What the runs of each task were: their seeds, split sizes and test songs per class.

    Parameters
    ----------
    results : sequence of RunResult

    Returns
    -------
    dict of str to str
        ``task → "seeds 0, 1; split train 6, valid 2, test 2; test songs per class a 1,
        b 1"``, each part only when the results record it (``config["seed"]``,
        ``config["split_sizes"]`` and the row sums of ``config["confusion"]`` of the
        task's first run that has them).
    """
    facts: dict[str, str] = {}
    for task in dict.fromkeys(r.task for r in results):
        mine = [r.config for r in results if r.task == task]
        seeds = sorted({c["seed"] for c in mine if c.get("seed") is not None})
        parts = [f"seeds {', '.join(map(str, seeds))}"] if seeds else []
        sizes = next((c["split_sizes"] for c in mine if c.get("split_sizes")), None)
        if sizes:
            parts.append("split " + ", ".join(f"{k} {v}" for k, v in sizes.items()))
        confusion = next((c["confusion"] for c in mine if c.get("confusion")), None)
        if confusion:
            rows = np.asarray(confusion["matrix"]).sum(axis=1)
            parts.append("test songs per class " + ", ".join(
                f"{label} {int(n)}" for label, n in zip(confusion["labels"], rows,
                                                        strict=True)))
        facts[task] = "; ".join(parts) or "no seeds or split sizes recorded"
    return facts


def fit_cautions(results: Sequence[RunResult]) -> list[str]:
    """What the table cannot show: rows whose model saw some of the songs it scored and
    not others (:func:`~hdpmusic.evaluation.fitted.mixed_fit_message` of the first run
    of each model and task recording ``config["fitted_songs"]``).

    Parameters
    ----------
    results : sequence of RunResult
        With their final labels (:func:`relabel`).

    Returns
    -------
    list of str
        ``"<model> on <task>: the model behind these vectors was fitted on ..."``; empty
        when every model saw all or none of the songs it scored (or records nothing).
    """
    cautions = []
    for model, task in dict.fromkeys((r.model, r.task) for r in results):
        counts = next((r.config["fitted_songs"] for r in results if r.model == model
                       and r.task == task and r.config.get("fitted_songs")), None)
        if counts is not None and (message := mixed_fit_message(counts)) is not None:
            cautions.append(f"{model_label(model)} on {task}: {message}.")
    return cautions


def confusion_matrices(results: Sequence[RunResult], task: str,
                       ) -> dict[str, tuple[list[str], np.ndarray]]:
    """The confusion matrix of each model on a genre task, summed over its runs.

    Parameters
    ----------
    results : sequence of RunResult
        Runs recording ``config["confusion"]`` (``{"labels", "matrix"}``, rows the true
        class); others are skipped.
    task : str

    Returns
    -------
    dict
        ``model → (labels, matrix)``, the matrix of int, shape (C, C); in order of first
        appearance. Runs whose labels differ from the model's first run are skipped.
    """
    out: dict[str, tuple[list[str], np.ndarray]] = {}
    for r in results:
        confusion = r.config.get("confusion")
        if r.task != task or not confusion:
            continue
        labels, matrix = list(confusion["labels"]), np.asarray(confusion["matrix"])
        if r.model not in out:
            out[r.model] = (labels, matrix.copy())
        elif out[r.model][0] == labels:
            out[r.model][1][...] += matrix
    return out


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


ELBO_KEYS = (("elbo_per_frame", "ELBO per frame"), ("elbo", "ELBO"))
"""``history_`` keys read as the objective (first present wins) and their labels."""
COUNT_KEYS = (("n_components", "components (K)"),
              ("n_active", "active (≥ 0.1 % of the usage)"),
              ("n_effective", "effective number"))
"""``history_`` keys read as component counts (every one present is drawn)."""
GROUP_KEYS = ("pass", "epoch")
"""``history_`` keys read as the pass (lap over the data) of a record (first present wins)."""


@dataclass
class History:
    """The series of a model's ``history_``, read from whatever keys its records carry.

    Attributes
    ----------
    x : np.ndarray, shape (n,)
        Position of each record: the pass when every record is one pass, else the update
        (``step``, or 1, 2, ... when absent).
    x_label : str
        ``"pass"``, ``"epoch"`` or ``"update"``.
    group : np.ndarray, shape (n,)
        Pass (or epoch) of each record; NaN where not recorded.
    group_label : str or None
        The key it was read from, or None when no record has one.
    objective : np.ndarray, shape (n,)
        NaN where not recorded.
    objective_label : str
        ``"ELBO per frame"`` or ``"ELBO"`` (``""`` when neither is recorded).
    counts : dict of str to np.ndarray, shape (n,)
        Label → component count, for each key of :data:`COUNT_KEYS` some record carries.
    """

    x: np.ndarray
    x_label: str
    group: np.ndarray
    group_label: str | None
    objective: np.ndarray
    objective_label: str
    counts: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.x)


def _column(history: Sequence[Mapping[str, Any]], key: str) -> np.ndarray:
    values = [h.get(key) for h in history]
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def _present(history: Sequence[Mapping[str, Any]], key: str) -> bool:
    return any(h.get(key) is not None for h in history)


def history_series(history: Sequence[Mapping[str, Any]]) -> History:
    """Read ``history_`` records into series, degrading to what they carry.

    Parameters
    ----------
    history : sequence of dict
        One record per update (online SVI: ``step``, ``epoch``, ``elbo_per_frame``,
        ``n_active``, ...) or per pass (memoized VI: ``pass``, ``elbo``,
        ``n_components``, ...). Keys are looked up in :data:`ELBO_KEYS`,
        :data:`COUNT_KEYS` and :data:`GROUP_KEYS`; missing values read as NaN.

    Returns
    -------
    History
    """
    n = len(history)
    group_key = next((k for k in GROUP_KEYS if _present(history, k)), None)
    group = _column(history, group_key) if group_key else np.full(n, np.nan)
    one_per_group = (group_key is not None and np.isfinite(group).all()
                     and len(np.unique(group)) == n and bool(np.all(np.diff(group) > 0)))
    if one_per_group:
        x, x_label = group, group_key
    else:
        x = np.array([h.get("step", i + 1) for i, h in enumerate(history)], dtype=np.float64)
        x_label = "update"
    objective_key, objective_label = next(
        ((k, label) for k, label in ELBO_KEYS if _present(history, k)), (None, ""))
    objective = _column(history, objective_key) if objective_key else np.full(n, np.nan)
    counts = {label: _column(history, key) for key, label in COUNT_KEYS
              if _present(history, key)}
    return History(x.reshape(n), x_label, group.reshape(n), group_key, objective.reshape(n),
                   objective_label, counts)


def _passes(n: int) -> str:
    return f"{n} pass" if n == 1 else f"{n} passes"


def stopping_note(model: Any) -> tuple[str, str] | None:
    """What the training figure and its caption say of a memoized fit that stopped
    before its ELBO settled (the fit's ``ConvergenceWarning``), or None.

    Parameters
    ----------
    model : HDPGMM
        Fitted or loaded; a model that is not memoized, has ``tol`` 0 (told to run every
        pass) or ``converged_`` True gets None.

    Returns
    -------
    (str, str) or None
        A short note for the figure (``stopped at the pass cap (40 passes), not
        converged``) and a sentence for the caption: how much the ELBO still moved in
        the last pass, and how to continue the fit.
    """
    if (getattr(model, "algorithm", None) != "memoized" or getattr(model, "converged_", True)
            or not getattr(model, "tol", 0) > 0):
        return None
    passes = list(getattr(model, "passes_", None) or [])
    cap = int(model.max_epochs)
    done = int(getattr(model, "epoch_", len(passes)))
    if done >= cap:
        short = f"stopped at the pass cap ({_passes(cap)}), not converged"
        sentence = f"The fit stopped at its cap of {_passes(cap)}, not converged"
    else:
        short = f"stopped after {done} of {_passes(cap)}, not converged"
        sentence = (f"The fit stopped after {done} of its {_passes(cap)} (an unfinished "
                    "run), not converged")
    if len(passes) >= 2:
        change = abs(passes[-1]["elbo_per_frame"] - passes[-2]["elbo_per_frame"])
        sentence += (f": its ELBO still changed by {change / model.n_features_in_:.2g} nats "
                     f"per frame and dimension in the last pass (tol {model.tol:g})")
    sentence += (", so more passes would change the model (continue it with hdpmusic fit "
                 "CORPUS --out MODEL --resume --epochs N).")
    return short, sentence


def epoch_means(hist: History) -> tuple[np.ndarray, np.ndarray]:
    """Mean objective of each pass (epoch), placed at the pass's last update.

    Mini-batch ELBOs scatter with the songs drawn; their pass means show the trend.

    Returns
    -------
    x, means : np.ndarray
        Empty when the history records no passes, or one record per pass (then the
        records are already the pass values).
    """
    known = np.isfinite(hist.group)
    if hist.x_label != "update" or not known.any():
        return np.empty(0), np.empty(0)
    groups = np.unique(hist.group[known])
    x = np.array([hist.x[known & (hist.group == g)].max() for g in groups])
    with np.errstate(all="ignore"):
        means = np.array([np.nanmean(hist.objective[known & (hist.group == g)])
                          if np.isfinite(hist.objective[known & (hist.group == g)]).any()
                          else np.nan for g in groups])
    return x, means


def weight_summary(weights: np.ndarray) -> dict[str, float]:
    """How concentrated the corpus-level weights ``E[β_k]`` are.

    Parameters
    ----------
    weights : np.ndarray, shape (K,)
        Non-negative; normalised here.

    Returns
    -------
    dict
        ``K``; ``effective``: exp of the entropy of the weights (K for uniform weights,
        1 for one component); ``n50``, ``n90``, ``n99``: the fewest components holding
        50 %, 90 %, 99 % of the weight.
    """
    w = np.asarray(weights, dtype=np.float64).ravel()
    w = w / w.sum()
    nz = w[w > 0]
    cum = np.cumsum(np.sort(w)[::-1])
    out = {"K": float(w.size), "effective": float(np.exp(-(nz * np.log(nz)).sum()))}
    for q in (50, 90, 99):
        out[f"n{q}"] = float(min(np.searchsorted(cum, q / 100 - 1e-12) + 1, w.size))
    return out
