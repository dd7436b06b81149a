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

Exemplars (:func:`scan_exemplars`) say what a component sounds like: over the frames of a
set of songs, with frame responsibilities ``p(k | x)`` (``HDPGMM.predict_proba``), the
responsibility-weighted mean frame of each component (its feature profile, compared
with the mean and SD of all the frames scanned) and the window of a given length where
its mean responsibility is highest (the excerpt to listen to).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from hdpmusic.formats.taskdata import read_task
from hdpmusic.runtime.errors import DataError, ParameterError

__all__ = ["METHODS", "MIN_SHARE", "ComponentTags", "Exemplars", "best_windows", "component_load",
           "format_table", "interpret", "interpret_model", "scan_exemplars", "scan_songs",
           "tag_enrichment", "task_labels", "top_songs"]

METHODS = ("lift", "log_odds")
_EPS = 1e-12

#: the smallest share of the songs' responsibility a listed component has: below it a
#: component explains none of these songs (its tags would only echo the prior)
MIN_SHARE = 1e-6


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
    labels : {"tags", "genres"}
        What the ``tags`` are: tags, or the genres of a task without tags.
    """

    component: int
    load: float
    share: float
    tags: list[str] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    frequencies: list[float] = field(default_factory=list)
    base_rates: list[float] = field(default_factory=list)
    labels: str = "tags"


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
              prior: float = 1.0, labels: str = "tags") -> list[ComponentTags]:
    """The top tags of the most loaded components.

    Parameters
    ----------
    responsibilities : np.ndarray, shape (J, K)
        Song-level responsibilities (rows sum to one).
    annotations : scipy.sparse matrix or np.ndarray, shape (J, T)
    tags : sequence of str, length T
    top_components : int
        Components listed, by decreasing load ``N_k`` over the tagged songs; fewer
        when fewer have a share of at least :data:`MIN_SHARE`.
    top_tags : int
        Tags listed per component, by decreasing enrichment.
    method : {"lift", "log_odds"}
    prior : float
        See :func:`tag_enrichment`.
    labels : {"tags", "genres"}, default="tags"
        What the columns of ``annotations`` are (recorded in the rows).

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
    order = [k for k in np.argsort(-load, kind="stable")[:top_components]
             if total > 0 and load[k] >= MIN_SHARE * total]
    out = []
    for k in order:
        s = np.where(np.isnan(scores[k]), -np.inf, scores[k])
        best = np.argsort(-s, kind="stable")[:top_tags]
        best = [t for t in best if np.isfinite(s[t])]
        out.append(ComponentTags(
            component=int(k), load=float(load[k]),
            share=float(load[k] / total),
            tags=[tags[t] for t in best], scores=[float(scores[k, t]) for t in best],
            frequencies=[float(freq[k, t]) for t in best],
            base_rates=[float(base[t]) for t in best], labels=labels))
    return out


