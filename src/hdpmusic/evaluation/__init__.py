"""Downstream evaluation of song representations (``docs/design.md`` §6).

Protocols consume representation arrays or files (:mod:`hdpmusic.formats.representations`) and
task annotations (:mod:`hdpmusic.formats.taskdata`); they never import a model.

* :mod:`~hdpmusic.evaluation.classification` — genre: logistic regression, macro F1;
* :mod:`~hdpmusic.evaluation.tagging` — auto-tagging: binary logistic regressions,
  macro ROC-AUC;
* :mod:`~hdpmusic.evaluation.recommendation` — item-kNN on cosine similarity,
  nDCG@500;
* :mod:`~hdpmusic.evaluation.protocol` — several seeded runs, mean ± SD, results files.
"""

from __future__ import annotations

from hdpmusic.runtime.devices import resolve_device

__all__ = ["resolve_device"]
