"""The HDPGMM's evidence lower bound (ELBO) from sufficient statistics (pure functions).

Every term of the bound is a function of the global factors and of a few corpus sums of
the song-level factors, so the whole-corpus ELBO can be evaluated from statistics alone
— what memoized inference keeps per batch, and what a merge move changes::

    ELBO = Σ_k [E_q log p(x | φ_k) terms (N_k, S1_k, S2_k) + E log p(φ_k) + H q(φ_k)]
         + Σ_k (su_k E log β'_k + sv_k E log(1 − β'_k))            E log p(c | β)
         + Σ_k (E log p(β'_k | γ) + H q(β'_k)) + [E log p(γ) + H q(γ)]
         + J (T − 1) E log α0 + E α0 · Σ_jt E log(1 − π'_jt) + [E log p(α0) + H q(α0)]
         + local entropy

with the *local entropy* ``Σ_j (H q(z_j) + E log p(z_j | π_j) + H q(c_j)
+ Σ_t (H q(π'_jt) − E log(1 − π'_jt)))`` summed song by song in the local step
(:attr:`Stats.entropy <hdpmusic.model.sufficient.Stats>`). With statistics from a splashed
responsibility the value is the bound of the splashed assignments, not an exact ELBO.
"""

from __future__ import annotations

import torch
from torch import Tensor

from hdpmusic.model import expectations as ex
from hdpmusic.model.sufficient import (
    Globals,
    NormalWishart,
    Prior,
    Stats,
    Sticks,
    concentration_moments,
    normal_wishart_posterior,
)


def expected_data_loglik(stats: Stats, g: Globals | NormalWishart) -> Tensor:
    """Σ_n r_nk E_q[log N(x_n | μ_k, Λ_k⁻¹)] from the statistics (Bishop 10.64), shape (K,).

    ``N_k (½ E log|Λ_k| − d/2 log 2π − d/(2λ_k)) − ν_k/2 tr(W_k C_k)`` with the scatter
    about m_k, ``C_k = S2_k − S1_k m_kᵀ − m_k S1_kᵀ + N_k m_k m_kᵀ``.
    """
    d = g.m.shape[-1]
    e_logdet = ex.expected_logdet_precision(g.logdet_W, g.nu, d)
    Sm = torch.einsum("ki,kj->kij", stats.S1, g.m)
    C = stats.S2 - Sm - Sm.transpose(1, 2) + stats.N[:, None, None] * torch.einsum(
        "ki,kj->kij", g.m, g.m)
    trace = torch.einsum("kij,kji->k", g.W, C)
    return (stats.N * (0.5 * e_logdet - 0.5 * d * ex.LOG_2PI - 0.5 * d / g.lam)
            - 0.5 * g.nu * trace)


def component_terms(stats: Stats, g: Globals | NormalWishart, prior: Prior) -> Tensor:
    """Each component's share of the ELBO: data term, E log p(φ_k) and H[q(φ_k)], (K,).

    Zero for a component with no data and its posterior equal to the prior. Batched over
    the leading axis like :func:`~hdpmusic.model.sufficient.normal_wishart_posterior`.
    """
    d = g.m.shape[-1]
    dev, dt = g.lam.device, g.lam.dtype
    log_prior = ex.normal_wishart_expected_log_prior(
        g.lam, g.m, g.W, g.logdet_W, g.nu, prior.lam0, prior.m0.to(dev, dt),
        prior.W0_inv.to(dev, dt), prior.logdet_W0.to(dev, dt), prior.nu0)
    return (expected_data_loglik(stats, g) + log_prior
            + ex.normal_wishart_entropy(g.lam, g.logdet_W, g.nu, d))


def optimal_component_terms(stats: Stats, prior: Prior) -> Tensor:
    """:func:`component_terms` at the optimal q(φ_k) of the statistics, shape (K,).

    A component's share depends on its own statistics only, so the shares of a state whose
    components were permuted, merged or emptied follow from these without recomputing the
    others (what the merge moves use)."""
    return component_terms(stats, normal_wishart_posterior(stats, prior), prior)


def stick_terms(stats: Stats, g: Globals | Sticks, prior: Prior) -> Tensor:
    """E log p(c | β) + Σ_k (E log p(β'_k | γ) + H q(β'_k)) + the q(γ) terms, shape (...)
    for sticks of shape (..., K − 1)."""
    moments = ex.beta_log_moments(g.u, g.v)     # E log β'_k, E log(1 − β'_k)
    gamma_mean, gamma_log = concentration_moments(prior.gamma, g.gamma_q, g.u)
    total = ((stats.su * moments[0] + stats.sv * moments[1]).sum(-1)
             + ex.stick_prior_term(g.u, g.v, gamma_mean, gamma_log, moments))
    if g.gamma_q is not None:
        total = total + ex.gamma_prior_term(*g.gamma_q, *prior.gamma_prior)
    return total


def song_concentration_terms(stats: Stats, g: Globals | Sticks, prior: Prior, *, n_songs: int,
                             T: int) -> Tensor:
    """The α0-dependent part of Σ_jt E log p(π'_jt | α0) and the q(α0) terms, shape ()."""
    alpha_mean, alpha_log = concentration_moments(prior.alpha0, g.alpha_q, g.u)
    total = n_songs * (T - 1) * alpha_log + alpha_mean * stats.alpha
    if g.alpha_q is not None:
        total = total + ex.gamma_prior_term(*g.alpha_q, *prior.alpha0_prior)
    return total


def corpus_terms(stats: Stats, g: Globals | Sticks, prior: Prior, *, n_songs: int,
                 T: int) -> Tensor:
    """Everything in the ELBO but the components' own terms, shape (): the sticks, the
    concentrations and the local entropy. Batched over leading axes of the stick parts
    (``su``, ``sv``) and ``entropy`` of ``stats`` and of the sticks ``g``: shape (...)."""
    return (stick_terms(stats, g, prior)
            + song_concentration_terms(stats, g, prior, n_songs=n_songs, T=T) + stats.entropy)


def elbo(stats: Stats, g: Globals, prior: Prior, *, n_songs: int, T: int) -> Tensor:
    """The whole ELBO of the songs summarised by ``stats`` under the globals ``g``, shape ().

    Parameters
    ----------
    stats : Stats
        Corpus sums of the song-level factors (``stats.entropy`` included).
    g : Globals
        Any global factors (not necessarily the optimum for ``stats``).
    prior : Prior
    n_songs : int
        J, the songs the statistics sum over.
    T : int
        Song truncation.
    """
    return (component_terms(stats, g, prior).sum()
            + corpus_terms(stats, g, prior, n_songs=n_songs, T=T))
