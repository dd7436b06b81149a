"""Sufficient statistics, the natural-parameter online update, and the derived globals.

The corpus-level variational factors are conjugate exponential-family posteriors whose
natural parameters are *prior + expected sufficient statistics*. We therefore keep the
expected statistics at corpus scale (float64) and obtain every global parameter from
them; mixing the statistics with ``(1 − ρ_t)·old + ρ_t·(J/|B|)·batch`` is exactly the
natural-parameter update of stochastic variational inference (Hoffman et al. 2013;
Wang, Paisley & Blei 2011), unlike mixing (m, W⁻¹/ν, λ, ν) directly.

For the Gaussian–Wishart factors (Bishop 10.60–10.63, written in natural form)::

    λ_k = λ0 + N_k                 ν_k = ν0 + N_k
    λ_k m_k = λ0 m0 + S1_k         W_k⁻¹ + λ_k m_k m_kᵀ = W0⁻¹ + λ0 m0 m0ᵀ + S2_k

with N_k = Σ r_nk, S1_k = Σ r_nk x_n, S2_k = Σ r_nk x_n x_nᵀ; for the corpus sticks
``u_k = 1 + su_k``, ``v_k = E[γ] + sv_k`` (Wang et al. Eqs. 14–15) with su, sv read from the
slot counts ``n_k = Σ_jt φ_jtk``; for a learned song
concentration α0 ~ Gamma(s1, s2): shape ``s1 + J(T − 1)``, rate ``s2 − Σ_jt E[log(1 − π'_jt)]``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, fields, replace
from typing import NamedTuple, TypeVar

import numpy as np
import torch
from torch import Tensor

from hdpmusic.model import expectations as ex


@dataclass
class Stats:
    """Expected sufficient statistics of the global factors (float64).

    Attributes
    ----------
    N : Tensor, shape (K,)
    S1 : Tensor, shape (K, d)
    S2 : Tensor, shape (K, d, d)
    su, sv : Tensor, shape (K - 1,)
        Σ_jt φ_jtk and Σ_jt Σ_{l>k} φ_jtl, from the slot counts n_k = Σ_jt φ_jtk (kept
        apart so that a study checkpoint's sticks load exactly).
    alpha : Tensor, shape ()
        Σ_jt E[log(1 − π'_jt)] (for a learned α0).
    usage : Tensor, shape (K,)
        Σ r_nk *without* the splash: how many frames each component explains (monitoring
        only; the splash gives every component a floor of η/K in ``N``).
    entropy : Tensor, shape ()
        The songs' local entropy terms of the ELBO (see :mod:`hdpmusic.model.objective`).
    """

    N: Tensor
    S1: Tensor
    S2: Tensor
    su: Tensor
    sv: Tensor
    alpha: Tensor
    usage: Tensor
    entropy: Tensor

    @classmethod
    def from_counts(cls, N: Tensor, S1: Tensor, S2: Tensor, counts: Tensor, alpha: Tensor,
                    usage: Tensor, entropy: Tensor) -> Stats:
        """Statistics whose stick parts come from the slot counts n_k, shape (..., K)
        (a leading axis of ``counts`` and ``entropy``: the stick parts of several states,
        which memoized inference's merge test scores at once)."""
        tail = counts.flip(-1).cumsum(-1).flip(-1)
        return cls(N, S1, S2, counts[..., :-1], tail[..., 1:], alpha, usage, entropy)

    @property
    def counts(self) -> Tensor:
        """n_k = Σ_jt φ_jtk, shape (K,).

        With K = 1 there is no stick and n_1 is not kept (nothing depends on it): 0.
        """
        if self.su.numel() == 0:
            return self.N.new_zeros(1)
        return torch.cat([self.su, self.sv[-1:]])

    @classmethod
    def zeros(cls, K: int, d: int, *, device: torch.device | str = "cpu") -> Stats:
        z = dict(dtype=torch.float64, device=device)
        return cls(torch.zeros(K, **z), torch.zeros(K, d, **z), torch.zeros(K, d, d, **z),
                   torch.zeros(K - 1, **z), torch.zeros(K - 1, **z), torch.zeros((), **z),
                   torch.zeros(K, **z), torch.zeros((), **z))

    def tensors(self) -> dict[str, Tensor]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def combine(self, a: float, other: Stats, b: float) -> Stats:
        """``a·self + b·other``, field by field."""
        return Stats(**{k: a * v + b * getattr(other, k) for k, v in self.tensors().items()})

    def __add__(self, other: Stats) -> Stats:
        """Field-by-field sum: the statistics of two disjoint sets of songs (one kernel a
        field, where :meth:`combine` takes three)."""
        return Stats(**{k: v + getattr(other, k) for k, v in self.tensors().items()})

    def flat(self) -> Tensor:
        """All statistics as one float64 vector (for a single ``all_reduce``)."""
        return torch.cat([v.reshape(-1) for v in self.tensors().values()])

    def from_flat(self, flat: Tensor) -> Stats:
        """Statistics of the same shapes as ``self`` read from :meth:`flat`'s layout."""
        out, pos = {}, 0
        for k, v in self.tensors().items():
            out[k] = flat[pos:pos + v.numel()].reshape(v.shape)
            pos += v.numel()
        return Stats(**out)

    def to(self, device: torch.device | str) -> Stats:
        return Stats(**{k: v.to(device) for k, v in self.tensors().items()})

    def per_component(self) -> Tensor:
        """The per-component statistics side by side, shape (K, 1 + d + d(d + 1)/2 + 2):
        ``[N, S1, upper triangle of S2, counts, usage]`` (the compact form memoized
        inference stores per batch)."""
        d = self.S1.shape[1]
        rows, cols = torch.triu_indices(d, d, device=self.S2.device)
        return torch.cat([self.N[:, None], self.S1, self.S2[:, rows, cols],
                          self.counts[:, None], self.usage[:, None]], 1)

    @classmethod
    def from_parts(cls, components: Tensor, alpha: Tensor, entropy: Tensor) -> Stats:
        """Statistics from :meth:`per_component`'s layout and the two corpus scalars."""
        w = components.shape[1]
        d = int((math.isqrt(8 * (w - 2) + 1) - 3) // 2)   # w = 1 + d + d(d + 1)/2 + 2
        n_tri = d * (d + 1) // 2
        return cls.from_counts(
            N=components[:, 0], S1=components[:, 1:1 + d],
            S2=ex.triangle_to_symmetric(components[:, 1 + d:1 + d + n_tri], d),
            counts=components[:, -2], usage=components[:, -1], alpha=alpha, entropy=entropy)


@dataclass
class Prior:
    """Gaussian–Wishart base measure and concentration (hyper-)priors.

    ``gamma``/``alpha0`` fixed to a value, or ``None`` for a learned concentration with a
    Gamma(shape, rate) hyper-prior.
    """

    m0: Tensor          # (d,)
    W0_inv: Tensor      # (d, d)
    lam0: float
    nu0: float
    gamma: float | None = None
    alpha0: float | None = None
    gamma_prior: tuple[float, float] = (1.0, 1.0)
    alpha0_prior: tuple[float, float] = (1.0, 1.0)

    @property
    def logdet_W0(self) -> Tensor:
        return -torch.linalg.slogdet(self.W0_inv)[1]


@dataclass
class Globals:
    """Global variational parameters derived from :class:`Stats` (float64)."""

    lam: Tensor        # (K,)
    m: Tensor          # (K, d)
    W: Tensor          # (K, d, d)
    logdet_W: Tensor   # (K,)
    nu: Tensor         # (K,)
    u: Tensor          # (K - 1,)
    v: Tensor          # (K - 1,)
    gamma_q: tuple[Tensor, Tensor] | None   # shape, rate of q(γ); None when γ is fixed
    alpha_q: tuple[Tensor, Tensor] | None   # shape, rate of q(α0); None when α0 is fixed

    @property
    def log_beta(self) -> Tensor:
        """E[log β_k], shape (K,)."""
        return ex.stick_expectations(self.u, self.v)

    @property
    def weights(self) -> Tensor:
        """E[β_k], shape (K,)."""
        return ex.stick_means(self.u, self.v)


def concentration_moments(fixed: float | None, q: tuple[Tensor, Tensor] | None,
                          like: Tensor) -> tuple[Tensor, Tensor]:
    """E[c] and E[log c] of a fixed or Gamma-distributed concentration."""
    if q is None:
        c = torch.as_tensor(float(fixed), dtype=like.dtype, device=like.device)
        return c, torch.log(c)
    return ex.gamma_moments(*q)


class NormalWishart(NamedTuple):
    """Parameters of the K Gaussian–Wishart posteriors q(μ_k, Λ_k) (float64)."""

    lam: Tensor        # (K,)
    m: Tensor          # (K, d)
    W: Tensor          # (K, d, d)
    logdet_W: Tensor   # (K,)
    nu: Tensor         # (K,)


def normal_wishart_posterior(stats: Stats, prior: Prior) -> NormalWishart:
    """q(μ_k, Λ_k) from the statistics (Bishop 10.60–10.63, natural form).

    Batched over the leading axis of ``stats.N``, ``stats.S1``, ``stats.S2`` (components,
    or candidate merges); the other fields of ``stats`` are not read.
    """
    dev, dt = stats.N.device, stats.N.dtype
    m0 = prior.m0.to(dev, dt)
    lam = prior.lam0 + stats.N
    nu = prior.nu0 + stats.N
    m = (prior.lam0 * m0 + stats.S1) / lam[:, None]
    W_inv = (prior.W0_inv.to(dev, dt) + prior.lam0 * torch.outer(m0, m0) + stats.S2
             - lam[:, None, None] * m[:, :, None] * m[:, None, :])
    W_inv = 0.5 * (W_inv + W_inv.transpose(1, 2))
    chol = robust_cholesky(W_inv)
    eye = torch.eye(chol.shape[-1], dtype=dt, device=dev).expand_as(chol)
    W = torch.cholesky_solve(eye, chol)   # much faster than cholesky_inverse on CPUs
    logdet_W = -2.0 * torch.log(torch.diagonal(chol, dim1=1, dim2=2)).sum(-1)
    return NormalWishart(lam, m, W, logdet_W, nu)


@dataclass
class Sticks:
    """The stick and concentration factors of :class:`Globals` (everything but the
    Gaussian–Wishart posteriors), float64."""

    u: Tensor          # (K - 1,)
    v: Tensor          # (K - 1,)
    gamma_q: tuple[Tensor, Tensor] | None
    alpha_q: tuple[Tensor, Tensor] | None


def stick_posterior(stats: Stats, prior: Prior, *, gamma_rate: Tensor | None, n_songs: int,
                    T: int) -> Sticks:
    """q(β'), q(γ) and q(α0) from corpus-scale statistics (see :func:`derive_globals`)."""
    K = stats.su.shape[-1] + 1
    dev, dt = stats.su.device, stats.su.dtype
    gamma_q = None
    if prior.gamma is None:
        shape = torch.as_tensor(prior.gamma_prior[0] + K - 1, dtype=dt, device=dev)
        gamma_q = (shape, gamma_rate)
    gamma_mean, _ = concentration_moments(prior.gamma, gamma_q, stats.su)
    alpha_q = None
    if prior.alpha0 is None:
        a_shape = torch.as_tensor(prior.alpha0_prior[0] + n_songs * (T - 1), dtype=dt, device=dev)
        alpha_q = (a_shape, prior.alpha0_prior[1] - stats.alpha)
    return Sticks(u=1.0 + stats.su, v=gamma_mean + stats.sv, gamma_q=gamma_q, alpha_q=alpha_q)


def derive_globals(stats: Stats, prior: Prior, *, gamma_rate: Tensor | None,
                   n_songs: int, T: int) -> Globals:
    """Global parameters from corpus-scale statistics.

    Parameters
    ----------
    stats : Stats
    prior : Prior
    gamma_rate : Tensor or None
        Current rate of q(γ) (coordinate-ascent state) when γ is learned.
    n_songs : int
        J, the number of songs in the corpus (for q(α0)).
    T : int
        Song truncation.
    """
    sticks = stick_posterior(stats, prior, gamma_rate=gamma_rate, n_songs=n_songs, T=T)
    return Globals(*normal_wishart_posterior(stats, prior), **vars(sticks))


G = TypeVar("G", Globals, Sticks)


def update_gamma(g: G, stats: Stats, prior: Prior) -> G:
    """Coordinate ascent on q(γ) given q(β'), then the corpus sticks' v with the new E[γ].

    The rate of q(γ) becomes ``g2 − Σ_k E[log(1 − β'_k)]``; a fixed γ returns ``g`` as is.
    Batched over leading axes of the sticks (``g.u``, ``g.v``, ``stats.sv``: (..., K − 1)).
    """
    if prior.gamma is None:
        shape, _ = g.gamma_q
        rate = prior.gamma_prior[1] - ex.expected_log_1m(g.u, g.v).sum(-1)
        g = replace(g, gamma_q=(shape, rate), v=(shape / rate)[..., None] + stats.sv)
    return g


def robust_cholesky(A: Tensor, max_tries: int = 8) -> Tensor:
    """Lower Cholesky factors of a batch of symmetric matrices, with jitter escalation.

    A factor that fails gets ``jitter·mean(diag)·I`` added, the jitter growing tenfold
    from 1e-10 until it succeeds. Never replaces an indefinite matrix by |A| (no SVD
    "fix"): after ``max_tries`` it raises.

    Parameters
    ----------
    A : Tensor, shape (..., d, d)
    """
    chol, info = torch.linalg.cholesky_ex(A)
    if not bool((info > 0).any()):
        return chol
    eye = torch.eye(A.shape[-1], dtype=A.dtype, device=A.device)
    scale = torch.diagonal(A, dim1=-2, dim2=-1).mean(-1).abs().clamp_min(1e-30)
    jitter = 1e-10
    for _ in range(max_tries):
        bad = info > 0
        fixed, info_fixed = torch.linalg.cholesky_ex(
            A + (jitter * scale)[..., None, None] * eye)
        chol = torch.where(bad[..., None, None], fixed, chol)
        info = torch.where(bad, info_fixed, info)
        if not bool((info > 0).any()):
            warnings.warn(f"added jitter {jitter:g}·mean(diag) to {int(bad.sum())} "
                          "ill-conditioned scale matrices", RuntimeWarning, stacklevel=2)
            return chol
        jitter *= 10.0
    raise FloatingPointError(
        f"{int((info > 0).sum())} scale matrices are not positive definite even with "
        "jitter; the data may contain constant or duplicated dimensions (check whitening)")


def frame_statistics(R: Tensor, x: Tensor, *,
                     chunk_rows: int | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """N_k = Σ r_nk, S1_k = Σ r_nk x_n, S2_k = Σ r_nk x_n x_nᵀ as chunked GEMMs.

    Each chunk is one product ``Rᵀ Φ(x)`` with :func:`expectations.quadratic_features`,
    computed in float64: second moments of a tight cluster far from the origin lose
    their spread to cancellation when ``W⁻¹ = W0⁻¹ + S2 − λ m mᵀ`` is formed from
    float32 sums (the scale matrix can turn indefinite).

    Parameters
    ----------
    R : Tensor, shape (n, K)
        Responsibilities (zero rows for padding).
    x : Tensor, shape (n, d)
    chunk_rows : int, optional
        Frames per product (default :func:`expectations.feature_chunk_rows`).

    Returns
    -------
    N : Tensor, shape (K,), float64
    S1 : Tensor, shape (K, d), float64
    S2 : Tensor, shape (K, d, d), float64
    """
    n, d = x.shape
    acc = torch.zeros(R.shape[1], ex.n_quadratic_features(d), dtype=torch.float64,
                      device=x.device)
    chunk_rows = chunk_rows or ex.feature_chunk_rows(x.device)
    for lo in range(0, n, chunk_rows):
        acc += (R[lo:lo + chunk_rows].double().T
                @ ex.quadratic_features(x[lo:lo + chunk_rows].double()))
    n_tri = d * (d + 1) // 2
    return acc[:, -1], acc[:, n_tri:n_tri + d], ex.triangle_to_symmetric(acc[:, :n_tri], d)


def slot_counts(phi: Tensor) -> Tensor:
    """n_k = Σ_jt φ_jtk, shape (K,), float64.

    Parameters
    ----------
    phi : Tensor, shape (B, T, K)
    """
    return phi.sum((0, 1)).double()


def initial_statistics(sample: Tensor, labels: np.ndarray, *, K: int, T: int, n_songs: int,
                       n_frames: int, alpha0_prior: tuple[float, float]) -> Stats:
    """The first statistics of a fit: hard assignments of a frame sample, scaled to the
    corpus.

    Each component's frame statistics are those of its sample frames times
    ``n_frames / n``; components are ordered by size (largest first), their song-slot
    counts share ``n_songs × T`` in proportion, and the song sticks' statistic is that of
    the α0 prior's mean with every slot empty.

    Parameters
    ----------
    sample : Tensor, shape (n, d), float64
        Frames sampled from the corpus (whitened as the fit sees them), on the device.
    labels : np.ndarray, shape (n,), int64
        The component of each frame, in [0, K)
        (:data:`hdpmusic.model.initial.INITIAL_LABELS`).
    K, T : int
        Corpus and song truncations.
    n_songs, n_frames : int
        The corpus's songs and frames the statistics stand for.
    alpha0_prior : (float, float)
        Shape and rate of the Gamma prior of α0.

    Returns
    -------
    Stats
        On ``sample``'s device, float64.
    """
    R = torch.nn.functional.one_hot(torch.as_tensor(labels, device=sample.device), K)
    N, S1, S2 = frame_statistics(R.double(), sample)
    order = torch.argsort(N, descending=True, stable=True)   # big components first
    scale = n_frames / len(sample)
    s1, s2 = alpha0_prior
    f64 = dict(dtype=torch.float64, device=sample.device)
    return Stats.from_counts(
        N=scale * N[order], S1=scale * S1[order], S2=scale * S2[order],
        counts=n_songs * T * N[order] / N.sum(), usage=scale * N[order],
        alpha=torch.as_tensor(s2 - (s1 + n_songs * (T - 1)), **f64),
        entropy=torch.zeros((), **f64))
