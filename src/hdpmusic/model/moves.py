"""Merge and reorder moves on sufficient statistics (pure functions).

A merge of component b into a gives every song slot the assignment φ_ta + φ_tb and
leaves frames, song sticks and everything else as they were. The responsibilities add,
so every statistic of the merged component is the sum of the two (:func:`merge_into`);
only the slot-assignment entropy H q(c) is not linear — its loss is tracked per
candidate pair while the batches are visited
(:func:`hdpmusic.model.local.merge_gaps`). The ELBO after a merge is then exact from
statistics (Hughes, Kim & Sudderth 2015).

The component table used here is :meth:`Stats.per_component
<hdpmusic.model.sufficient.Stats.per_component>`'s layout, any leading axes (batches).
"""

from __future__ import annotations

import torch
from torch import Tensor

from hdpmusic.model.objective import optimal_component_terms
from hdpmusic.model.sufficient import Prior, Stats, normal_wishart_posterior

#: column of the slot counts n_k in the component table (the last is the usage)
COUNTS = -2


def merge_into(components: Tensor, a: int, b: int) -> Tensor:
    """The table with component b's statistics added to a's and b's emptied.

    Parameters
    ----------
    components : Tensor, shape (..., K, w)

    Returns
    -------
    Tensor, shape (..., K, w)
    """
    out = components.clone()
    out[..., a, :] += out[..., b, :]
    out[..., b, :] = 0.0
    return out


def size_order(counts: Tensor) -> Tensor:
    """Components by decreasing slot count (stable), the order the stick-breaking prior
    favours; ``counts`` (..., K), the order int64 of the same shape."""
    return torch.argsort(counts, descending=True, stable=True)


def merge_candidates(stats: Stats, prior: Prior, *, max_pairs: int, partners: int = 4,
                     chunk: int = 2048) -> Tensor:
    """Pairs (a, b), a < b, whose merge most raises the components' own ELBO terms.

    Each component holding at least one frame is paired with its ``partners`` nearest
    others of the kind (symmetric Mahalanobis distance between the posterior means under
    E[Λ]); emptier ones are left out, since merging them changes nothing but takes the
    slots of real candidates (and counted as merges). For each pair, the
    data, prior and entropy terms of the merged Gaussian–Wishart (:func:`merged_terms`)
    minus those of the two. The ``max_pairs`` best are returned; the sticks and the
    slot-assignment entropy are left to the exact test at the end of the pass.

    Parameters
    ----------
    stats : Stats
    prior : Prior
    max_pairs : int
    partners : int
        Nearest components each component is paired with.
    chunk : int
        Pairs evaluated at a time (memory: chunk·d² float64).

    Returns
    -------
    Tensor, shape (P, 2), int64, P ≤ max_pairs, best first
    """
    live = (stats.N >= 1.0).nonzero().squeeze(1)
    if live.numel() < 2 or max_pairs < 1:
        return torch.empty(0, 2, dtype=torch.int64, device=stats.N.device)
    nw = normal_wishart_posterior(stats, prior)
    pairs = live[nearest_pairs(nw.m[live], nw.nu[live, None, None] * nw.W[live], partners)]
    own = optimal_component_terms(stats, prior)
    gain = merged_terms(stats, prior, pairs, chunk=chunk) - own[pairs[:, 0]] - own[pairs[:, 1]]
    best = torch.argsort(gain, descending=True, stable=True)[:max_pairs]
    return pairs[best]


def merged_terms(stats: Stats, prior: Prior, pairs: Tensor, *, chunk: int = 2048) -> Tensor:
    """The components' own ELBO terms of each pair's merged component, shape (P,).

    :func:`~hdpmusic.model.objective.optimal_component_terms` of the summed statistics
    ``N_a + N_b``, ``S1_a + S1_b``, ``S2_a + S2_b``, ``chunk`` pairs at a time (memory:
    chunk·d² float64).

    Parameters
    ----------
    stats : Stats
    prior : Prior
    pairs : Tensor, shape (P, 2), int64
    chunk : int
    """
    out = torch.empty(len(pairs), dtype=stats.N.dtype, device=stats.N.device)
    for lo in range(0, len(pairs), chunk):
        a, b = pairs[lo:lo + chunk, 0], pairs[lo:lo + chunk, 1]
        merged = Stats.zeros(1, stats.S1.shape[1], device=stats.N.device)
        merged.N, merged.S1, merged.S2 = (stats.N[a] + stats.N[b], stats.S1[a] + stats.S1[b],
                                          stats.S2[a] + stats.S2[b])
        out[lo:lo + chunk] = optimal_component_terms(merged, prior)
    return out


def nearest_pairs(m: Tensor, precision: Tensor, partners: int) -> Tensor:
    """Each point with its ``partners`` nearest others, as unique pairs (a < b).

    Distance: ``(m_b − m_a)ᵀ P_a (m_b − m_a) + (m_a − m_b)ᵀ P_b (m_a − m_b)``.

    Parameters
    ----------
    m : Tensor, shape (n, d)
    precision : Tensor, shape (n, d, d)
    partners : int

    Returns
    -------
    Tensor, shape (P, 2), int64, rows sorted
    """
    n = m.shape[0]
    Pm = torch.einsum("aij,aj->ai", precision, m)
    # (m_b − m_a)ᵀ P_a (m_b − m_a) for all a, b without forming the differences
    quad = (torch.einsum("bi,aij,bj->ab", m, precision, m) - 2.0 * m @ Pm.T
            + (Pm * m).sum(1)[:, None])
    dist = quad + quad.T
    dist.fill_diagonal_(torch.inf)
    near = dist.topk(min(partners, n - 1), dim=1, largest=False).indices
    a = torch.arange(n, device=m.device)[:, None].expand_as(near)
    pairs = torch.stack([torch.minimum(a, near), torch.maximum(a, near)], -1).reshape(-1, 2)
    return torch.unique(pairs, dim=0)
