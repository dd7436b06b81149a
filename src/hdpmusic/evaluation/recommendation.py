"""Content-based item-kNN recommendation scored by nDCG@500 (the study's Echonest task).

1. :func:`knn_graph` — cosine similarity of item representations, computed in chunks
   of items against all items (torch, GPU when asked), self-similarity excluded, the
   ``k`` most similar items of each item kept (a fixed-width sparse graph; never a
   dense items × items matrix).
2. :func:`split_users` — disjoint random validation and test users (10 % each of the
   users with at least two interactions); 30 % of each one's interactions are held out
   (at least one, and at least one stays as input).
3. :func:`user_ndcg` — a user's score for item i is Σ_{consumed j} sim(j, i) over the
   top-k graph; users are scored in chunks (never a dense users × items matrix), items
   ranked by score (ties by item index), already-consumed items excluded unless
   ``keep_consumed`` (the study kept them), and nDCG@500 computed with binary relevance:
   DCG = Σ_hits 1 / log2(rank + 1) with ranks from 1, IDCG over min(|held-out|, 500).
4. :func:`evaluate_recommendation` — k ∈ {16, …, 512} chosen on the validation users,
   the mean test-user nDCG reported.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from hdpmusic.evaluation import resolve_device
from hdpmusic.evaluation.predictions import Predictions, concatenate
from hdpmusic.runtime.errors import DataError, ParameterError

if TYPE_CHECKING:
    import torch

__all__ = ["DEFAULT_KS", "TOP_N", "KnnGraph", "UserSplit", "chance_ndcg",
           "evaluate_recommendation", "knn_graph", "ndcg_from_hits", "rank_items",
           "split_sizes", "split_users", "user_ndcg"]

DEFAULT_KS = (16, 32, 64, 128, 256, 512)
TOP_N = 500
MAX_ELEMENTS = 1 << 25
"""Bound on the scores (users × items) and on the summed neighbour contributions held
at once while scoring a chunk of users."""


@dataclass
class KnnGraph:
    """The most similar items of every item, most similar first.

    Attributes
    ----------
    indices : np.ndarray of int64, shape (n_items, k)
        Neighbour item indices, by descending similarity (never the item itself).
    values : np.ndarray of float32, shape (n_items, k)
        Their cosine similarities.
    """

    indices: np.ndarray
    values: np.ndarray

    @property
    def n_items(self) -> int:
        return self.indices.shape[0]

    @property
    def k(self) -> int:
        return self.indices.shape[1]

    def to_csr(self, k: int | None = None) -> sp.csr_matrix:
        """The graph truncated to ``k`` neighbours as a sparse (n_items, n_items) matrix."""
        k = self.k if k is None else min(k, self.k)
        indptr = np.arange(0, self.n_items * k + 1, k)
        return sp.csr_matrix((self.values[:, :k].ravel(), self.indices[:, :k].ravel(),
                              indptr), shape=(self.n_items, self.n_items))


@dataclass
class UserSplit:
    """Input and held-out interactions of a set of users.

    Attributes
    ----------
    users : np.ndarray of int, shape (n_users,)
        Rows of the interaction matrix.
    train : scipy.sparse.csr_matrix of float32, shape (n_users, n_items)
        Binary interactions given to the recommender (≥ 1 per user).
    held : scipy.sparse.csr_matrix of float32, shape (n_users, n_items)
        Binary held-out interactions to retrieve (≥ 1 per user).
    """

    users: np.ndarray
    train: sp.csr_matrix
    held: sp.csr_matrix

    def __len__(self) -> int:
        return self.users.size


def knn_graph(X: np.ndarray, k: int, *, chunk_size: int = 1024,
              device: str = "cpu") -> KnnGraph:
    """Top-``k`` cosine neighbours of every item.

    Parameters
    ----------
    X : np.ndarray, shape (n_items, D)
        Item representations; an all-zero row has similarity 0 to everything.
    k : int
        Neighbours per item (at most n_items − 1).
    chunk_size : int
        Items compared with all items at once (memory: chunk_size × n_items floats).
    device : str
        Torch device (``"auto"`` picks CUDA when present).

    Returns
    -------
    KnnGraph
        ``min(k, n_items - 1)`` neighbours per item.
    """
    import torch

    n_items = X.shape[0]
    if n_items < 2:
        raise DataError("item-kNN needs at least two items")
    k = min(int(k), n_items - 1)
    dev = resolve_device(device)
    Xt = torch.as_tensor(np.asarray(X, dtype=np.float32), device=dev)
    Xt = torch.nn.functional.normalize(Xt, dim=1)
    indices = np.empty((n_items, k), dtype=np.int64)
    values = np.empty((n_items, k), dtype=np.float32)
    for start in range(0, n_items, chunk_size):
        stop = min(start + chunk_size, n_items)
        sims = Xt[start:stop] @ Xt.T
        rows = torch.arange(stop - start, device=dev)
        sims[rows, rows + start] = -torch.inf
        top = torch.topk(sims, k, dim=1)
        indices[start:stop] = top.indices.cpu().numpy()
        values[start:stop] = top.values.cpu().numpy()
    return KnnGraph(indices, values)


def _binary(matrix: sp.spmatrix) -> sp.csr_matrix:
    """Canonical CSR (sorted, no duplicates, no explicit zeros) with all values 1."""
    matrix = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    matrix.data[:] = 1.0
    return matrix


def _hold_out(rows: sp.csr_matrix, users: np.ndarray, fraction: float,
              rng: np.random.Generator) -> UserSplit:
    """Split each row's interactions at random into input and held-out parts."""
    counts = np.diff(rows.indptr)
    n_held = np.clip(np.round(fraction * counts).astype(np.int64), 1, counts - 1)
    owner = np.repeat(np.arange(rows.shape[0]), counts)
    order = np.lexsort((rng.random(rows.nnz), owner))
    rank = np.empty(rows.nnz, dtype=np.int64)
    rank[order] = np.arange(rows.nnz) - np.repeat(rows.indptr[:-1], counts)
    held = rank < n_held[owner]
    parts = []
    for mask in (~held, held):
        part = rows.copy()
        part.data = mask.astype(np.float32)
        part.eliminate_zeros()
        parts.append(part)
    return UserSplit(users, parts[0], parts[1])


