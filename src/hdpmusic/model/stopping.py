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

from collections.abc import Sequence

import numpy as np
from sklearn.model_selection import train_test_split

from hdpmusic.runtime.errors import DataError

__all__ = ["AUTO_MIN_SONGS", "passes_without_improvement", "stops_early", "validation_split"]

AUTO_MIN_SONGS = 100
"""Songs from which ``early_stopping="auto"`` holds some out: at the default share, 10
held-out songs, the fewest whose mean density one song's peculiarity does not steer. A
smaller corpus is fitted whole, to the ELBO rule (its passes take seconds)."""


def stops_early(setting: bool | str, n_songs: int) -> bool:
    """Whether a memoized fit of ``n_songs`` songs holds songs out to stop early.

    Parameters
    ----------
    setting : bool or "auto"
        The estimator's ``early_stopping``: ``"auto"`` is on from :data:`AUTO_MIN_SONGS`
        songs (as scikit-learn's histogram gradient boosting turns its own on from a
        number of samples).
    n_songs : int
        Songs in the corpus to fit.

    Returns
    -------
    bool
    """
    return n_songs >= AUTO_MIN_SONGS if setting == "auto" else bool(setting)


def validation_split(n_songs: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The songs a fit learns from and those it holds out, reproducible from ``seed``.

    Parameters
    ----------
    n_songs : int
        Songs in the corpus.
    fraction : float
        Share of the songs held out, in (0, 1); at least one song each side.
    seed : int
        Seed of the draw (the estimator's ``random_state``): a resumed fit holds out the
        same songs.

    Returns
    -------
    train, held : np.ndarray of int64, sorted
        Song indices of the two parts (sorted so that reads stay in corpus order).

    Raises
    ------
    DataError
        Fewer than two songs, or a share that leaves one side empty.
    """
    held = int(np.ceil(fraction * n_songs))
    if n_songs < 2 or held >= n_songs:
        raise DataError(f"early stopping holds out validation_fraction={fraction:g} of the "
                        f"songs and needs at least one song left to fit on; this corpus has "
                        f"{n_songs}: lower validation_fraction or turn early_stopping off")
    train, valid = train_test_split(np.arange(n_songs, dtype=np.int64), test_size=held,
                                    random_state=seed)
    return np.sort(train), np.sort(valid)


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
