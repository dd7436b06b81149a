"""Which tags go with which HDPGMM components (the study's Table 4).

For the most loaded components of a model over the songs of a tagged task, list the tags
most *enriched* among the songs that the component explains.

Definitions (J songs, K components, T tags; only songs with at least one tag count —
the "tagged corpus"):

* responsibilities ``R`` (J, K): per song, the frame-average of the HDP responsibilities
  (``HDPGMM.transform(kind="responsibility", log=False)``), rows summing to one;
* load of component k: ``N_k = Σ_j R_jk`` (expected number of songs it explains) and its
  share ``N_k / Σ_k N_k``; components are ranked by ``N_k``;
* base rate of tag t: ``p_t = (1/J) Σ_j y_jt`` with ``y_jt ∈ {0, 1}``;
* responsibility-weighted tag frequency, smoothed towards the base rate with a pseudo-count
  of ``prior`` songs: ``f_kt = (Σ_j R_jk y_jt + prior · p_t) / (N_k + prior)``;
* score, ``method="lift"`` (default): ``f_kt / p_t`` — how many times more often the tag
  occurs among the component's songs than in the tagged corpus (1 = no association);
  ``method="log_odds"``: ``logit(f_kt) − logit(p_t)`` (0 = no association), which
  penalises enrichment of already common tags less than the lift.

The smoothing keeps lightly loaded components and rare tags from producing huge ratios
from a fraction of a song; with ``prior=0`` the plain ratio is used.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from hdpmusic.errors import DataError, ParameterError

__all__ = ["METHODS", "ComponentTags", "component_load", "format_table", "interpret",
           "interpret_model", "tag_enrichment"]

METHODS = ("lift", "log_odds")
_EPS = 1e-12


@dataclass
class ComponentTags:
    """The top tags of one component.

    Attributes
    ----------
    component : int
        Index k of the component in the model.
    load : float
        ``N_k``, the expected number of tagged songs the component explains.
    share : float
        ``N_k / Σ N``.
    tags : list of str
        Top tags, most enriched first.
    scores : list of float
        Their enrichment scores (lift or log-odds ratio).
    frequencies : list of float
        Their smoothed responsibility-weighted frequencies ``f_kt``.
    base_rates : list of float
        Their base rates ``p_t``.
    """

    component: int
    load: float
    share: float
    tags: list[str] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    frequencies: list[float] = field(default_factory=list)
    base_rates: list[float] = field(default_factory=list)


def _check_inputs(responsibilities: np.ndarray, annotations: Any,
                  ) -> tuple[np.ndarray, sp.csr_matrix]:
    R = np.asarray(responsibilities, dtype=np.float64)
    if R.ndim != 2:
        raise DataError(f"responsibilities must be 2-D (songs, components); got shape {R.shape}")
    if not np.isfinite(R).all() or (R < 0).any():
        raise DataError("responsibilities must be finite and non-negative")
    Y = sp.csr_matrix(annotations)
    if Y.shape[0] != R.shape[0]:
        raise DataError(f"annotations have {Y.shape[0]} songs; responsibilities have "
                        f"{R.shape[0]}")
    Y = (Y != 0).astype(np.float64).tocsr()
    return R, Y


def component_load(responsibilities: np.ndarray) -> np.ndarray:
    """Total responsibility per component, ``N_k = Σ_j R_jk``.

    Parameters
    ----------
    responsibilities : np.ndarray, shape (J, K)

    Returns
    -------
    np.ndarray of float64, shape (K,)
    """
    return np.asarray(responsibilities, dtype=np.float64).sum(axis=0)


def tag_enrichment(responsibilities: np.ndarray, annotations: Any, *,
                   method: str = "lift", prior: float = 1.0,
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Enrichment of every tag for every component (see the module docstring).

    Songs without any tag are dropped first.

    Parameters
    ----------
    responsibilities : np.ndarray, shape (J, K)
    annotations : scipy.sparse matrix or np.ndarray, shape (J, T)
        Any non-zero entry is a positive.
    method : {"lift", "log_odds"}
    prior : float
        Pseudo-count (in songs) smoothing ``f_kt`` towards the base rate; >= 0.

    Returns
    -------
    scores : np.ndarray, shape (K, T)
        Lift ``f_kt / p_t`` or log-odds ratio; NaN for tags without any positive.
    frequencies : np.ndarray, shape (K, T)
        ``f_kt``.
    base_rates : np.ndarray, shape (T,)
        ``p_t``.
    """
    if method not in METHODS:
        raise ParameterError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    if not prior >= 0:
        raise ParameterError(f"prior must be >= 0; got {prior}")
    R, Y = _check_inputs(responsibilities, annotations)
    tagged = np.asarray(Y.sum(axis=1)).ravel() > 0
    if not tagged.any():
        raise DataError("no song has a tag")
    R, Y = R[tagged], Y[tagged]
    base = np.asarray(Y.mean(axis=0)).ravel()                       # (T,)
    load = R.sum(axis=0)                                            # (K,)
    hits = np.asarray((Y.T @ R).T)                                  # (K, T): Σ_j R_jk y_jt
    freq = (hits + prior * base[None, :]) / np.maximum(load + prior, _EPS)[:, None]
    present = base > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        if method == "lift":
            scores = freq / base[None, :]
        else:
            f = np.clip(freq, _EPS, 1 - _EPS)
            b = np.clip(base, _EPS, 1 - _EPS)
            scores = (np.log(f) - np.log1p(-f)) - (np.log(b) - np.log1p(-b))[None, :]
    scores[:, ~present] = np.nan
    return scores, freq, base


