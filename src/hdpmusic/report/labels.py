"""Names a person reads in the report: metrics, models and tasks.

Results and files use identifiers (``f1_macro``, ``hdpgmm``); the tables and figures show
``macro F1`` and ``HDPGMM``. Unknown identifiers are shown as they are.
"""

from __future__ import annotations

import re

from hdpmusic.representations.registry import MODELS

__all__ = ["METRIC_LABELS", "MODEL_LABELS", "file_stem", "hdpgmm_title", "metric_label",
           "model_label"]

METRIC_LABELS = {"f1_macro": "macro F1", "roc_auc_macro": "macro ROC-AUC",
                 "accuracy": "accuracy"}
"""Display name of each metric identifier (``ndcg@N`` is handled by :func:`metric_label`)."""

MODEL_LABELS = {name: entry.label for name, entry in MODELS.items()}
"""Display name of each model of the registry."""


def metric_label(metric: str) -> str:
    """``"f1_macro"`` → ``"macro F1"``, ``"ndcg@500"`` → ``"nDCG@500"``; several joined by
    ``/`` are each translated."""
    if "/" in metric:
        return " / ".join(metric_label(m) for m in metric.split("/"))
    if metric in METRIC_LABELS:
        return METRIC_LABELS[metric]
    match = re.fullmatch(r"ndcg(@\d+)?", metric, flags=re.IGNORECASE)
    if match:
        return "nDCG" + (match.group(1) or "")
    return metric


def model_label(model: str) -> str:
    """A model's display name: the registry's models in capitals, keeping any suffix.

    ``"hdpgmm"`` → ``"HDPGMM"``, ``"vq256"`` → ``"VQ256"``,
    ``"hdpgmm (η0=0.1)"`` → ``"HDPGMM (η0=0.1)"``; other names unchanged.
    """
    for name in sorted(MODEL_LABELS, key=len, reverse=True):
        if model == name or (model.startswith(name)
                             and re.match(r"[\s\d_(-]", model[len(name)])):
            return MODEL_LABELS[name] + model[len(name):]
    return model


def hdpgmm_title(name: str) -> str:
    """How the report names an HDPGMM model read from a file: ``"hdpgmm"`` → ``"HDPGMM"``,
    ``"tiny"`` → ``"HDPGMM “tiny”"``."""
    return model_label(name) if model_label(name) != name else f"HDPGMM “{name}”"


def file_stem(text: str) -> str:
    """A name as a safe file-name stem: runs of other characters than letters, digits,
    ``.``, ``_`` and ``-`` become ``_`` (``"hdpgmm (η0=0.1)"`` → ``"hdpgmm_0_0.1"``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "x"
