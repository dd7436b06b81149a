"""Tables, plots, a components section and a self-contained HTML/markdown report.

``write_report`` reads ``results.json`` files (``hdpmusic evaluate``) and, optionally,
HDPGMM model files and a corpus, and writes into one directory:

* ``report.md`` and ``report.html`` — the main table (models × tasks, mean ± SD over
  runs and its 95 % bootstrap CI, the metric, the number of runs, the best mean per task
  in bold, the chance level when the results record one in ``config["chance"]``), the
  paired differences, the figures and the components
  sections, referenced by relative file names (the folder can be moved or zipped whole);
* ``scores.png`` — one dot-plot panel per task: each run's score, the mean ± SD, the
  95 % bootstrap CI, the chance level (:mod:`hdpmusic.report.plots` explains the axis);
* the paired differences between models per task (paired bootstrap CI, win shares),
  when the results kept their predictions (``hdpmusic evaluate`` writes them);
* ``confusion_<task>.png`` — per genre task, each model's confusion matrix summed over
  runs;
* ``eta0_effect.png`` / ``size_effect.png`` — the learning-factor plots, when the results
  carry a splash regulariser (``config["eta0"]``, or ``regularization``) or a training
  corpus size (``config["n_train"]``, ``corpus_size``, ``train_size``) with more than one
  value for a model;
* ``<model>_training.png`` — per HDPGMM, the objective and the component counts its
  ``history_`` records carry, and its sorted corpus weights ``E[β_k]``;
* with a corpus (:class:`ComponentsOptions`), per HDPGMM, the components section
  (:mod:`hdpmusic.report.components`): ``<model>_component_<k>.png`` feature profiles and
  ``<model>_component_<k>.mp3`` audio excerpts.

Modules: :mod:`~hdpmusic.report.labels` (display names), :mod:`~hdpmusic.report.tables`
(the numbers), :mod:`~hdpmusic.report.plots` (the figures),
:mod:`~hdpmusic.report.components` (the components section), :mod:`~hdpmusic.report.page`
(markdown and HTML), :mod:`~hdpmusic.report.build` (the folder).
"""

from hdpmusic.report.build import ComponentsOptions, build_report, find_results, write_report
from hdpmusic.report.labels import metric_label, model_label
from hdpmusic.report.tables import (
    CHANCE_KEYS,
    ETA0_KEYS,
    SIZE_KEYS,
    Cell,
    History,
    MainTable,
    confusion_matrices,
    epoch_means,
    factor_series,
    format_number,
    history_series,
    main_table,
    paired_html,
    paired_markdown,
    parse_size,
    relabel,
    table_html,
    table_markdown,
    variant_label,
    weight_summary,
)

__all__ = [
    "CHANCE_KEYS",
    "ETA0_KEYS",
    "SIZE_KEYS",
    "Cell",
    "ComponentsOptions",
    "History",
    "MainTable",
    "build_report",
    "confusion_matrices",
    "epoch_means",
    "factor_series",
    "find_results",
    "format_number",
    "history_series",
    "main_table",
    "metric_label",
    "model_label",
    "paired_html",
    "paired_markdown",
    "parse_size",
    "relabel",
    "table_html",
    "table_markdown",
    "variant_label",
    "weight_summary",
    "write_report",
]