def interpret(responsibilities: np.ndarray, annotations: Any, tags: Sequence[str], *,
              top_components: int = 10, top_tags: int = 5, method: str = "lift",
              prior: float = 1.0) -> list[ComponentTags]:
    """The top tags of the most loaded components.

    Parameters
    ----------
    responsibilities : np.ndarray, shape (J, K)
        Song-level responsibilities (rows sum to one).
    annotations : scipy.sparse matrix or np.ndarray, shape (J, T)
    tags : sequence of str, length T
    top_components : int
        Components listed, by decreasing load ``N_k`` over the tagged songs.
    top_tags : int
        Tags listed per component, by decreasing enrichment.
    method : {"lift", "log_odds"}
    prior : float
        See :func:`tag_enrichment`.

    Returns
    -------
    list of ComponentTags
        Most loaded first.
    """
    if top_components < 1 or top_tags < 1:
        raise ParameterError("top_components and top_tags must be >= 1")
    tags = [str(t) for t in tags]
    R, Y = _check_inputs(responsibilities, annotations)
    if Y.shape[1] != len(tags):
        raise DataError(f"annotations have {Y.shape[1]} columns for {len(tags)} tags")
    scores, freq, base = tag_enrichment(R, Y, method=method, prior=prior)
    tagged = np.asarray(Y.sum(axis=1)).ravel() > 0
    load = component_load(R[tagged])
    total = load.sum()
    order = np.argsort(-load, kind="stable")[:top_components]
    out = []
    for k in order:
        s = np.where(np.isnan(scores[k]), -np.inf, scores[k])
        best = np.argsort(-s, kind="stable")[:top_tags]
        best = [t for t in best if np.isfinite(s[t])]
        out.append(ComponentTags(
            component=int(k), load=float(load[k]),
            share=float(load[k] / total) if total > 0 else 0.0,
            tags=[tags[t] for t in best], scores=[float(scores[k, t]) for t in best],
            frequencies=[float(freq[k, t]) for t in best],
            base_rates=[float(base[t]) for t in best]))
    return out


def format_table(rows: Sequence[ComponentTags], *, method: str = "lift") -> str:
    """A markdown table: component, share, top tags with their scores.

    Parameters
    ----------
    rows : sequence of ComponentTags
    method : {"lift", "log_odds"}
        Only names the score in the header.

    Returns
    -------
    str
    """
    label = "lift" if method == "lift" else "log-odds ratio"
    lines = [f"| rank | component | share N_k | top tags ({label}) |",
             "|---:|---:|---:|---|"]
    for rank, row in enumerate(rows, start=1):
        cells = ", ".join(f"{t.replace('|', '/')} ({s:.2f})"
                          for t, s in zip(row.tags, row.scores, strict=True))
        lines.append(f"| {rank} | {row.component} | {row.share:.2%} | {cells} |")
    return "\n".join(lines) + "\n"


def interpret_model(model_path: str | os.PathLike, task_path: str | os.PathLike, *,
                    top_components: int = 10, top_tags: int = 5, method: str = "lift",
                    prior: float = 1.0, device: str | None = None,
                    ) -> list[ComponentTags]:
    """Load a model and a tagged task corpus and run :func:`interpret`.

    Parameters
    ----------
    model_path : path-like
        An HDPGMM file (``HDPGMM.save``).
    task_path : path-like
        A corpus file holding the frames and the tag annotations of its songs.
    top_components, top_tags, method, prior
        See :func:`interpret`.
    device : str, optional
        Torch device for the transform (default: the model's).

    Returns
    -------
    list of ComponentTags
    """
    from hdpmusic.corpus import Corpus
    from hdpmusic.model.hdpgmm import HDPGMM
    from hdpmusic.taskdata import read_task

    task = read_task(task_path)
    if task.annotations is None:
        raise DataError(f"{task_path} has no tag annotations")
    model = HDPGMM.load(model_path, device=device)
    corpus = Corpus.open(task_path)
    R = model.transform(corpus, kind="responsibility", log=False)
    position = {i: n for n, i in enumerate(corpus.ids)}
    missing = [i for i in task.ids if i not in position]
    if missing:
        raise DataError(f"{len(missing)} annotated song(s) have no frames in {task_path}, "
                        f"e.g. {missing[0]!r}")
    R = R[[position[i] for i in task.ids]]
    return interpret(R, task.annotations, task.tags, top_components=top_components,
                     top_tags=top_tags, method=method, prior=prior)