def format_table(rows: Sequence[ComponentTags], *, method: str = "lift") -> str:
    """A markdown table: component, share, top tags (or genres) with their scores.

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
    labels = rows[0].labels if rows else "tags"
    lines = [f"| rank | component | share N_k | top {labels} ({label}) |",
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
    """Load a model and a task corpus and run :func:`interpret` on its tags, or on its
    genres when it has no tags (:func:`task_labels`).

    Parameters
    ----------
    model_path : path-like
        An HDPGMM file (``HDPGMM.save``).
    task_path : path-like
        A corpus file holding the frames and the tags (or genres) of its songs.
    top_components, top_tags, method, prior
        See :func:`interpret`.
    device : str, optional
        Torch device for the transform (default: the model's).

    Returns
    -------
    list of ComponentTags
    """
    from hdpmusic.formats.corpus import Corpus
    from hdpmusic.model.hdpgmm import HDPGMM

    task = read_task(task_path)
    labelled = task_labels(task)
    if labelled is None:
        raise DataError(f"{task_path} has neither tag nor genre annotations")
    Y, names, kind = labelled
    model = HDPGMM.load(model_path, device=device)
    corpus = Corpus.open(task_path)
    R = model.transform(corpus, kind="responsibility", log=False, components="all")
    position = {i: n for n, i in enumerate(corpus.ids)}
    missing = [i for i in task.ids if i not in position]
    if missing:
        raise DataError(f"{len(missing)} annotated song(s) have no frames in {task_path}, "
                        f"e.g. {missing[0]!r}")
    R = R[[position[i] for i in task.ids]]
    return interpret(R, Y, names, top_components=top_components, top_tags=top_tags,
                     method=method, prior=prior, labels=kind)


def task_labels(task: Any) -> tuple[sp.csr_matrix, list[str], str] | None:
    """The labels of a task's songs as a song × label matrix, for :func:`interpret`.

    Parameters
    ----------
    task : hdpmusic.formats.taskdata.TaskData

    Returns
    -------
    (matrix, names, kind) or None
        Tags (``kind="tags"``) when the task has them, else its genres one-hot
        (``kind="genres"``); None when it has neither.
    """
    if task.annotations is not None:
        return sp.csr_matrix(task.annotations), list(task.tags), "tags"
    if task.targets is not None:
        names, codes = np.unique(np.asarray(task.targets, dtype=str), return_inverse=True)
        rows = np.arange(len(codes))
        Y = sp.csr_matrix((np.ones(len(codes)), (rows, codes)), shape=(len(codes), len(names)))
        return Y, [str(n) for n in names], "genres"
    return None


def top_songs(responsibilities: np.ndarray, component: int, n: int,
              ) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` songs with the highest responsibility of one component.

    Parameters
    ----------
    responsibilities : np.ndarray, shape (J, K)
    component : int
    n : int

    Returns
    -------
    indices : np.ndarray of int, shape (min(n, J),)
        Highest first (ties: lower index first).
    values : np.ndarray of float, shape (min(n, J),)
    """
    column = np.asarray(responsibilities, dtype=np.float64)[:, component]
    order = np.argsort(-column, kind="stable")[:n]
    return order, column[order]


def scan_songs(responsibilities: np.ndarray, components: Sequence[int], *,
               max_songs: int = 500, per_component: int = 20, seed: int = 0) -> np.ndarray:
    """The songs whose frames :func:`scan_exemplars` reads.

    Every song when there are at most ``max_songs``; otherwise a seeded random sample of
    ``max_songs`` songs (for the reference statistics) joined with the ``per_component``
    songs of highest responsibility of each component (where its excerpt most likely is).

    Returns
    -------
    np.ndarray of int
        Sorted song indices.
    """
    J = len(responsibilities)
    if J <= max_songs:
        return np.arange(J)
    chosen = set(np.random.default_rng(seed).choice(J, size=max_songs, replace=False).tolist())
    for k in components:
        chosen.update(top_songs(responsibilities, k, per_component)[0].tolist())
    return np.array(sorted(chosen), dtype=np.int64)


def best_windows(proba: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Per column, the ``width``-frame window of highest mean.

    Parameters
    ----------
    proba : np.ndarray, shape (n, C)
        Frame responsibilities of C components in one song.
    width : int
        Window length in frames; a song shorter than it is one window.

    Returns
    -------
    starts : np.ndarray of int, shape (C,)
        First frame of each column's best window (the earliest among ties).
    means : np.ndarray of float, shape (C,)
        The mean of the column over that window.
    """
    p = np.asarray(proba, dtype=np.float64)
    w = max(1, min(int(width), p.shape[0]))
    cs = np.concatenate([np.zeros((1, p.shape[1])), np.cumsum(p, axis=0)])
    means = (cs[w:] - cs[:-w]) / w                                  # (n - w + 1, C)
    starts = means.argmax(axis=0)
    return starts, means[starts, np.arange(p.shape[1])]


@dataclass
class Exemplars:
    """What :func:`scan_exemplars` found for C components.

    Attributes
    ----------
    components : np.ndarray of int, shape (C,)
    profiles : np.ndarray, shape (C, d)
        Responsibility-weighted mean frame of each component (NaN without any weight).
    mass : np.ndarray, shape (C,)
        Total frame responsibility ``Σ p(k | x)`` behind each profile.
    frame_mean, frame_sd : np.ndarray, shape (d,)
        Mean and SD of all the frames scanned, unweighted.
    song : np.ndarray of int, shape (C,)
        Index (in the corpus) of the song holding each component's best window.
    start, stop : np.ndarray of int, shape (C,)
        Its frames ``[start, stop)``.
    strength : np.ndarray, shape (C,)
        The component's mean frame responsibility over that window.
    n_songs, n_frames : int
        What was scanned.
    """

    components: np.ndarray
    profiles: np.ndarray
    mass: np.ndarray
    frame_mean: np.ndarray
    frame_sd: np.ndarray
    song: np.ndarray
    start: np.ndarray
    stop: np.ndarray
    strength: np.ndarray
    n_songs: int
    n_frames: int

    def zscores(self) -> np.ndarray:
        """``(profile − frame_mean) / frame_sd`` per component, shape (C, d) (0 where a
        column does not vary)."""
        sd = np.where(self.frame_sd > 0, self.frame_sd, np.inf)
        return (self.profiles - self.frame_mean) / sd


def scan_exemplars(proba: Callable[[np.ndarray], np.ndarray], corpus: Any,
                   components: Sequence[int], songs: Sequence[int] | np.ndarray, *,
                   width: int, batch_songs: int = 64) -> Exemplars:
    """Feature profiles and best windows of some components over the frames of some songs.

    Parameters
    ----------
    proba : callable
        Frames (n, d) → frame responsibilities (n, K), e.g. ``HDPGMM.predict_proba``.
    corpus : Corpus
        Frames in the features' original units.
    components : sequence of int, length C
        Columns of ``proba``'s output to follow.
    songs : sequence of int
        Corpus indices of the songs scanned (e.g. :func:`scan_songs`).
    width : int
        Window length in frames (a 3-s excerpt at 22 050 Hz, hop 512: 129).
    batch_songs : int
        Songs read and scored at a time (bounds memory).

    Returns
    -------
    Exemplars
    """
    comps = np.asarray(components, dtype=np.int64)
    songs = np.asarray(songs, dtype=np.int64)
    if comps.size == 0 or songs.size == 0:
        raise DataError("scan_exemplars needs at least one component and one song")
    C, d = comps.size, corpus.dim
    weighted = np.zeros((C, d))
    mass = np.zeros(C)
    total, total_sq, n_frames = np.zeros(d), np.zeros(d), 0
    best = np.full(C, -np.inf)
    song, start, stop = np.full(C, -1), np.zeros(C, np.int64), np.zeros(C, np.int64)
    for lo in range(0, songs.size, batch_songs):
        idx = songs[lo:lo + batch_songs]
        frames, offsets = corpus.read(idx)
        p = np.asarray(proba(frames), dtype=np.float64)[:, comps]   # (n, C)
        x = frames.astype(np.float64)
        weighted += p.T @ x
        mass += p.sum(axis=0)
        total += x.sum(axis=0)
        total_sq += (x * x).sum(axis=0)
        n_frames += x.shape[0]
        for b, j in enumerate(idx):
            a, e = offsets[b], offsets[b + 1]
            if e == a:
                continue
            s, m = best_windows(p[a:e], width)
            better = m > best
            best[better], song[better] = m[better], j
            start[better] = s[better]
            stop[better] = s[better] + min(width, e - a)
    mean = total / max(n_frames, 1)
    sd = np.sqrt(np.maximum(total_sq / max(n_frames, 1) - mean ** 2, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        profiles = weighted / mass[:, None]
    return Exemplars(comps, profiles, mass, mean, sd, song, start, stop, best,
                     int(songs.size), int(n_frames))
