"""Expectations and ELBO terms of the HDPGMM's variational factors (pure functions).

Notation follows Wang, Paisley & Blei (2011) and Bishop (2006, §10.2): corpus sticks
``q(β'_k) = Beta(u_k, v_k)``, song sticks ``q(π'_jt) = Beta(a_jt, b_jt)``, components
``q(μ_k, Λ_k) = N(μ_k | m_k, (λ_k Λ_k)⁻¹) W(Λ_k | W_k, ν_k)``, concentration parameters
``q(γ) = Gamma(shape, rate)`` (likewise α0). Every function works batched on torch
tensors of any floating dtype and device; none loops over components in Python.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

LOG_2PI = math.log(2.0 * math.pi)


# --------------------------------------------------------------------------- sticks
Moments = tuple[Tensor, Tensor]
"""``(E[log w'], E[log(1 − w')])`` of Beta(u, v) stick proportions (:func:`beta_log_moments`),
which the stick expectations, the entropy and the prior term all read: computed once, they
can be passed to each (the song-level iterations do, three digammas an iteration instead
of eight)."""


def beta_log_moments(u: Tensor, v: Tensor) -> Moments:
    """E[log w'] and E[log(1 − w')] for w' ~ Beta(u, v), elementwise."""
    dig_sum = torch.digamma(u + v)
    return torch.digamma(u) - dig_sum, torch.digamma(v) - dig_sum


def stick_expectations(u: Tensor, v: Tensor, moments: Moments | None = None) -> Tensor:
    """E[log w_k] of stick-breaking weights truncated at ``n = len + 1`` sticks.

    Parameters
    ----------
    u, v : Tensor, shape (..., n - 1)
        Beta parameters of the stick proportions w'_k (the last proportion is 1).
    moments : (Tensor, Tensor), optional
        :func:`beta_log_moments` of ``u, v`` when already computed.

    Returns
    -------
    Tensor, shape (..., n)
        ``E[log w_k] = E[log w'_k] + Σ_{l<k} E[log(1 − w'_l)]``.
    """
    log_w, log_1mw = beta_log_moments(u, v) if moments is None else moments
    pad = torch.nn.functional.pad        # (not cat with u[..., :1]: empty for one stick)
    return pad(log_w, (0, 1)) + pad(torch.cumsum(log_1mw, -1), (1, 0))


def stick_means(u: Tensor, v: Tensor) -> Tensor:
    """E[w_k] of truncated stick-breaking weights, shape (..., n); sums to one."""
    frac = u / (u + v)
    rest = torch.cumprod(1.0 - frac, -1)
    one = u.new_ones(*u.shape[:-1], 1)
    return torch.cat([frac, one], -1) * torch.cat([one, rest], -1)


def expected_log_1m(u: Tensor, v: Tensor) -> Tensor:
    """E[log(1 − w')] for w' ~ Beta(u, v)."""
    return torch.digamma(v) - torch.digamma(u + v)


def beta_entropy(u: Tensor, v: Tensor, moments: Moments | None = None) -> Tensor:
    """Entropy of Beta(u, v), elementwise:
    ``log B(u, v) − (u − 1) E[log w'] − (v − 1) E[log(1 − w')]``.

    ``moments``: :func:`beta_log_moments` of ``u, v`` when already computed.
    """
    log_w, log_1mw = beta_log_moments(u, v) if moments is None else moments
    return (torch.lgamma(u) + torch.lgamma(v) - torch.lgamma(u + v)
            - (u - 1.0) * log_w - (v - 1.0) * log_1mw)


def stick_prior_term(u: Tensor, v: Tensor, conc_mean: Tensor | float,
                     conc_log_mean: Tensor | float, moments: Moments | None = None) -> Tensor:
    """E_q[log Beta(w' | 1, c)] + H[q(w')] summed over the last axis.

    ``log Beta(w | 1, c) = log c + (c − 1) log(1 − w)``; with a random concentration c
    its expectations ``E[c]`` and ``E[log c]`` are passed (for a fixed c: c and log c).

    Parameters
    ----------
    u, v : Tensor, shape (..., n)
    conc_mean, conc_log_mean : Tensor, shape () or (...), or float
    moments : (Tensor, Tensor), optional
        :func:`beta_log_moments` of ``u, v`` when already computed.

    Returns
    -------
    Tensor, shape (...)
    """
    moments = beta_log_moments(u, v) if moments is None else moments
    n = u.shape[-1]
    return (n * conc_log_mean + (conc_mean - 1.0) * moments[1].sum(-1)
            + beta_entropy(u, v, moments).sum(-1))


# --------------------------------------------------------------------------- gamma
def gamma_moments(shape: Tensor, rate: Tensor) -> tuple[Tensor, Tensor]:
    """E[c] and E[log c] for c ~ Gamma(shape, rate)."""
    return shape / rate, torch.digamma(shape) - torch.log(rate)


