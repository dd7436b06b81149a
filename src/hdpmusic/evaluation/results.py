"""The record of one scored run: what :func:`~hdpmusic.evaluation.protocol.evaluate`
returns, what the summaries read and what ``results.json`` stores."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hdpmusic.evaluation.predictions import Predictions

__all__ = ["RunResult"]


@dataclass
class RunResult:
    """The score of one run of one model on one task.

    Attributes
    ----------
    model : str
    task : str
    run : int
        0-based run number.
    score : float
    metric : str
        ``f1_macro``, ``roc_auc_macro`` or ``ndcg@500``.
    config : dict
        The run's seed, the choices made on validation data (C, k, ...), the other
        metrics (accuracy and confusion matrix, PR-AUC) and ``ci95``: the run's
        bootstrap CI ``[low, high]``.
    predictions : Predictions or None
        The run's test predictions (not compared; None for version 1 results).
    """

    model: str
    task: str
    run: int
    score: float
    metric: str
    config: dict[str, Any] = field(default_factory=dict)
    predictions: Predictions | None = field(default=None, compare=False, repr=False)
