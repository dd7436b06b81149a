"""Downstream evaluation of song representations (DESIGN §6).

Protocols consume representation arrays or files (:mod:`hdpmusic.representations`) and
task annotations (:mod:`hdpmusic.taskdata`); they never import a model.

* :mod:`~hdpmusic.evaluation.classification` — genre: logistic regression, macro F1;
* :mod:`~hdpmusic.evaluation.tagging` — auto-tagging: binary logistic regressions,
  macro ROC-AUC;
* :mod:`~hdpmusic.evaluation.recommendation` — item-kNN on cosine similarity,
  nDCG@500;
* :mod:`~hdpmusic.evaluation.protocol` — several seeded runs, mean ± SD, results files.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hdpmusic.errors import ParameterError

if TYPE_CHECKING:
    import torch

__all__ = ["resolve_device"]


def resolve_device(device: str) -> torch.device:
    """The torch device for ``device``: ``"auto"`` picks CUDA when present, else CPU.

    Raises
    ------
    ParameterError
        If the device string is invalid or names an unavailable CUDA device.
    """
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as err:
        raise ParameterError(f"invalid device {device!r}: {err}") from err
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ParameterError(f"device {device!r} requested but CUDA is not available; "
                             "use --device cpu or auto")
    return resolved