def gamma_prior_term(shape: Tensor, rate: Tensor, prior_shape: float,
                     prior_rate: float) -> Tensor:
    """E_q[log Gamma(c | a0, b0)] + H[Gamma(shape, rate)] (shape/rate parametrisation)."""
    mean, log_mean = gamma_moments(shape, rate)
    expected_log_prior = (prior_shape * math.log(prior_rate) - math.lgamma(prior_shape)
                          + (prior_shape - 1.0) * log_mean - prior_rate * mean)
    entropy = shape - torch.log(rate) + torch.lgamma(shape) + (1.0 - shape) * torch.digamma(shape)
    return expected_log_prior + entropy


# --------------------------------------------------------------------- Normal-Wishart
def expected_logdet_precision(logdet_W: Tensor, nu: Tensor, d: int) -> Tensor:
    """E[log |Λ|] for Λ ~ Wishart(W, ν) (Bishop B.81), shape like ``nu``."""
    i = torch.arange(d, dtype=nu.dtype, device=nu.device)
    return torch.digamma(0.5 * (nu[..., None] - i)).sum(-1) + d * math.log(2.0) + logdet_W


def wishart_log_norm(logdet_W: Tensor, nu: Tensor, d: int) -> Tensor:
    """log B(W, ν), the Wishart normaliser (Bishop B.79)."""
    return -0.5 * nu * logdet_W - 0.5 * nu * d * math.log(2.0) - _mvlgamma(0.5 * nu, d)


def _mvlgamma(x: Tensor, d: int) -> Tensor:
    """Multivariate log-gamma, batched over any shape of ``x``."""
    j = torch.arange(d, dtype=x.dtype, device=x.device)
    return 0.25 * d * (d - 1) * math.log(math.pi) + torch.lgamma(x[..., None] - 0.5 * j).sum(-1)


def normal_wishart_entropy(lam: Tensor, logdet_W: Tensor, nu: Tensor, d: int) -> Tensor:
    """H[q(μ, Λ)] for q = N(μ | m, (λΛ)⁻¹) W(Λ | W, ν), shape (K,).

    ``H = H[W(W, ν)] + E_Λ H[N(m, (λΛ)⁻¹)]`` with Bishop B.82 for the Wishart part.
    """
    e_logdet = expected_logdet_precision(logdet_W, nu, d)
    h_wishart = -wishart_log_norm(logdet_W, nu, d) - 0.5 * (nu - d - 1.0) * e_logdet + 0.5 * nu * d
    h_gauss = 0.5 * d * (1.0 + LOG_2PI) - 0.5 * d * torch.log(lam) - 0.5 * e_logdet
    return h_wishart + h_gauss


def normal_wishart_expected_log_prior(lam: Tensor, m: Tensor, W: Tensor, logdet_W: Tensor,
                                      nu: Tensor, lam0: float, m0: Tensor, W0_inv: Tensor,
                                      logdet_W0: Tensor, nu0: float) -> Tensor:
    """E_q[log p(μ_k, Λ_k)] under the Gaussian–Wishart prior (Bishop 10.74), shape (K,).

    Parameters
    ----------
    lam, nu : Tensor, shape (K,)
    m : Tensor, shape (K, d)
    W : Tensor, shape (K, d, d)
    logdet_W : Tensor, shape (K,)
    lam0, nu0 : float
    m0 : Tensor, shape (d,)
    W0_inv : Tensor, shape (d, d)
    logdet_W0 : Tensor, shape ()
    """
    d = m.shape[-1]
    e_logdet = expected_logdet_precision(logdet_W, nu, d)
    diff = m - m0
    maha = torch.einsum("ki,kij,kj->k", diff, W, diff)
    trace = torch.einsum("ij,kji->k", W0_inv, W)
    nu0_t = torch.as_tensor(nu0, dtype=nu.dtype, device=nu.device)
    gauss = 0.5 * (d * math.log(lam0 / (2.0 * math.pi)) + e_logdet - d * lam0 / lam
                   - lam0 * nu * maha)
    wishart = (wishart_log_norm(logdet_W0, nu0_t, d) + 0.5 * (nu0 - d - 1.0) * e_logdet
               - 0.5 * nu * trace)
    return gauss + wishart


# --------------------------------------------------------- E_q[log p(x | φ_k)] as GEMM
def n_quadratic_features(d: int) -> int:
    """Width of :func:`quadratic_features` for dimension d: d(d + 1)/2 + d + 1."""
    return d * (d + 1) // 2 + d + 1


