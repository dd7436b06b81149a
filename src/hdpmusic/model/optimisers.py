"""The two optimisers of :class:`~hdpmusic.model.hdpgmm.HDPGMM`, as strategies over the
same statistics.

Both see the same thing: the rank-summed statistics of one mini-batch of whole songs,
from the local step. What they do with it differs, and lives here only:

* :class:`Memoized` (memoized online VI, Hughes & Sudderth 2013): fixed batches, each
  batch's latest statistics kept and summed (:class:`~hdpmusic.model.memoized.MemoizedVI`),
  moves and the stopping rule at the end of each pass;
* :class:`Online` (the paper's stochastic VI): shuffled batches mixed into the corpus
  statistics with step ρ_t = (τ0 + t)^−κ (:mod:`hdpmusic.model.online`), a fixed number
  of passes.

The estimator asks its optimiser (:func:`optimiser_for`, from ``algorithm``) and never
branches on the optimiser's name. ``model`` below is the estimator being fitted: the
optimisers read its parameters and write its ``stats_`` (then refresh its globals).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from hdpmusic.model import online
from hdpmusic.model.memoized import SETTLED_SHARE, MemoizedVI
from hdpmusic.model.objective import elbo as elbo_of
from hdpmusic.model.sufficient import Stats
from hdpmusic.runtime.errors import ParameterError

__all__ = ["Memoized", "Online", "Optimiser", "optimiser_for"]


class Optimiser:
    """What an optimiser does at each point of a fit (the defaults: nothing).

    Attributes
    ----------
    name : str
        The estimator's ``algorithm`` that selects it.
    default_eta0 : float
        The splash η0 when the estimator's ``eta0`` is None.
    own_params : tuple of str
        Estimator parameters only this optimiser uses.
    """

    name: ClassVar[str]
    default_eta0: ClassVar[float]
    own_params: ClassVar[tuple[str, ...]] = ()

    def start(self, model: Any, corpus: Any) -> None:
        """Prepare for a fit of ``model`` on ``corpus`` (kept state is reused)."""

    def plan(self, model: Any, corpus: Any) -> list[tuple[int | None, np.ndarray]]:
        """This pass's batches: ``(batch id or None, song indices)``."""
        raise NotImplementedError

    def add_songs(self, model: Any, n_new: int) -> None:
        """Let ``n_new`` songs join the fit under way as the last of ``model.n_songs_``
        (already counted there): early stopping's held-out songs, once its rule has
        fired."""
        raise NotImplementedError

    def merge_pairs(self) -> Tensor | None:
        """The merge candidates whose entropy losses the local step should track."""
        return None

    def update(self, model: Any, batch_id: int | None, batch: Stats, n_songs: int,
               gaps: Tensor | None) -> tuple[float, dict[str, Any]]:
        """Fold one batch's statistics into ``model.stats_`` and refresh its globals.

        Returns
        -------
        elbo : float
            The whole-corpus ELBO this update reports (total, not per frame).
        extra : dict
            More fields for the update's record.
        """
        raise NotImplementedError

    def end_pass(self, model: Any, steps: list[dict]) -> tuple[float, bool, dict[str, Any]]:
        """The end of a pass: ``(ELBO per frame, converged, more record fields)``."""
        raise NotImplementedError

    def partial_update(self, model: Any) -> None:
        """Refuse :meth:`HDPGMM.partial_fit` where the optimiser cannot stream."""

    def memory_needs(self, model: Any, corpus: Any) -> dict[torch.device, int]:
        """Bytes of the optimiser's own state, per device."""
        return {}

    def fit_warning(self, model: Any, corpus: Any) -> str | None:
        """A warning about the planned fit, before it starts."""
        return None

    def capped_warning(self, model: Any) -> str | None:
        """A warning when the fit ended at ``max_epochs`` short of its own stopping rule."""
        return None

    def state_tensors(self) -> dict[str, Tensor]:
        """The optimiser's state to checkpoint (names without prefix)."""
        return {}

    @classmethod
    def from_state_tensors(cls, tensors: dict[str, Tensor], model: Any) -> Optimiser:
        """The optimiser of a loaded ``model`` from its saved state."""
        return cls()


