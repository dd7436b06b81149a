"""Whether the model behind a representation saw some of the scored songs and not others.

An HDPGMM fitted on a song gives it a sharper posterior than a song it never saw: on 72
real excerpts the fit on their 51 train and valid songs left those songs a mean
posterior entropy of 0.98 nats against 1.85 for the 21 test songs. A probe trained on
the one kind of vector and tested on the other then scores far below a fit that saw all
of them, or none (0.25–0.29 macro F1 against 0.59). :func:`fitted_counts` counts the
fitted songs among those scored (each run records them as ``config["fitted_songs"]``)
and :func:`mixed_fit_message` says what it costs when a share between
:data:`MIXED_SHARE` and 1 − :data:`MIXED_SHARE` was fitted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["MIXED_SHARE", "fitted_counts", "mixed_fit_message"]

MIXED_SHARE = 0.05
"""A fitted share of the scored songs in (0.05, 0.95) draws the message; outside it the
songs are all seen or all unseen (up to a few hash collisions or stray songs)."""

_PARTS = ("train", "valid", "test")
ALL = "all"
"""The key of :func:`fitted_counts` that counts every scored song."""


def fitted_counts(fitted: np.ndarray, parts: np.ndarray | None = None) -> dict[str, list[int]]:
    """How many of the scored songs the model was fitted on, in all and per part.

    Parameters
    ----------
    fitted : np.ndarray of bool, shape (n,)
        Whether the model was fitted on each scored song
        (:meth:`hdpmusic.formats.representations.Representations.fitted_for`).
    parts : np.ndarray of str, shape (n,), optional
        The part of the split each song is in.

    Returns
    -------
    dict of str to [int, int]
        ``"all"`` → [fitted, scored], then each part (train, valid, test first, then any
        other name in sorted order) → [fitted, songs of the part].
    """
    fitted = np.asarray(fitted, dtype=bool)
    counts = {ALL: [int(fitted.sum()), int(fitted.size)]}
    if parts is not None:
        parts = np.asarray(parts).astype(str)
        names = [p for p in _PARTS if p in parts] + sorted(set(parts) - set(_PARTS))
        counts.update({p: [int(fitted[parts == p].sum()), int((parts == p).sum())]
                       for p in names})
    return counts


def mixed_fit_message(counts: Mapping[str, Sequence[int]]) -> str | None:
    """A sentence to warn when the model was fitted on some scored songs but not others.

    Parameters
    ----------
    counts : mapping
        :func:`fitted_counts`.

    Returns
    -------
    str or None
        None when (almost) all or none of the songs were fitted.
    """
    k, n = counts[ALL]
    if n == 0 or not MIXED_SHARE < k / n < 1 - MIXED_SHARE:
        return None
    parts = [f"{p} {f} of {m}" for p, (f, m) in counts.items() if p != ALL]
    where = f" ({', '.join(parts)})" if parts else ""
    return (f"the model behind these vectors was fitted on {k} of the {n} songs scored"
            f"{where}: a song it was fitted on gets a sharper vector than one it never "
            "saw, so the probe learns from vectors of another shape than those it is "
            "tested on and scores low; fit the model on every song of the task (the fit "
            "reads no labels) or on none of them")