def quadratic_features(x: Tensor) -> Tensor:
    """Feature map Φ(x) = [x_i x_j for i ≤ j (row-major upper triangle), x, 1].

    With it any quadratic function of x with per-component coefficients is one matrix
    product ``Φ(x) @ P``. The triangle is written row by row (``x_i · x[i:]``, d
    contiguous broadcast products), so the GEMMs on Φ are half as wide as with the full
    outer product while building Φ costs no more.

    Parameters
    ----------
    x : Tensor, shape (n, d)

    Returns
    -------
    Tensor, shape (n, d(d + 1)/2 + d + 1)
    """
    n, d = x.shape
    out = torch.empty(n, n_quadratic_features(d), dtype=x.dtype, device=x.device)
    col = 0
    for i in range(d):
        torch.mul(x[:, i:i + 1], x[:, i:], out=out[:, col:col + d - i])
        col += d - i
    out[:, col:col + d] = x
    out[:, -1] = 1.0
    return out


def feature_chunk_rows(device: torch.device) -> int:
    """Rows of Φ(x) built at a time by the chunked products on ``device``.

    On a CPU 2048 rows (≈ 12 MB of Φ at d = 52) stay in the allocator's heap and warm
    in cache — 8192 rows cost ≈ 40 % more per frame in page faults; a GPU takes larger
    chunks to amortise the d kernel launches of :func:`quadratic_features`.
    """
    return 2048 if device.type == "cpu" else 32768


def triangle_to_symmetric(tri: Tensor, d: int) -> Tensor:
    """Symmetric matrices from their row-major upper triangles.

    Parameters
    ----------
    tri : Tensor, shape (K, d(d + 1)/2)

    Returns
    -------
    Tensor, shape (K, d, d)
    """
    rows, cols = torch.triu_indices(d, d, device=tri.device)
    out = torch.zeros(tri.shape[0], d, d, dtype=tri.dtype, device=tri.device)
    out[:, rows, cols] = tri
    out[:, cols, rows] = tri
    return out


def quadratic_form_coefficients(m: Tensor, A: Tensor, const: Tensor | None = None) -> Tensor:
    """Coefficients P such that ``quadratic_features(x) @ P = (x − m_k)ᵀ A_k (x − m_k) + c_k``.

    Parameters
    ----------
    m : Tensor, shape (K, d)
    A : Tensor, shape (K, d, d), symmetric
    const : Tensor, shape (K,), optional

    Returns
    -------
    Tensor, shape (d(d + 1)/2 + d + 1, K)
    """
    d = m.shape[1]
    Am = torch.einsum("kij,kj->ki", A, m)
    c = (Am * m).sum(-1)
    if const is not None:
        c = c + const
    rows, cols = torch.triu_indices(d, d, device=A.device)
    # x_i x_j (i < j) stands for both x_i x_j and x_j x_i of the quadratic form
    tri = A[:, rows, cols] + torch.where(rows != cols, A[:, cols, rows], 0.0)
    return torch.cat([tri, -2.0 * Am, c[:, None]], 1).T


def expected_loglik_coefficients(lam: Tensor, m: Tensor, W: Tensor, logdet_W: Tensor,
                                 nu: Tensor) -> Tensor:
    """P such that ``quadratic_features(x) @ P = E_q[log N(x | μ_k, Λ_k⁻¹)]`` (Bishop 10.64–65).

    ``E_q[log N(x|μ_k,Λ_k⁻¹)] = ½ E[log|Λ_k|] − d/2 log 2π − d/(2λ_k)
    − ν_k/2 (x − m_k)ᵀ W_k (x − m_k)``.

    Returns
    -------
    Tensor, shape (d(d + 1)/2 + d + 1, K)
    """
    d = m.shape[-1]
    const = (0.5 * expected_logdet_precision(logdet_W, nu, d) - 0.5 * d * LOG_2PI
             - 0.5 * d / lam)
    scale = -0.5 * nu
    return quadratic_form_coefficients(m, scale[:, None, None] * W, const)


def student_t_predictive(x_phi: Tensor, lam: Tensor, m: Tensor, W: Tensor, logdet_W: Tensor,
                         nu: Tensor) -> Tensor:
    """log of the posterior predictive St(x | m_k, L_k, ν_k + 1 − d) (Bishop 10.81).

    Parameters
    ----------
    x_phi : Tensor, shape (n, d(d + 1)/2 + d + 1)
        :func:`quadratic_features` of the frames, in the dtype of the parameters.

    Returns
    -------
    Tensor, shape (n, K)
    """
    d = m.shape[-1]
    dof = nu + 1.0 - d
    scale = dof * lam / (1.0 + lam)
    maha = x_phi @ quadratic_form_coefficients(m, scale[:, None, None] * W)
    log_norm = (torch.lgamma(0.5 * (dof + d)) - torch.lgamma(0.5 * dof)
                + 0.5 * (d * torch.log(scale) + logdet_W) - 0.5 * d * torch.log(dof * math.pi))
    return log_norm - 0.5 * (dof + d) * torch.log1p(maha.clamp_min(0.0) / dof)