class Online(Optimiser):
    """Stochastic VI: ``stats ← (1 − ρ_t)·stats + ρ_t·(J/|B|)·batch``, ``max_epochs``
    passes of shuffled batches; each update's ELBO is the batch's, scaled to the corpus,
    under the globals it was computed with."""

    name = "online"
    default_eta0 = 0.1
    own_params = ("kappa", "tau0")

    def plan(self, model: Any, corpus: Any) -> list[tuple[int | None, np.ndarray]]:
        return [(None, b) for b in corpus.minibatch_indices(
            model.batch_size, seed=model.random_state, epoch=model.epoch_)]

    def update(self, model: Any, batch_id: int | None, batch: Stats, n_songs: int,
               gaps: Tensor | None) -> tuple[float, dict[str, Any]]:
        g_old = model._globals_
        scale = model.n_songs_ / n_songs
        rho = online.step_size(model.n_steps_, tau0=model.tau0, kappa=model.kappa)
        model.stats_ = online.online_update(model.stats_, batch, rho, scale)
        model._update_globals()
        elbo = float(elbo_of(batch.combine(scale, batch, 0.0), g_old, model.prior_,
                             n_songs=model.n_songs_, T=model.n_song_components))
        return elbo, {"rho": rho}

    def end_pass(self, model: Any, steps: list[dict]) -> tuple[float, bool, dict[str, Any]]:
        elbo = float(np.mean([h["elbo_per_frame"] for h in steps])) if steps else np.nan
        return elbo, False, {"merges": 0, "reordered": 0}

    def fit_warning(self, model: Any, corpus: Any) -> str | None:
        per_pass = -(-len(corpus) // model.batch_size)
        todo = (model.max_epochs - model.epoch_) * per_pass - model.batch_in_epoch_
        return online.schedule_warning(todo, model.n_steps_, tau0=model.tau0,
                                       kappa=model.kappa)


class Memoized(Optimiser):
    """Memoized VI: fixed batches whose latest statistics are summed, moves at the end of
    each pass, and a fit that stops once a pass changes the ELBO by at most ``tol`` nats
    per frame and dimension with the slot shares settled
    (:data:`~hdpmusic.model.memoized.SETTLED_SHARE`)."""

    name = "memoized"
    default_eta0 = 0.0
    own_params = ("tol", "moves", "early_stopping", "validation_fraction", "n_iter_no_change")

    def __init__(self, memo: MemoizedVI | None = None) -> None:
        self.memo = memo

    def start(self, model: Any, corpus: Any) -> None:
        if self.memo is None:
            n_batches = -(-len(corpus) // model.batch_size)
            self.memo = MemoizedVI(n_batches, model.n_components, model.n_features_in_,
                                   self._device(model, n_batches, model.n_features_in_))

    def plan(self, model: Any, corpus: Any) -> list[tuple[int | None, np.ndarray]]:
        return self.memo.plan(len(corpus), model.batch_size, seed=model.random_state,
                              epoch=model.epoch_)

    def add_songs(self, model: Any, n_new: int) -> None:
        self.memo.add_songs(model.n_songs_ - n_new, n_new, model.batch_size)
        model.stats_ = self.memo.total(model.n_songs_)
        model._update_globals()

    def merge_pairs(self) -> Tensor | None:
        return self.memo.pairs if self.memo is not None and len(self.memo.pairs) else None

    def update(self, model: Any, batch_id: int | None, batch: Stats, n_songs: int,
               gaps: Tensor | None) -> tuple[float, dict[str, Any]]:
        self.memo.store(batch_id, batch, n_songs, gaps)
        model.stats_ = self.memo.total(model.n_songs_)
        model._update_globals()
        return float(elbo_of(model.stats_, model._globals_, model.prior_,
                             n_songs=model.n_songs_, T=model.n_song_components)), {}

    def end_pass(self, model: Any, steps: list[dict]) -> tuple[float, bool, dict[str, Any]]:
        done = self.memo.end_pass(model._optimal_elbo, model.prior_, n_songs=model.n_songs_,
                                  moves=model.moves, max_pairs=model.n_components)
        model.stats_ = self.memo.total(model.n_songs_)
        model._update_globals()
        elbo = float(model._optimal_elbo(model.stats_)) / model.n_frames_
        previous = model.passes_[-1]["elbo_per_frame"] if model.passes_ else None
        converged = bool(model.tol > 0 and self.memo.complete and previous is not None
                         and abs(elbo - previous) <= model.tol * model.n_features_in_
                         and done["count_change"] <= SETTLED_SHARE)
        return elbo, converged, done

    def partial_update(self, model: Any) -> None:
        raise ParameterError(
            "partial_fit is the online update of mini-batches streamed in; memoized "
            "inference revisits the fixed batches of a whole corpus, so use fit, or "
            "construct HDPGMM(algorithm='online') for partial_fit")

    def memory_needs(self, model: Any, corpus: Any) -> dict[torch.device, int]:
        d = corpus.dim
        n_batches = -(-len(corpus) // model.batch_size)
        return {self._device(model, n_batches, d):
                n_batches * model.n_components * (3 + d + d * (d + 1) // 2) * 8}

    def capped_warning(self, model: Any) -> str | None:
        if model.tol <= 0 or model.converged_:
            return None
        detail = "one pass: nothing to compare"
        if len(model.passes_) >= 2:
            now, before = (p["elbo_per_frame"] for p in model.passes_[-1:-3:-1])
            change = abs(now - before) / model.n_features_in_
            detail = (f"the last pass changed it by {change:.2g} nats per frame and dimension"
                      f" and a component's share of the slots by "
                      f"{model.passes_[-1].get('count_change', np.nan):.2g}")
        held = (" and before the held-out songs' density stopped rising, so they have not "
                "joined the fit yet" if getattr(model, "early_stopping_", False) else "")
        return (f"memoized inference reached max_epochs={model.max_epochs} before the ELBO "
                f"settled ({detail}; tol={model.tol:g}){held}: raise max_epochs (CLI: fit "
                f"--epochs; a saved fit continues with --resume --epochs N)")

    def state_tensors(self) -> dict[str, Tensor]:
        return {} if self.memo is None else self.memo.state_tensors()

    @classmethod
    def from_state_tensors(cls, tensors: dict[str, Tensor], model: Any) -> Memoized:
        if not tensors:
            return cls()
        n_batches = len(tensors["songs"])
        return cls(MemoizedVI.from_state_tensors(
            tensors, cls._device(model, n_batches, model.n_features_in_)))

    @staticmethod
    def _device(model: Any, n_batches: int, d: int) -> torch.device:
        """The compute device for the per-batch statistics when they take under a quarter
        of its free memory, else the host."""
        dev = model._device()
        need = n_batches * model.n_components * (3 + d + d * (d + 1) // 2) * 8
        if dev.type == "cuda" and need > 0.25 * torch.cuda.mem_get_info(dev)[0]:
            return torch.device("cpu")
        return dev


#: the optimisers by the estimator's ``algorithm``
OPTIMISERS: dict[str, type[Optimiser]] = {cls.name: cls for cls in (Memoized, Online)}


def optimiser_for(algorithm: str) -> type[Optimiser]:
    """The optimiser class of ``algorithm`` (``"memoized"`` or ``"online"``)."""
    try:
        return OPTIMISERS[algorithm]
    except KeyError:
        raise ParameterError(f"algorithm must be one of {', '.join(OPTIMISERS)}, got "
                             f"{algorithm!r}") from None
