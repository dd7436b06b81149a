"""Memoized online variational inference (Hughes & Sudderth 2013) with merge moves.

The corpus is cut once into fixed batches. Each batch's latest statistics are kept
(float64, compact: :meth:`Stats.per_component <hdpmusic.model.sufficient.Stats>`); the
global statistics are their sum, and visiting a batch replaces its old contribution with
the new one. There is no learning rate: every visit is a coordinate-ascent step on the
whole-corpus ELBO, which after a full pass is the full-batch bound. While the first pass
is under way the sum covers the batches seen so far and is scaled to the corpus.
Songs can join a fit under way (:meth:`MemoizedVI.add_songs`: early stopping's held-out
songs once the rule has fired): they are cut into batches of their own, appended, and the
sum is scaled to the grown corpus until those batches have been visited.

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

from hdpmusic.formats.corpus import minibatch_indices
from hdpmusic.model.moves import COUNTS, merge_candidates, merge_into, merged_terms, size_order
from hdpmusic.model.objective import optimal_component_terms
from hdpmusic.model.sufficient import Prior, Stats

#: the two corpus scalars kept per batch beside the component table
ALPHA, ENTROPY = 0, 1
#: largest change of any component's share of the song slots over a pass (components
#: ranked by size, so a reorder is no change) for the pass to count as settled: the
#: corpus weights E[β] follow these shares, and they keep moving for passes after the
#: ELBO has flattened (planted truth: 0.7 times the last change a pass)
SETTLED_SHARE = 1e-3


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
    pass_counts : Tensor, shape (K,) or (0,), float64
        The slot counts at the end of the last pass, largest first (empty before).
    parts : Tensor, shape (n_parts,) or (0,), int64
        Songs in each part of the corpus, each cut into batches of its own, in order (empty:
        one part, the whole corpus; several once songs were added).
    """

    def __init__(self, n_batches: int, K: int, d: int, device: torch.device | str) -> None:
        f64 = dict(dtype=torch.float64, device=device)
        self.components = torch.zeros(n_batches, K, 3 + d + d * (d + 1) // 2, **f64)
        self.scalars = torch.zeros(n_batches, 2, **f64)
        self.songs = torch.zeros(n_batches, dtype=torch.int64, device=device)
        self.pairs = torch.empty(0, 2, dtype=torch.int64, device=device)
        self.gaps = torch.zeros(n_batches, 0, **f64)
        self.tracked = torch.zeros(n_batches, dtype=torch.bool, device=device)
        self.pass_counts = torch.zeros(0, **f64)
        self.parts = torch.zeros(0, dtype=torch.int64)

    # ------------------------------------------------------------------ batches
    def plan(self, n_songs: int, batch_size: int, *, seed: int,
             epoch: int) -> list[tuple[int, np.ndarray]]:
        """The fixed batches ``(id, song indices)`` of a corpus of ``n_songs`` songs in this
        pass's (seeded) visiting order: each part's songs cut by
        :func:`~hdpmusic.formats.corpus.minibatch_indices` (epoch 0), parts in order."""
        fixed, offset = [], 0
        for part in self.parts.tolist() or [n_songs]:
            fixed += [offset + b for b in minibatch_indices(part, batch_size, seed=seed,
                                                             epoch=0)]
            offset += part
        order = np.random.default_rng([seed, epoch, 1]).permutation(len(fixed))
        return [(int(b), fixed[b]) for b in order]

    def add_songs(self, n_songs: int, n_new: int, batch_size: int) -> None:
        """Append ``n_new`` songs to a corpus of ``n_songs``, as a part of their own: empty
        batches that their first visit fills (until then :meth:`total` scales the sum)."""
        n_batches = -(-n_new // batch_size)
        parts = self.parts.tolist() or [n_songs]
        self.parts = torch.tensor([*parts, n_new], dtype=torch.int64)

        def grown(t: Tensor) -> Tensor:
            return torch.cat([t, t.new_zeros((n_batches, *t.shape[1:]))])
        self.components, self.scalars, self.songs = (
            grown(self.components), grown(self.scalars), grown(self.songs))
        self.gaps, self.tracked = grown(self.gaps), grown(self.tracked)

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
    def end_pass(self, evaluate: Callable[[Stats, Tensor], Tensor], prior: Prior, *,
                 n_songs: int, moves: bool, max_pairs: int) -> dict[str, int]:
        """Moves at the end of a pass; the next pass's merge candidates.

        Parameters
        ----------
        evaluate : callable
            ``evaluate(stats, own)``: the ELBO of the state whose statistics are given, with
            the globals re-derived from them (what the model would hold); ``own`` (K,) are
            its components' own terms
            (:func:`~hdpmusic.model.objective.optimal_component_terms`), known here. The
            merge test passes several states at once: stick parts and entropy of
            ``stats`` with a leading axis, ``own`` (n, K), and reads a Tensor (n,).
        prior : Prior
        n_songs : int
        moves : bool
            Reorder and merge (else only the statistics are kept).
        max_pairs : int
            Merge candidates to track in the next pass.

        Returns
        -------
        dict
            ``merges`` accepted, ``reordered`` (0/1), ``count_change``: the largest change
            of a component's share of the slots since the last pass (inf while the
            corpus has not been seen whole; see :data:`SETTLED_SHARE`).
        """
        done = {"merges": 0, "reordered": 0}
        if moves and self.complete:
            done.update(self._moves(evaluate, prior, n_songs=n_songs, max_pairs=max_pairs))
        done["count_change"] = self._count_change()
        return done

    def _count_change(self) -> float:
        """The largest change of a component's share of the slots (components ranked by
        size) since the last call; remembers this pass's counts."""
        counts = torch.sort(self.components.sum(0)[:, COUNTS], descending=True).values
        previous, self.pass_counts = self.pass_counts, counts
        if not self.complete or previous.shape != counts.shape:
            return float("inf")
        return float((counts - previous).abs().max() / counts.sum().clamp_min(1e-300))

    def _moves(self, evaluate: Callable[[Stats, Tensor], Tensor], prior: Prior, *,
               n_songs: int, max_pairs: int) -> dict[str, int]:
        """Reorder, the tracked merges, and the next pass's candidates."""
        done = {"merges": 0, "reordered": 0}
        stats = self.total(n_songs)
        own = optimal_component_terms(stats, prior)
        best = float(evaluate(stats, own))
        total = self.components.sum(0)
        order = size_order(total[:, COUNTS])
        # where each component of the pass (the candidates' indices) is now
        position = torch.arange(len(order), device=order.device)
        if not torch.equal(order, position):
            value = float(evaluate(Stats.from_parts(total[order], stats.alpha, stats.entropy),
                                   own[order]))
            if value > best:
                self.components = self.components[:, order]
                best, own, position, done["reordered"] = value, own[order], torch.argsort(order), 1
        if len(self.pairs) and bool(self.tracked.all()):
            best, done["merges"] = self._merge(evaluate, prior, best, own, position, n_songs)
        self.pairs = merge_candidates(self.total(n_songs), prior, max_pairs=max_pairs)
        self.gaps = torch.zeros(len(self.components), len(self.pairs),
                                dtype=torch.float64, device=self.components.device)
        self.tracked.zero_()
        return done

    def _merge(self, evaluate: Callable[[Stats, Tensor], Tensor], prior: Prior, best: float,
               own: Tensor, position: Tensor, n_songs: int) -> tuple[float, int]:
        """Try the tracked candidates in turn; keep each merge that raises the ELBO.

        ``position[i]`` is where the pass's component i (the candidates' numbering) is now.
        A trial state's ELBO is its components' own terms (the merged component's computed
        once for all candidates, the others' ``own``'s: a component's terms depend on its
        statistics only) plus terms of its slot counts and entropy alone, so every open
        candidate is scored at once against the current state; the first that raises the
        ELBO is accepted, and the candidates after it that share no component with an
        accepted merge are scored again against the merged state. The decisions are those
        of trying the candidates one by one, with one device-to-host read per accepted merge
        (plus one) instead of one per candidate; the batch table changes only on acceptance.
        """
        stats = self.total(n_songs)
        merged = merged_terms(stats, prior, position[self.pairs])
        empty = optimal_component_terms(
            Stats.zeros(1, stats.S1.shape[1], device=own.device), prior)[0]
        total, entropy = self.components.sum(0), stats.entropy
        lost = self.gaps.sum(0)
        pairs = self.pairs.tolist()
        trials, touched, accepted = list(range(len(pairs))), set(), 0
        while trials:
            index = torch.as_tensor(trials, device=own.device)
            ab = torch.sort(position[self.pairs[index]], dim=1).values     # a < b, now
            rows = torch.arange(len(trials), device=own.device)
            counts = total[:, COUNTS].expand(len(trials), -1).clone()
            counts[rows, ab[:, 0]] += counts[rows, ab[:, 1]]
            counts[rows, ab[:, 1]] = 0.0
            trial_own = own.expand(len(trials), -1).clone()
            trial_own[rows, ab[:, 0]], trial_own[rows, ab[:, 1]] = merged[index], empty
            order = size_order(counts)
            # only the stick parts and the entropy are read with the own terms given
            scores = evaluate(Stats.from_counts(stats.N, stats.S1, stats.S2,
                                                counts.gather(1, order), stats.alpha,
                                                stats.usage, entropy - lost[index]),
                              trial_own.gather(1, order)).tolist()
            first = next((i for i, value in enumerate(scores) if value > best), None)
            if first is None:
                break
            p, (a, b), kept = trials[first], ab[first].tolist(), order[first]
            self.components = merge_into(self.components, a, b)[:, kept]
            self.scalars[:, ENTROPY] -= self.gaps[:, p]
            total, own = merge_into(total, a, b)[kept], trial_own[first, kept]
            entropy = entropy - lost[p]
            position = torch.argsort(kept)[position]
            touched.update(pairs[p])
            best, accepted = scores[first], accepted + 1
            trials = [q for q in trials[first + 1:] if touched.isdisjoint(pairs[q])]
        return best, accepted

    # ---------------------------------------------------------------- persistence
    def state_tensors(self) -> dict[str, Tensor]:
        return {"components": self.components, "scalars": self.scalars, "songs": self.songs,
                "pairs": self.pairs, "gaps": self.gaps, "tracked": self.tracked,
                "pass_counts": self.pass_counts, "parts": self.parts}

    @classmethod
    def from_state_tensors(cls, tensors: dict[str, Tensor],
                           device: torch.device | str) -> MemoizedVI:
        new = object.__new__(cls)
        # checkpoints without them
        new.pass_counts = torch.zeros(0, dtype=torch.float64)
        new.parts = torch.zeros(0, dtype=torch.int64)
        new.__dict__.update({k: v.to(device) for k, v in tensors.items()})
        new.pass_counts, new.parts = new.pass_counts.to(device), new.parts.cpu()
        return new