def split_sizes(interaction: sp.spmatrix, *, valid_frac: float = 0.1,
                test_frac: float = 0.1) -> tuple[int, int, int]:
    """How many users every :func:`split_users` draw takes.

    Parameters
    ----------
    interaction : scipy.sparse matrix, shape (n_users, n_items)
    valid_frac, test_frac : float
        As in :func:`split_users`.

    Returns
    -------
    eligible : int
        Users with two or more distinct items.
    n_valid, n_test : int
        ``max(1, round(share × eligible))`` each.
    """
    eligible = int((np.diff(_binary(interaction).indptr) >= 2).sum())
    return (eligible, *_drawn(eligible, valid_frac, test_frac))


def _drawn(eligible: int, valid_frac: float, test_frac: float) -> tuple[int, int]:
    """Validation and test users drawn from ``eligible`` ones: at least one each."""
    return max(1, round(valid_frac * eligible)), max(1, round(test_frac * eligible))


def split_users(interaction: sp.spmatrix, seed: int | np.random.SeedSequence, *,
                valid_frac: float = 0.1, test_frac: float = 0.1,
                holdout_frac: float = 0.3) -> tuple[UserSplit, UserSplit]:
    """Disjoint random validation and test users with held-out interactions.

    Parameters
    ----------
    interaction : scipy.sparse matrix, shape (n_users, n_items)
        Any non-zero entry is a consumption.
    seed : int or numpy.random.SeedSequence
    valid_frac, test_frac : float
        Shares of the eligible users (those with ≥ 2 distinct items) drawn for
        validation and test (at least one each).
    holdout_frac : float
        Share of each drawn user's items held out, rounded, clipped to [1, n − 1].

    Returns
    -------
    valid, test : UserSplit
    """
    if not (0 < valid_frac and 0 < test_frac and valid_frac + test_frac <= 1
            and 0 < holdout_frac < 1):
        raise ParameterError("need 0 < valid_frac, 0 < test_frac, valid_frac + test_frac "
                             "<= 1 and 0 < holdout_frac < 1")
    R = _binary(interaction)
    eligible = np.flatnonzero(np.diff(R.indptr) >= 2)
    n_valid, n_test = _drawn(eligible.size, valid_frac, test_frac)
    if n_valid + n_test > eligible.size:
        raise DataError(f"only {eligible.size} users have two or more interactions; "
                        "item-kNN evaluation needs at least two such users")
    rng = np.random.default_rng(seed)
    drawn = rng.permutation(eligible)
    valid_users = np.sort(drawn[:n_valid])
    test_users = np.sort(drawn[n_valid:n_valid + n_test])
    return (_hold_out(R[valid_users], valid_users, holdout_frac, rng),
            _hold_out(R[test_users], test_users, holdout_frac, rng))


