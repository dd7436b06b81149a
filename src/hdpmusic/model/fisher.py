"""The improved Fisher vector of a song under a fitted HDPGMM.

Perronnin, Sánchez & Mensink (ECCV 2010) and Sánchez, Perronnin, Mensink & Verbeek (IJCV
2013), with the song-level responsibilities of the HDP (the local step's
``r_jnk = Σ_t ζ_jnt φ_jtk``, so each song's own component weights count) in place of a
flat mixture's. Per component k, in its own whitened space ``u = A_kᵀ (x − m_k)``
(``A_k`` the lower Cholesky factor of the inverse of the component's covariance
``S_k``, so that u is standard normal under the component)::

    G^w_jk = 1 / (N_j √w_k)   Σ_n (r_jnk − w_k)                 (1,)  weight
    G^μ_jk = 1 / (N_j √w_k)   Σ_n r_jnk u_jnk                  (d,)  first order
    G^σ_jk = 1 / (N_j √(2w_k)) Σ_n r_jnk (u_jnk² − 1)           (d,)  second order (diagonal)

with ``N_j`` the song's frames and ``w_k = E[β_k]`` the corpus weight. ``S_k`` is the
component's expected covariance raised by a floor, ``S_k = (ν_k W_k)⁻¹ + λ Σ`` (``Σ`` the
fitted mixture's own covariance, :func:`mixture_covariance`; ``λ`` =
:data:`COVARIANCE_FLOOR`): a component that is tight in some direction (a feature nearly
constant within it) would otherwise turn small deviations there into large ``u``, and the
song vectors into noise along that direction. ``G^w`` is the
gradient with respect to the weights (in the softmax parametrisation of the IJCV paper):
how far the song's share of component k lies from the corpus's: the part of the vector
that says which components a song uses, which the song's own HDP weights make telling.
The vector is the concatenation over the selected components
(component-major: ``[G^w_k, G^μ_k, G^σ_k]`` for each k in order), then signed square root
and L2 normalisation ("improved"); a component that explains less than a tenth of one of
the song's frames contributes zeros to ``G^μ`` and ``G^σ`` (its ``G^w`` is ``−√w_k``).
With one component it is the song's whitened mean and variance deviation (close to G1);
with hard assignments it is a VQ histogram refined by each cell's mean and spread.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from hdpmusic.model.local import SongBucket

__all__ = ["COVARIANCE_FLOOR", "FisherEncoder", "fisher_statistics", "mixture_covariance",
           "power_l2_normalise"]

#: the covariance added to every component's before encoding, as a fraction of the fitted
#: mixture's own total covariance (:func:`mixture_covariance`)
COVARIANCE_FLOOR = 0.1


def mixture_covariance(means: Tensor, covariances: Tensor, shares: Tensor) -> Tensor:
    """The covariance of a Gaussian mixture: ``Σ_k π_k (Σ_k + m_k m_kᵀ) − m̄ m̄ᵀ``.

    Parameters
    ----------
    means : Tensor, shape (K, d)
    covariances : Tensor, shape (K, d, d)
    shares : Tensor, shape (K,)
        Mixing proportions π (normalised here).

    Returns
    -------
    Tensor, shape (d, d)
    """
    pi = shares / shares.sum()
    mean = pi @ means
    second = torch.einsum("k,kde->de", pi, covariances + means[:, :, None] * means[:, None])
    return second - torch.outer(mean, mean)


def fisher_statistics(frames: Tensor, resp: Tensor, chol: Tensor, offset: Tensor, *,
                      second_order: bool = True, max_elements: int = 1 << 24,
                      ) -> tuple[Tensor, Tensor, Tensor | None]:
    """Responsibility-weighted deviations of each song's frames in each component's
    whitened space.

    Parameters
    ----------
    frames : Tensor, shape (b, n, d)
        Songs' frames (zero-padded; padding must have zero responsibility).
    resp : Tensor, shape (b, n, C)
        Responsibilities of the C selected components.
    chol : Tensor, shape (C, d, d)
        ``A_k``, lower Cholesky factors of the components' expected precisions.
    offset : Tensor, shape (C, d)
        ``m_kᵀ A_k`` (the component means in their own whitened spaces).
    second_order : bool, default=True
        Also return the second-order sums.
    max_elements : int, default=2**24
        Bound on the elements of the (b, n, c, d) block of whitened deviations held at
        once (components are taken ``c`` at a time).

    Returns
    -------
    counts : Tensor, shape (b, C)
        ``Σ_n r_jnk``.
    first : Tensor, shape (b, C, d)
        ``Σ_n r_jnk u_jnk``.
    second : Tensor, shape (b, C, d), or None
        ``Σ_n r_jnk (u_jnk² − 1)``; None without ``second_order``.
    """
    b, n, d = frames.shape
    C = chol.shape[0]
    counts = resp.sum(1)
    # first order from the per-song sums Σ r x: (Σ r x − N m)ᵀ A = (Σ r x)ᵀ A − N mᵀA
    weighted = torch.bmm(resp.transpose(1, 2), frames)                 # (b, C, d)
    first = torch.einsum("bkd,kde->bke", weighted, chol) - counts[..., None] * offset
    if not second_order:
        return counts, first, None
    second = torch.empty_like(first)
    step = max(1, max_elements // max(b * n * d, 1))
    for lo in range(0, C, step):
        hi = min(lo + step, C)
        u = torch.einsum("bnd,kde->bnke", frames, chol[lo:hi]) - offset[lo:hi]
        second[:, lo:hi] = torch.einsum("bnk,bnke->bke", resp[..., lo:hi], u.square_())
        del u
    second -= counts[..., None]
    return counts, first, second


def power_l2_normalise(F: Tensor, eps: float = 1e-12) -> Tensor:
    """Signed square root, then each row scaled to unit L2 norm (rows of zeros stay zero).

    Parameters
    ----------
    F : Tensor, shape (b, D)
    eps : float, default=1e-12
        Smallest norm divided by.

    Returns
    -------
    Tensor, shape (b, D)
    """
    F = torch.sign(F) * torch.sqrt(torch.abs(F))
    return F / torch.linalg.vector_norm(F, dim=1, keepdim=True).clamp_min(eps)


@dataclass
class FisherEncoder:
    """The improved Fisher vector as a song summary of the local step
    (:data:`hdpmusic.model.local.SongSummary`).

    Attributes
    ----------
    components : Tensor, shape (C,), int64
        The model's components encoded (columns of the responsibilities).
    chol : Tensor, shape (C, d, d)
        ``A_k``, lower Cholesky factors of the inverse covariances ``S_k⁻¹`` the components
        are encoded with.
    offset : Tensor, shape (C, d)
        ``m_kᵀ A_k``.
    weights : Tensor, shape (C,)
        ``E[β_k]``.
    second_order : bool
        Include ``G^σ`` (dimension ``C (1 + 2d)``; else ``C (1 + d)``).
    min_count : float
        A component explaining fewer of a song's frames (``Σ_n r_jnk``) contributes zeros
        to ``G^μ`` and ``G^σ``:
        the song does not use it, and the traces of responsibility it still gets there
        are rounding noise that the signed square root would magnify (and a per-column
        standardisation downstream would blow up to unit variance).
    """

    components: Tensor
    chol: Tensor
    offset: Tensor
    weights: Tensor
    second_order: bool = True
    min_count: float = 0.1

    @classmethod
    def from_posterior(cls, m: Tensor, W: Tensor, nu: Tensor, weights: Tensor,
                       components: Tensor, *, floor: Tensor | None = None,
                       second_order: bool = True,
                       dtype: torch.dtype = torch.float32) -> FisherEncoder:
        """Build from the Gaussian–Wishart posteriors (float64, any K) and the component
        selection, each component encoded with the covariance ``(ν_k W_k)⁻¹ + floor``.

        Parameters
        ----------
        m : Tensor, shape (K, d)
        W : Tensor, shape (K, d, d)
        nu : Tensor, shape (K,)
        weights : Tensor, shape (K,)
            ``E[β_k]``.
        components : Tensor, shape (C,), int64
        floor : Tensor, shape (d, d), optional
            Added to every component's expected covariance (none when omitted).
        second_order : bool, default=True
        dtype : torch.dtype, default=torch.float32
            The frames' compute dtype.
        """
        sel = components.to(m.device)
        precision = nu[sel, None, None] * W[sel]
        if floor is not None:
            precision = torch.linalg.inv(torch.linalg.inv(precision) + floor)
        chol = torch.linalg.cholesky(precision)
        offset = torch.einsum("kd,kde->ke", m[sel], chol)
        return cls(sel, chol.to(dtype), offset.to(dtype), weights[sel].to(dtype),
                   second_order)

    @property
    def dim(self) -> int:
        """Length of the vector: ``C (1 + d)`` (weights and first order) or ``C (1 + 2d)``."""
        C, d = self.offset.shape
        return C * (1 + d * (2 if self.second_order else 1))

    def __call__(self, bucket: SongBucket) -> Tensor:
        """The normalised Fisher vectors of a bucket's songs, shape (b, :attr:`dim`)."""
        resp = bucket.resp[..., self.components]
        counts, first, second = fisher_statistics(bucket.frames, resp, self.chol,
                                                  self.offset, second_order=self.second_order)
        n = bucket.lengths.to(first.dtype)[:, None, None]
        root_w = self.weights.sqrt()[:, None]
        counts = counts[..., None]
        scale = (counts >= self.min_count) / (n * root_w)
        parts = [(counts / n - self.weights[:, None]) / root_w, first * scale]
        if second is not None:
            parts.append(second * scale / 2 ** 0.5)
        F = torch.cat(parts, dim=2).reshape(first.shape[0], -1)
        return power_l2_normalise(F)
