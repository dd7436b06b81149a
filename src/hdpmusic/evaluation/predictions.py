"""What a run predicted for each test song (or user), kept to bootstrap its score.

A :class:`Predictions` holds the entries a run's score is computed from — genre: true
and predicted labels; tagging: true tags and scores; recommendation: each test user's
nDCG — with each entry's resampling unit (``groups``: the song's group, e.g. its
artist, else the song; the user for recommendation) and its ``block``. A run's score
is the mean over its blocks of the block's metric: blocks are the repeats of a
cross-validation or the user splits of a recommendation run (one block otherwise).

:func:`bootstrap_records` resamples the units shared by several records (the runs of
one or several models on one task) with the same draws for all, so that the
distributions it returns are paired (see :mod:`hdpmusic.evaluation.uncertainty`).

Files: :func:`save_predictions` / :func:`load_predictions` keep them in one ``.npz``
(no pickles) under a key per record.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hdpmusic.evaluation.uncertainty import (
    N_RESAMPLES,
    resample_counts,
    weighted_accuracy,
    weighted_macro_ap,
    weighted_macro_auc,
    weighted_macro_f1,
    weighted_mean,
)
from hdpmusic.formats.atomic import atomic_path
from hdpmusic.runtime.errors import FormatError

__all__ = ["METRIC_FUNCTIONS", "Predictions", "bootstrap_records", "concatenate",
           "load_predictions", "save_predictions"]

METRIC_FUNCTIONS = {
    "f1_macro": lambda w, p: weighted_macro_f1(w, p.truth, p.output),
    "accuracy": lambda w, p: weighted_accuracy(w, p.truth, p.output),
    "roc_auc_macro": lambda w, p: weighted_macro_auc(w, p.truth, p.output),
    "pr_auc_macro": lambda w, p: weighted_macro_ap(w, p.truth, p.output),
    "ndcg@500": lambda w, p: weighted_mean(w, p.output),
}
"""Metric name → ``(weights (B, n), Predictions of one block) → (B,)``."""
_FIELDS = ("groups", "block", "truth", "output")


@dataclass
class Predictions:
    """The scored entries of one run.

    Attributes
    ----------
    groups : np.ndarray, shape (n,)
        Resampling unit of each entry (str or int); entries of one unit are drawn
        together.
    block : np.ndarray of int, shape (n,)
        Repeat (cross-validation) or user split (recommendation) of each entry.
    output : np.ndarray, shape (n,) or (n, n_tags)
        Predicted labels (genre), tag scores (tagging) or per-user nDCG
        (recommendation).
    truth : np.ndarray, shape (n,) or (n, n_tags), or None
        True labels (genre) or tags (bool, tagging); None for recommendation.
    """

    groups: np.ndarray
    block: np.ndarray
    output: np.ndarray
    truth: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.groups = np.asarray(self.groups)
        if self.groups.dtype == object:
            self.groups = self.groups.astype(str)
        self.block = np.asarray(self.block, dtype=np.int64)
        self.output = np.asarray(self.output)
        if self.truth is not None:
            self.truth = np.asarray(self.truth)
            if self.truth.dtype == object:
                self.truth = self.truth.astype(str)
        if self.output.dtype == object:
            self.output = self.output.astype(str)

    def __len__(self) -> int:
        return self.groups.shape[0]

    def _block(self, mask: np.ndarray) -> Predictions:
        return Predictions(self.groups[mask], self.block[mask], self.output[mask],
                           None if self.truth is None else self.truth[mask])

    def statistic(self, metric: str, counts: np.ndarray, index: np.ndarray) -> np.ndarray:
        """The run's score on each resample: the mean over blocks of the block metric.

        Parameters
        ----------
        metric : str
            A key of :data:`METRIC_FUNCTIONS`.
        counts : np.ndarray, shape (B, G)
            Draws of each unit (:func:`~hdpmusic.evaluation.uncertainty.resample_counts`).
        index : np.ndarray of int, shape (n,)
            Column of ``counts`` of each entry's unit.

        Returns
        -------
        np.ndarray, shape (B,)
            NaN where a block has no value on that resample.
        """
        function = METRIC_FUNCTIONS[metric]
        values = [function(counts[:, index[self.block == b]],
                           self._block(self.block == b))
                  for b in np.unique(self.block)]
        return np.mean(values, axis=0)

    def score(self, metric: str) -> float:
        """The run's score on the entries themselves (every unit drawn once)."""
        _, index = np.unique(self.groups, return_inverse=True)
        ones = np.ones((1, int(index.max()) + 1 if index.size else 0), dtype=np.int32)
        return float(self.statistic(metric, ones, index)[0])


def concatenate(parts: Sequence[Predictions]) -> Predictions:
    """The entries of several predictions (e.g. the blocks of one run) as one."""
    truth = None if parts[0].truth is None else np.concatenate([p.truth for p in parts])
    return Predictions(np.concatenate([p.groups for p in parts]),
                       np.concatenate([p.block for p in parts]),
                       np.concatenate([p.output for p in parts]), truth)


def bootstrap_records(records: Sequence[tuple[Predictions, str]], *,
                      n_resamples: int = N_RESAMPLES, seed: int = 0) -> np.ndarray:
    """Paired bootstrap distributions of the scores of several runs.

    The units of all records are pooled (a unit is the same song, group or user in
    every record) and each resample draws them once for all records.

    Parameters
    ----------
    records : sequence of (Predictions, metric)
    n_resamples : int
        Resamples (default 1000).
    seed : int
        Seed of the draws (default 0).

    Returns
    -------
    np.ndarray, shape (len(records), n_resamples)
    """
    if not records:
        return np.empty((0, n_resamples))
    units, index = np.unique(np.concatenate([p.groups for p, _ in records]),
                             return_inverse=True)
    bounds = np.cumsum([0, *(len(p) for p, _ in records)])
    out = np.empty((len(records), n_resamples))
    start = 0
    for counts in resample_counts(units.size, n_resamples, seed):
        stop = start + counts.shape[0]
        for r, (p, metric) in enumerate(records):
            out[r, start:stop] = p.statistic(metric, counts, index[bounds[r]:bounds[r + 1]])
        start = stop
    return out


def save_predictions(predictions: dict[str, Predictions], path: str | os.PathLike) -> Path:
    """Write predictions by key into one ``.npz`` (atomically; strings as unicode)."""
    arrays = {}
    for key, p in predictions.items():
        for name in _FIELDS:
            value = getattr(p, name)
            if value is not None:
                arrays[f"{key}/{name}"] = value
    path = Path(path)
    with atomic_path(path) as tmp, tmp.open("wb") as f:
        np.savez_compressed(f, **arrays)
    return path


def load_predictions(path: str | os.PathLike) -> dict[str, Predictions]:
    """Read the predictions written by :func:`save_predictions`, by key."""
    try:
        with np.load(path, allow_pickle=False) as data:
            fields: dict[str, dict[str, np.ndarray]] = {}
            for name in data.files:
                key, _, field = name.rpartition("/")
                fields.setdefault(key, {})[field] = data[name]
    except (OSError, ValueError) as err:
        raise FormatError(f"cannot read predictions {path}: {err}") from err
    try:
        return {key: Predictions(**value) for key, value in fields.items()}
    except TypeError as err:
        raise FormatError(f"{path}: malformed predictions: {err}") from err