def ndcg_from_hits(hits: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    """nDCG of ranked lists with binary relevance.

    Parameters
    ----------
    hits : np.ndarray of bool, shape (n_users, n)
        ``hits[u, r]``: the item at rank r + 1 of user u's list is relevant.
    n_relevant : np.ndarray of int, shape (n_users,)
        Relevant items per user (NaN is returned where it is 0).

    Returns
    -------
    np.ndarray, shape (n_users,)
        DCG / IDCG with DCG = Σ_hits 1 / log2(rank + 1) and IDCG the DCG of
        min(n_relevant, n) hits at the top.
    """
    hits = np.asarray(hits, dtype=bool)
    n_relevant = np.asarray(n_relevant)
    discount = 1.0 / np.log2(np.arange(2, hits.shape[1] + 2))
    ideal = np.concatenate([[np.nan], np.cumsum(discount)])
    return hits @ discount / ideal[np.minimum(n_relevant, hits.shape[1])]


def chance_ndcg(users: UserSplit, *, top_n: int = TOP_N,
                keep_consumed: bool = False) -> np.ndarray:
    """Expected nDCG@top_n of each user under a uniformly random ranking.

    Each of a user's ``R`` held-out items is equally likely at every one of the ``m``
    ranked candidates (``m`` = all items, or those not consumed), so
    ``E[DCG] = R / m · Σ_{r ≤ min(n, m)} 1 / log2(r + 1)`` with ``n = min(top_n,
    n_items)``, divided by the same IDCG as :func:`ndcg_from_hits`.

    Parameters
    ----------
    users : UserSplit
    top_n : int
    keep_consumed : bool
        See :func:`user_ndcg`.

    Returns
    -------
    np.ndarray, shape (len(users),)
    """
    n_items = users.train.shape[1]
    n = min(top_n, n_items)
    cumulative = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, n + 2)))])
    n_relevant = np.diff(users.held.indptr)
    m = np.full(len(users), n_items) if keep_consumed else \
        n_items - np.diff(users.train.indptr)
    expected = n_relevant / m * cumulative[np.minimum(n, m)]
    ideal = cumulative[np.minimum(n_relevant, n)]
    return expected / np.where(ideal > 0, ideal, np.nan)


def rank_items(scores: torch.Tensor, n: int) -> torch.Tensor:
    """The ``n`` best items per row, by descending score and then ascending index.

    One ``topk`` per row; only rows whose ``n``-th score is tied with items left out of
    the top ``n`` (e.g. unreached items at 0) are re-ranked over the whole row.

    Parameters
    ----------
    scores : torch.Tensor, shape (n_users, n_items)
    n : int
        List length (≤ n_items).

    Returns
    -------
    torch.Tensor of int64, shape (n_users, n)
    """
    import torch

    top = torch.topk(scores, n, dim=1)
    threshold = top.values[:, -1:]
    cut = (scores == threshold).sum(dim=1) > (top.values == threshold).sum(dim=1)
    items = top.indices
    if bool(cut.any()):
        rows = cut.nonzero()[:, 0]
        items[rows] = _tied_top(scores[rows], n)
    items = torch.sort(items, dim=1).values
    order = torch.sort(scores.gather(1, items), dim=1, descending=True, stable=True).indices
    return items.gather(1, order)


def _tied_top(scores: torch.Tensor, n: int) -> torch.Tensor:
    """The ``n`` best items per row, the lowest indices first among tied scores
    (unordered, shape (n_users, n))."""
    import torch

    threshold = torch.topk(scores, n, dim=1).values[:, -1:]
    above = scores > threshold
    tied = scores == threshold
    room = n - above.sum(dim=1, keepdim=True)
    chosen = above | (tied & (torch.cumsum(tied, dim=1) <= room))
    return chosen.nonzero()[:, 1].view(-1, n)


