"""Write a report folder from results and models (see :mod:`hdpmusic.report`)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from hdpmusic import __version__
from hdpmusic.evaluation.protocol import RunResult, read_results
from hdpmusic.evaluation.summary import model_distributions, paired_differences
from hdpmusic.formats.atomic import atomic_folder
from hdpmusic.report.components import components_section
from hdpmusic.report.labels import file_stem, hdpgmm_title
from hdpmusic.report.page import Figure, Page, render_html, render_markdown
from hdpmusic.report.plots import (
    confusion_figure,
    factor_figure,
    model_figure,
    save_figure,
    scores_figure,
)
from hdpmusic.report.tables import (
    confusion_matrices,
    factor_series,
    fit_cautions,
    history_series,
    main_table,
    relabel,
    stopping_note,
    task_facts,
)
from hdpmusic.runtime.errors import DataError

__all__ = ["ComponentsOptions", "build_report", "find_results", "write_report"]


@dataclass(frozen=True)
class ComponentsOptions:
    """What the components section of each HDPGMM reads and shows.

    Attributes
    ----------
    corpus : path-like
        Corpus file of the songs (a task file: its tags or genres name the components).
    top_components, top_labels, top_songs : int
    seconds : float
        Excerpt length.
    audio : bool
        Write audio excerpts when the corpus's audio is found.
    audio_root : path-like, optional
        Overrides where the corpus says its audio is.
    """

    corpus: str | os.PathLike
    top_components: int = 8
    top_labels: int = 5
    top_songs: int = 5
    seconds: float = 3.0
    audio: bool = True
    audio_root: str | os.PathLike | None = None


def build_report(results: Sequence[RunResult], out_dir: str | os.PathLike, *,
                 models: Mapping[str, Any] | None = None,
                 components: ComponentsOptions | None = None,
                 title: str = "hdpmusic report", intro: str = "",
                 command: str | None = None) -> tuple[Path, Path]:
    """Write the report of in-memory results and fitted models into ``out_dir``.

    Parameters
    ----------
    results : sequence of RunResult
        May be empty when only models are reported.
    out_dir : path-like
        The report's folder, replaced whole once the report is written
        (:func:`~hdpmusic.formats.atomic.atomic_folder`): a failure leaves an earlier
        report as it was, and none of its files outlives the new one.
    models : mapping of str to HDPGMM, optional
        Fitted models by name: their training trace and weights are plotted, and with
        ``components`` their components section is written.
    components : ComponentsOptions, optional
    title : str
    intro : str
        A paragraph under the title (what was run on what).
    command : str, optional
        The command line that wrote the report, for its provenance section.

    Returns
    -------
    markdown_path, html_path : pathlib.Path
    """
    final = Path(out_dir)
    with atomic_folder(final) as out:
        _write_files(results, out, models=models or {}, components=components,
                     page=Page(title, intro, provenance=provenance(results, command)))
    return final / "report.md", final / "report.html"


def _write_files(results: Sequence[RunResult], out: Path, *, models: Mapping[str, Any],
                 components: ComponentsOptions | None, page: Page) -> None:
    """Write the report's figures, components sections and pages into the folder ``out``
    (see :func:`build_report`)."""
    if results:
        labelled = relabel(results)
        distributions = model_distributions(labelled)
        page.table = main_table(labelled, distributions=distributions)
        page.cautions = fit_cautions(labelled)
        page.paired = paired_differences(labelled, distributions=distributions)
        save_figure(scores_figure(labelled, page.table), out / "scores.png")
        page.figures.append(Figure(
            "scores.png", "Each run's score (dots) and the mean ± SD over runs (diamond) "
            "per model and task, with the 95 % bootstrap CI over the test songs (band) "
            "where the results kept predictions; the axis starts at the chance level "
            "(dashed), so the distance from it is the gain over chance.",
            "Scores per task"))
        for task in page.table.tasks:
            matrices = confusion_matrices(labelled, task)
            if matrices:
                name = f"confusion_{file_stem(task)}.png"
                save_figure(confusion_figure(matrices, task), out / name)
                page.figures.append(Figure(
                    name, f"Confusion matrices on {task}, summed over runs: each row is a "
                    "true class, its cells the share of its songs predicted as each class "
                    "(counts written in).", "Confusion matrices"))
        for factor, xlabel, name in (("eta0", "η0 (splash regulariser)", "eta0_effect.png"),
                                     ("n_train", "training songs", "size_effect.png")):
            series = factor_series(results, factor)
            if series:
                save_figure(factor_figure(series, xlabel, page.table.metrics), out / name)
                page.figures.append(Figure(name, f"Effect of {xlabel} on the scores: mean "
                                           "± SD and each run", "Learning factors"))
    for name, model in models.items():
        heading = hdpgmm_title(name)
        file = f"{file_stem(name)}_training.png"
        # one record per pass (the exact ELBO of memoized fits) where the model keeps them
        history = list(getattr(model, "passes_", None) or getattr(model, "history_", None)
                       or [])
        stopped = stopping_note(model)
        save_figure(model_figure(history_series(history) if history else None,
                                 np.asarray(model.weights_), f"{heading}: training and weights",
                                 note=stopped[0] if stopped else None),
                    out / file)
        page.figures.append(Figure(
            file, f"{heading}: the objective and the component counts its training "
            "recorded, and the sorted corpus weights 𝔼[βₖ]."
            + (f" {stopped[1]}" if stopped else ""), f"Model {heading}"))
        if components is not None:
            page.components.append(components_section(
                model, name, components.corpus, out, top_components=components.top_components,
                top_labels=components.top_labels, top_songs=components.top_songs,
                seconds=components.seconds, audio=components.audio,
                audio_root=components.audio_root))
    (out / "report.md").write_text(render_markdown(page), encoding="utf-8")
    (out / "report.html").write_text(render_html(page), encoding="utf-8")


def provenance(results: Sequence[RunResult], command: str | None = None) -> list[str]:
    """The report's provenance: the hdpmusic version, the command, the date and, per
    task, the runs' seeds and split sizes (:func:`~hdpmusic.report.tables.task_facts`).

    Parameters
    ----------
    results : sequence of RunResult
    command : str, optional

    Returns
    -------
    list of str
        One fact per line.
    """
    facts = [f"hdpmusic {__version__}"]
    facts += [f"command: {command}"] if command else []
    facts.append(f"written {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}")
    return facts + [f"{task}: {text}" for task, text in task_facts(results).items()]


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
                 components: ComponentsOptions | None = None,
                 title: str = "hdpmusic report", intro: str = "",
                 command: str | None = None) -> tuple[Path, Path]:
    """Read results and HDPGMM model files and write the report (see the package doc).

    Returns
    -------
    markdown_path, html_path : pathlib.Path
    """
    results = find_results(result_paths)
    models: dict[str, Any] = {}
    model_paths = list(model_paths)
    if model_paths:
        from hdpmusic.model.hdpgmm import HDPGMM

        for path in map(Path, model_paths):
            name = path.stem
            while name in models:
                name += "_"
            models[name] = HDPGMM.load(path, device="cpu")
    if not results and not models:
        raise DataError("nothing to report: no results and no models")
    if components is not None and not models:
        raise DataError("a components section needs an HDPGMM model (--models)")
    return build_report(results, out_dir, models=models, components=components,
                        title=title, intro=intro, command=command)
