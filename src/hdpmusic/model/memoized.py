"""Memoized online variational inference (Hughes & Sudderth 2013) with merge moves.

The corpus is cut once into fixed batches. Each batch's latest statistics are kept
(float64, compact: :meth:`Stats.per_component <hdpmusic.model.sufficient.Stats>`); the
global statistics are their sum, and visiting a batch replaces its old contribution with
the new one. There is no learning rate: every visit is a coordinate-ascent step on the
whole-corpus ELBO, which after a full pass is the full-batch bound. While the first pass
is under way the sum covers the batches seen so far and is scaled to the corpus.

At the end of a pass the state supports moves evaluated exactly from statistics
(:mod:`hdpmusic.model.moves`): components reordered by size, and candidate merges chosen
at the end of the previous pass (their slot-entropy losses tracked during this one) —
each accepted only when the whole ELBO rises. Merging a component with negligible usage
into its best partner is the delete move; the freed slots sit empty at the end of the
truncation, so K is an upper bound and the number of components used is learned.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from hdpmusic.model.moves import COUNTS, merge_candidates, merge_into, size_order
from hdpmusic.model.sufficient import Prior, Stats

#: the two corpus scalars kept per batch beside the component table
ALPHA, ENTROPY = 0, 1


class MemoizedVI:
    """Per-batch statistics of a memoized fit and the merge candidates of the pass.

    Parameters
    ----------
    n_batches : int
    K, d : int
    device : torch.device or str

    Attributes
    ----------
    components : Tensor, shape (n_batches, K, 1 + d + d(d + 1)/2 + 2), float64
        Each batch's per-component statistics.
    scalars : Tensor, shape (n_batches, 2), float64
        Each batch's Σ E log(1 − π') and local entropy.
    songs : Tensor, shape (n_batches,), int64
        Songs in each batch's statistics (0: not visited yet).
    pairs : Tensor, shape (P, 2), int64
        Merge candidates tracked during the current pass.
    gaps : Tensor, shape (n_batches, P), float64
        Each batch's slot-entropy loss for each candidate.
    tracked : Tensor, shape (n_batches,), bool
        Batches visited with the current candidates.
    """

    def __init__(self, n_batches: int, K: int, d: int, device: torch.device | str) -> None:
        f64 = dict(dtype=torch.float64, device=device)
        self.components = torch.zeros(n_batches, K, 3 + d + d * (d + 1) // 2, **f64)
        self.scalars = torch.zeros(n_batches, 2, **f64)
        self.songs = torch.zeros(n_batches, dtype=torch.int64, device=device)
        self.pairs = torch.empty(0, 2, dtype=torch.int64, device=device)
        self.gaps = torch.zeros(n_batches, 0, **f64)
        self.tracked = torch.zeros(n_batches, dtype=torch.bool, device=device)

    # ------------------------------------------------------------------ batches
    @staticmethod
    def plan(corpus: object, batch_size: int, *, seed: int,
             epoch: int) -> list[tuple[int, np.ndarray]]:
        """The fixed batches ``(id, song indices)`` in this pass's (seeded) visiting order."""
        fixed = corpus.minibatch_indices(batch_size, seed=seed, epoch=0)
        order = np.random.default_rng([seed, epoch, 1]).permutation(len(fixed))
        return [(int(b), fixed[b]) for b in order]

    def store(self, batch: int, stats: Stats, n_songs: int, gaps: Tensor | None) -> None:
        """Replace batch ``batch``'s statistics (and its candidates' entropy losses)."""
        self.components[batch] = stats.per_component()
        self.scalars[batch, ALPHA], self.scalars[batch, ENTROPY] = stats.alpha, stats.entropy
        self.songs[batch] = n_songs
        if gaps is not None:
            self.gaps[batch] = gaps
            self.tracked[batch] = True

    def total(self, n_songs: int) -> Stats:
        """The corpus statistics: the sum over batches, scaled to ``n_songs`` songs while
        some batches are still unvisited."""
        seen = int(self.songs.sum())
        scalars = self.scalars.sum(0)
        total = Stats.from_parts(self.components.sum(0), scalars[ALPHA], scalars[ENTROPY])
        return total.combine(n_songs / seen, total, 0.0) if 0 < seen < n_songs else total

    @property
    def complete(self) -> bool:
        """Every batch visited at least once."""
        return bool((self.songs > 0).all())

    # -------------------------------------------------------------------- moves
    def end_pass(self, evaluate: Callable[[Stats], float], prior: Prior, *, n_songs: int,
                 moves: bool, max_pairs: int) -> dict[str, int]:
        """Moves at the end of a pass; the next pass's merge candidates.

        Parameters
        ----------
        evaluate : callable
            ELBO of the state whose statistics are given, with the globals re-derived
            from them (what the model would hold).
        prior : Prior
        n_songs : int
        moves : bool
            Reorder and merge (else only the statistics are kept).
        max_pairs : int
            Merge candidates to track in the next pass.

        Returns
        -------
        dict
            ``merges`` accepted, ``reordered`` (0/1).
        """
        done = {"merges": 0, "reordered": 0}
        if not moves or not self.complete:
            return done
        best = evaluate(self.total(n_songs))
        order = size_order(self.components.sum(0)[:, COUNTS])
        if not torch.equal(order, torch.arange(len(order), device=order.device)):
            value = evaluate(self._reordered(order).total(n_songs))
            if value > best:
                self._apply(self._reordered(order))
                best, done["reordered"] = value, 1
        if len(self.pairs) and bool(self.tracked.all()):
            best, done["merges"] = self._merge(evaluate, best, n_songs)
        self.pairs = merge_candidates(self.total(n_songs), prior, max_pairs=max_pairs)
        self.gaps = torch.zeros(len(self.components), len(self.pairs),
                                dtype=torch.float64, device=self.components.device)
        self.tracked.zero_()
        return done

    def _merge(self, evaluate: Callable[[Stats], float], best: float,
               n_songs: int) -> tuple[float, int]:
        """Try the tracked candidates in turn; keep each merge that raises the ELBO."""
        position = torch.arange(self.components.shape[1], device=self.pairs.device)
        touched: set[int] = set()
        accepted = 0
        for p, (a0, b0) in enumerate(self.pairs.tolist()):
            if a0 in touched or b0 in touched:
                continue
            a, b = sorted((int(position[a0]), int(position[b0])))
            trial = self._copy()
            trial.components = merge_into(self.components, a, b)
            trial.scalars[:, ENTROPY] -= self.gaps[:, p]
            order = size_order(trial.components.sum(0)[:, COUNTS])
            trial = trial._reordered(order)
            value = evaluate(trial.total(n_songs))
            if value > best:
                self._apply(trial)
                position = torch.argsort(order)[position]
                touched.update((a0, b0))
                best, accepted = value, accepted + 1
        return best, accepted

    def _copy(self) -> MemoizedVI:
        new = object.__new__(MemoizedVI)
        new.__dict__.update({k: v.clone() for k, v in self.__dict__.items()})
        return new

    def _reordered(self, order: Tensor) -> MemoizedVI:
        new = self._copy()
        new.components = self.components[:, order]
        return new

    def _apply(self, other: MemoizedVI) -> None:
        """Take ``other``'s statistics (candidate pairs are kept, in original indices)."""
        self.components, self.scalars = other.components, other.scalars

    # ---------------------------------------------------------------- persistence
    def state_tensors(self) -> dict[str, Tensor]:
        return {"components": self.components, "scalars": self.scalars, "songs": self.songs,
                "pairs": self.pairs, "gaps": self.gaps, "tracked": self.tracked}

    @classmethod
    def from_state_tensors(cls, tensors: dict[str, Tensor],
                           device: torch.device | str) -> MemoizedVI:
        new = object.__new__(cls)
        new.__dict__.update({k: v.to(device) for k, v in tensors.items()})
        return new
