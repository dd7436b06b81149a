"""Early stopping of a memoized fit on held-out songs (pure functions).

With ``HDPGMM(early_stopping=True)`` (and by default, ``"auto"``, on corpora of
:data:`AUTO_MIN_SONGS` songs or more) a share of the songs is held out of the fit
(:func:`validation_split`), their per-frame log predictive density is scored after every
pass, and the fit ends once ``n_iter_no_change`` passes in a row have not raised the best
score by more than a tolerance (:func:`passes_without_improvement`): the rule of
scikit-learn's ``MLPClassifier(early_stopping=True)``, on the score a density model is
judged by. On real music the training ELBO keeps creeping up for passes after the
held-out density has stopped rising (the components' covariances shrinking around the
training frames), so this rule ends such a fit where what generalises has settled.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from hdpmusic.runtime.errors import DataError

__all__ = ["AUTO_MIN_GROUPS", "AUTO_MIN_SONGS", "CREEP", "check_groups", "creeping",
           "passes_without_improvement", "split_digest", "stops_early", "validation_split"]

AUTO_MIN_SONGS = 100
"""Songs from which ``early_stopping="auto"`` holds some out: at the default share, 10
held-out songs, the fewest whose mean density one song's peculiarity does not steer. A
smaller corpus is fitted whole, to the ELBO rule (its passes take seconds)."""

AUTO_MIN_GROUPS = 20
"""Groups from which ``early_stopping="auto"`` holds some out when the songs come in
groups: at the default share two held-out groups at least, so that no single recording
(album, artist) decides when the fit stops. Fewer groups: fitted whole."""


CREEP = 10.0
"""How many times ``tol`` the last pass may have raised the ELBO (per frame and dimension)
for the early-stopping rule to end a fit. The rule is there to cut the slow creep of the
late passes; in the first ones, while the fit still reorganises its components, the
held-out density can dip although structure is being found (planted truth, memoized
without moves: −13.974 nats per frame after one pass, −13.986 after five, −13.798 after
30, the partition's adjusted Rand index rising from 0.35 to 1.0), and a stop there
freezes a half-built model."""


def creeping(elbos: Sequence[float], tol: float) -> bool:
    """Whether a fit has reached the slow creep the early-stopping rule may cut.

    Parameters
    ----------
    elbos : sequence of float, shape (n_passes,)
        The ELBO after each pass so far, per frame and feature dimension.
    tol : float
        The fit's ``tol``; 0 (the ELBO not consulted) lets the rule act on any pass.

    Returns
    -------
    bool
        True when the last pass changed the ELBO by at most :data:`CREEP` × ``tol``
        (never after a single pass, unless ``tol`` is 0).
    """
    if tol <= 0:
        return True
    return len(elbos) >= 2 and abs(elbos[-1] - elbos[-2]) <= CREEP * tol


def stops_early(setting: bool | str, n_songs: int, n_groups: int | None = None) -> bool:
    """Whether a memoized fit of ``n_songs`` songs holds songs out to stop early.

    Parameters
    ----------
    setting : bool or "auto"
        The estimator's ``early_stopping``: ``"auto"`` is on from :data:`AUTO_MIN_SONGS`
        songs (as scikit-learn's histogram gradient boosting turns its own on from a
        number of samples) in at least :data:`AUTO_MIN_GROUPS` groups.
    n_songs : int
        Songs in the corpus to fit.
    n_groups : int, optional
        Groups among them, where they come in groups (the units held out).

    Returns
    -------
    bool
    """
    if setting != "auto":
        return bool(setting)
    return n_songs >= AUTO_MIN_SONGS and (n_groups is None or n_groups >= AUTO_MIN_GROUPS)


def check_groups(groups: Any, n_songs: int) -> np.ndarray | None:
    """``groups`` as a 1-d array with a label per song (None stays None).

    Raises
    ------
    DataError
        Not one label per song.
    """
    if groups is None:
        return None
    labels = np.asarray(groups)
    if labels.ndim != 1 or len(labels) != n_songs:
        raise DataError(f"groups must hold one label per song: the corpus has {n_songs} "
                        f"songs, groups has shape {labels.shape}")
    return labels


def validation_split(n_songs: int, fraction: float, seed: int,
                     groups: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The songs a fit learns from and those it holds out, reproducible from ``seed``.

    Parameters
    ----------
    n_songs : int
        Songs in the corpus.
    fraction : float
        Share of the songs (with ``groups``: of the groups) held out, in (0, 1); at least
        one each side.
    seed : int
        Seed of the draw (the estimator's ``random_state``): a resumed fit holds out the
        same songs.
    groups : np.ndarray, shape (n_songs,), optional
        A label per song (track, album, artist): songs of one group fall on one side, so
        that excerpts of one recording do not score the fit of their siblings. None:
        every song its own group.

    Returns
    -------
    train, held : np.ndarray of int64, sorted
        Song indices of the two parts (sorted so that reads stay in corpus order).

    Raises
    ------
    DataError
        Fewer than two songs (groups), or a share that leaves one side empty.
    """
    units = "songs" if groups is None else "groups"
    labels = (np.arange(n_songs, dtype=np.int64) if groups is None
              else np.unique(np.asarray(groups), return_inverse=True)[1].astype(np.int64))
    n_units = n_songs if groups is None else int(labels.max(initial=-1)) + 1
    held = int(np.ceil(fraction * n_units))
    if n_units < 2 or held >= n_units:
        raise DataError(f"early stopping holds out validation_fraction={fraction:g} of the "
                        f"{units} and needs at least one left to fit on; this corpus has "
                        f"{n_units}: lower validation_fraction or turn early_stopping off")
    _, valid = train_test_split(np.arange(n_units, dtype=np.int64), test_size=held,
                                random_state=seed)
    out = np.isin(labels, valid)
    return np.flatnonzero(~out), np.flatnonzero(out)


def split_digest(ids: Sequence[str]) -> int:
    """A checksum of the held-out songs' ids (CRC-32), saved with a fit so that a resumed
    fit can tell it holds out the same songs (not those of other groups)."""
    return zlib.crc32("\n".join(ids).encode())


def passes_without_improvement(scores: Sequence[float], tol: float) -> int:
    """How many of the last passes in a row did not beat the best score before them by
    more than ``tol``.

    A pass counts as no improvement when its score is below the best earlier score plus
    ``tol``; the best is raised by any higher score (as scikit-learn's multi-layer
    perceptron counts its ``n_iter_no_change``).

    Parameters
    ----------
    scores : sequence of float, shape (n_passes,)
        Held-out score after each pass, in order (higher is better).
    tol : float
        Least rise over the best earlier score that counts as an improvement (≥ 0).

    Returns
    -------
    int
        0 after an improving pass (and for the first pass), else the length of the run of
        passes without one that ends the sequence.
    """
    stale, best = 0, -np.inf
    for score in scores:
        stale = stale + 1 if score < best + tol else 0
        best = max(best, score)
    return stale