def _user_chunks(indptr: np.ndarray, k: int, n_items: int,
                 max_elements: int) -> Iterator[tuple[int, int]]:
    """Consecutive user ranges whose scores and neighbour contributions fit the bound."""
    n_users = indptr.size - 1
    max_users = max(1, max_elements // n_items)
    start = 0
    while start < n_users:
        by_pairs = int(np.searchsorted(indptr, indptr[start] + max_elements // k,
                                       side="right")) - 1
        stop = min(n_users, start + max_users, max(start + 1, by_pairs))
        yield start, stop
        start = stop


def user_ndcg(graph: KnnGraph, users: UserSplit, k: int, *, top_n: int = TOP_N,
              keep_consumed: bool = False, device: str = "cpu",
              max_elements: int = MAX_ELEMENTS) -> np.ndarray:
    """nDCG@top_n of every user of ``users`` under the ``k``-neighbour graph.

    Parameters
    ----------
    graph : KnnGraph
    users : UserSplit
    k : int
        Neighbours per item used (≤ ``graph.k``).
    top_n : int
        List length (capped at n_items).
    keep_consumed : bool
        Leave the user's input items in the ranking (the study's behaviour); by default
        they are excluded.
    device : str
        Torch device.
    max_elements : int
        Memory bound per chunk of users (floats).

    Returns
    -------
    np.ndarray, shape (len(users),)
    """
    import torch

    if not 1 <= k <= graph.k:
        raise ParameterError(f"k must be in [1, {graph.k}]; got {k}")
    dev = resolve_device(device)
    n_items = graph.n_items
    n = min(top_n, n_items)
    neighbours = torch.as_tensor(graph.indices[:, :k], device=dev)
    weights = torch.as_tensor(graph.values[:, :k], device=dev)
    out = np.empty(len(users))
    for start, stop in _user_chunks(users.train.indptr, k, n_items, max_elements):
        train, held = users.train[start:stop], users.held[start:stop]
        rows = torch.as_tensor(np.repeat(np.arange(stop - start), np.diff(train.indptr)),
                               device=dev)
        items = torch.as_tensor(train.indices.astype(np.int64), device=dev)
        flat = (rows[:, None] * n_items + neighbours[items]).view(-1)
        scores = torch.zeros((stop - start) * n_items, device=dev)
        scores.index_add_(0, flat, weights[items].reshape(-1))
        scores = scores.view(stop - start, n_items)
        if not keep_consumed:
            scores[rows, items] = -torch.inf
        held_rows = np.repeat(np.arange(stop - start), np.diff(held.indptr))
        relevant = torch.as_tensor(held_rows * n_items + held.indices, device=dev)
        ranked = rank_items(scores, n)
        ranked += torch.arange(stop - start, device=dev)[:, None] * n_items
        hits = torch.isin(ranked, relevant).cpu().numpy()
        out[start:stop] = ndcg_from_hits(hits, np.diff(held.indptr))
    return out


def evaluate_recommendation(interaction: sp.spmatrix, graph: KnnGraph, *, seed: int = 0,
                            ks: Sequence[int] = DEFAULT_KS, top_n: int = TOP_N,
                            keep_consumed: bool = False, n_splits: int = 5,
                            device: str = "cpu", predictions: bool = False,
                            ) -> tuple[Any, ...]:
    """Mean test-user nDCG@top_n with k chosen on validation users.

    Parameters
    ----------
    interaction : scipy.sparse matrix, shape (n_users, n_items)
        Columns in the order of the graph's items.
    graph : KnnGraph
        From :func:`knn_graph` with at least ``max(ks)`` neighbours (fewer only when
        there are fewer items).
    seed : int
        Seed of the user splits.
    ks : sequence of int
        Candidate neighbourhood sizes (capped at ``graph.k``).
    top_n : int
        List length.
    keep_consumed : bool
        See :func:`user_ndcg`.
    n_splits : int
        Independent user splits averaged into the score (5 per run, as the study).
    device : str
        Torch device.
    predictions : bool
        Also return each test user's nDCG as
        :class:`~hdpmusic.evaluation.predictions.Predictions` (unit: the user's row of
        ``interaction``; block: the split).

    Returns
    -------
    score : float
        Mean over splits of the mean test-user nDCG.
    config : dict
        ``k`` (chosen per split), ``valid_ndcg`` (per split: k → score),
        ``split_scores``, ``n_splits``, ``keep_consumed``, ``top_n``, ``n_valid_users``,
        ``n_test_users``, ``chance`` (mean test-user nDCG of a random ranking, see
        :func:`chance_ndcg`).
    predictions : Predictions
        Only with ``predictions=True``.
    """

    if interaction.shape[1] != graph.n_items:
        raise DataError(f"interaction has {interaction.shape[1]} items but the kNN graph "
                        f"{graph.n_items}")
    candidates = sorted({min(int(k), graph.k) for k in ks})
    chosen, valid_scores, split_scores, chance, users = [], [], [], [], []
    for block, split_seed in enumerate(np.random.SeedSequence(seed).spawn(n_splits)):
        valid, test = split_users(interaction, split_seed)
        chance.append(float(np.mean(chance_ndcg(test, top_n=top_n,
                                                keep_consumed=keep_consumed))))
        options = {"top_n": top_n, "keep_consumed": keep_consumed, "device": device}
        by_k = {k: float(np.mean(user_ndcg(graph, valid, k, **options))) for k in candidates}
        best = max(candidates, key=lambda k: by_k[k])
        chosen.append(best)
        valid_scores.append(by_k)
        ndcg = user_ndcg(graph, test, best, **options)
        split_scores.append(float(np.mean(ndcg)))
        users.append(Predictions(test.users, np.full(len(test), block), ndcg))
    config = {"k": chosen, "valid_ndcg": valid_scores, "split_scores": split_scores,
              "n_splits": n_splits, "keep_consumed": keep_consumed, "top_n": top_n,
              "n_valid_users": len(valid), "n_test_users": len(test),
              "chance": float(np.mean(chance))}
    if not predictions:
        return float(np.mean(split_scores)), config
    return float(np.mean(split_scores)), config, concatenate(users)
