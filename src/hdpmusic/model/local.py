"""The song-level (local) step of online HDPGMM inference, vectorised over songs.

A mini-batch arrives packed (frames of all songs concatenated, CSR offsets). Songs are
grouped into length buckets whose zero padding stays under a set share of the work (on
a GPU small buckets are filled whatever their padding: each costs the same launches),
and each bucket runs coordinate ascent (Wang, Paisley & Blei 2011, Eqs. 10–13) with
batched matrix products:

* song-component assignments ``φ_jt ∝ exp(Σ_n ζ_jnt E[log p(x_jn|φ_k)] + E[log β_k])``
* frame assignments ``ζ_jn ∝ exp(Σ_k φ_jtk E[log p(x_jn|φ_k)] + E[log π_jt])``
* song sticks ``a_jt = 1 + Σ_n ζ_jnt``, ``b_jt = E[α0] + Σ_n Σ_{s>t} ζ_jns``.

After each ζ update the song's bound is available at no extra product: with ζ at its
optimum, ``Σ_nt ζ(s − log ζ) = Σ_n logsumexp_t s_nt``. Each song stops when its bound
changes by less than ``tol`` relative (or at ``max_iter``): its φ, a, b are frozen from
then on. The host reads how many songs are still active after every iteration (one
device-to-host sync, a few microseconds): the bucket ends at the iteration its last song
stops, and converged songs are dropped from the working set once at most half remain.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import Tensor

from hdpmusic.model import expectations as ex
from hdpmusic.model.sufficient import Stats, frame_statistics, slot_counts
from hdpmusic.runtime.devices import song_index

#: padded frames × K of a bucket below which a GPU takes longer to launch a local
#: iteration's kernels than to run them (docs/design.md §4.4): 2²⁶, e.g. 262,144 frames
#: at K 256, from an H200's measured ~16 µs per eager kernel (67 an iteration) and
#: ~3.3 ns per frame and iteration at K 256
LAUNCH_BOUND_WORK = 1 << 26


def plan_buckets(lengths: np.ndarray, *, max_padding: float = 0.1, min_frames: int = 0,
                 max_frames: int = 1 << 20) -> list[np.ndarray]:
    """Group songs into buckets of similar length.

    Songs are sorted by decreasing length; a bucket takes the next song while the
    bucket's padded size with it stays within ``min_frames``, or else while the song's
    padding is at most ``max_padding`` of the bucket's padded length; never beyond a
    padded size of ``max_frames``. Hence, with ``min_frames`` 0, padding ≤
    ``max_padding`` of the frames processed; memory is bounded by ``max_frames`` whatever
    the batch.

    Parameters
    ----------
    lengths : np.ndarray, shape (B,)
    max_padding : float, default=0.1
    min_frames : int, default=0
        Padded size below which a bucket takes songs whatever their padding: where each
        bucket costs a fixed overhead (a GPU's kernel launches), fewer, more padded
        buckets are faster (:func:`min_bucket_frames`).
    max_frames : int, default=2**20

    Returns
    -------
    list of np.ndarray
        Positions (into ``lengths``) of the songs of each bucket.
    """
    order = np.argsort(-np.asarray(lengths), kind="stable")
    buckets: list[np.ndarray] = []
    start = 0
    while start < len(order):
        top = int(lengths[order[start]])
        stop = start + 1
        while stop < len(order):
            padded = (stop - start + 1) * top
            if padded > max_frames or (padded > min_frames
                                       and lengths[order[stop]] < (1.0 - max_padding) * top):
                break
            stop += 1
        buckets.append(order[start:stop])
        start = stop
    return buckets


def min_bucket_frames(device: torch.device, n_components: int) -> int:
    """The ``min_frames`` of :func:`plan_buckets` suited to a device and K: 0 on a CPU,
    where an operation's overhead is small against its arithmetic, and on an accelerator
    enough frames that a bucket's compute outweighs its launches
    (:data:`LAUNCH_BOUND_WORK` / K)."""
    return 0 if device.type == "cpu" else -(-LAUNCH_BOUND_WORK // n_components)


def gather_padded(frames: Tensor, starts: Tensor, lengths: Tensor,
                  width: int) -> tuple[Tensor, Tensor]:
    """Songs of a packed batch as a zero-padded block.

    Parameters
    ----------
    frames : Tensor, shape (n, d)
    starts, lengths : Tensor, shape (B,), int64, on ``frames.device``
    width : int
        Padded length (≥ max of ``lengths``).

    Returns
    -------
    X : Tensor, shape (B, width, d)
    mask : Tensor, shape (B, width), dtype of ``frames`` (1 for real frames)
    """
    pos = torch.arange(width, device=frames.device)
    mask = pos[None, :] < lengths[:, None]
    index = torch.where(mask, starts[:, None] + pos[None, :], 0)
    X = frames[index] * mask[..., None].to(frames.dtype)
    return X, mask.to(frames.dtype)


def expected_loglik(x: Tensor, coef: Tensor, *, exact: tuple[Tensor, Tensor] | None = None,
                    chunk_rows: int | None = None) -> Tensor:
    """E_q[log p(x_n | φ_k)] for all frames and components as chunked GEMMs.

    Parameters
    ----------
    x : Tensor, shape (n, d)
    coef : Tensor, shape (d(d + 1)/2 + d + 1, K)
        From :func:`expectations.expected_loglik_coefficients`, in ``x``'s dtype.
    exact : (Tensor (P,), Tensor (d(d + 1)/2 + d + 1, P)), optional
        Components whose columns are recomputed in float64, and their float64
        coefficients (see :func:`exact_columns`).
    chunk_rows : int, optional
        Frames per product (default :func:`expectations.feature_chunk_rows`).

    Returns
    -------
    Tensor, shape (n, K)
    """
    out = torch.empty(x.shape[0], coef.shape[1], dtype=x.dtype, device=x.device)
    chunk_rows = chunk_rows or ex.feature_chunk_rows(x.device)
    for lo in range(0, x.shape[0], chunk_rows):
        xc = x[lo:lo + chunk_rows]
        torch.matmul(ex.quadratic_features(xc), coef, out=out[lo:lo + chunk_rows])
        if exact is not None and exact[0].numel():
            out[lo:lo + chunk_rows, exact[0]] = (
                ex.quadratic_features(xc.double()) @ exact[1]).to(x.dtype)
    return out


def exact_columns(coef64: Tensor, m: Tensor, W: Tensor, nu: Tensor, dtype: torch.dtype,
                  *, max_error: float = 1e-3) -> tuple[Tensor, Tensor] | None:
    """Components whose expected log-likelihood loses precision in ``dtype``.

    ``Φ(x) @ P`` expands ``−ν/2 (x − m)ᵀ W (x − m)``: for frames near m_k its terms are as
    large as ½ D_k², with ``D_k² = ν_k m_kᵀ W_k m_k`` the squared Mahalanobis distance of
    the origin from the component, and they cancel to about d/2. A tight component far
    from the (whitened) origin — digital silence — thus loses ``eps·D_k²`` nats; these
    columns are recomputed in float64.

    Parameters
    ----------
    coef64 : Tensor, shape (d(d + 1)/2 + d + 1, K), float64
    m : Tensor, shape (K, d)
    W : Tensor, shape (K, d, d)
    nu : Tensor, shape (K,)
    dtype : torch.dtype
        The frames' compute dtype.
    max_error : float
        Largest tolerated rounding error in nats.

    Returns
    -------
    (Tensor (P,), Tensor (d(d + 1)/2 + d + 1, P)) or None
        None when every column is precise enough.
    """
    if dtype == torch.float64:
        return None
    d2 = nu * torch.einsum("ki,kij,kj->k", m, W, m)
    index = (torch.finfo(dtype).eps * (d2 + m.shape[1]) > max_error).nonzero().squeeze(1)
    return (index, coef64[:, index]) if index.numel() else None


@dataclass
class LocalState:
    """Converged song-level parameters of a bucket.

    Attributes
    ----------
    phi : Tensor, shape (B, T, K)
    a, b : Tensor, shape (B, T - 1)
    bound : Tensor, shape (B,)
        Each song's local ELBO at convergence.
    n_iter : Tensor, shape (B,), int64
    """

    phi: Tensor
    a: Tensor
    b: Tensor
    bound: Tensor
    n_iter: Tensor


def initial_phi(L: Tensor, mask: Tensor, log_beta: Tensor, T: int) -> Tensor:
    """Start each song's T slots on its T most used components.

    The component posterior ``p(k|x) ∝ exp(E[log p(x|φ_k)] + E[log β_k])`` is summed over
    the song's frames and slot t is put on the t-th largest (deterministic, no RNG,
    and ordered as the stick-breaking prior prefers). Extra slots when T > K are uniform.

    Returns
    -------
    Tensor, shape (B, T, K)
    """
    B, _, K = L.shape
    mass = (torch.softmax(L + log_beta, dim=2) * mask[..., None]).sum(1)
    top = mass.topk(min(T, K), dim=1).indices
    phi = torch.full((B, T, K), 1.0 / K, dtype=L.dtype, device=L.device)
    phi[:, :top.shape[1]] = torch.nn.functional.one_hot(top, K).to(L.dtype)
    return phi


def _phi_terms(phi: Tensor, log_beta: Tensor) -> Tensor:
    """Σ_tk φ_tk (E[log β_k] − log φ_tk) per song: E[log p(c|β)] + H[q(c)]."""
    return (phi * log_beta - torch.special.xlogy(phi, phi)).sum((1, 2))


def local_bound(lse: Tensor, phi: Tensor, a: Tensor, b: Tensor, log_beta: Tensor,
                alpha_mean: Tensor, alpha_log_mean: Tensor,
                moments: ex.Moments | None = None) -> Tensor:
    """Each song's local ELBO, shape (B,), from the ``lse`` of :func:`frame_assignments`
    (ζ at its optimum given φ and the sticks) and the song factors; ``moments``:
    :func:`expectations.beta_log_moments` of ``a, b`` when already computed."""
    return lse + _phi_terms(phi, log_beta) + ex.stick_prior_term(a, b, alpha_mean,
                                                                 alpha_log_mean, moments)


def frame_assignments(L: Tensor, mask: Tensor, phi: Tensor, a: Tensor, b: Tensor,
                      moments: ex.Moments | None = None) -> tuple[Tensor, Tensor]:
    """Optimal ζ given φ and the song sticks, and Σ_n logsumexp_t of its logits.

    ``L`` may be held in a lower precision than ``phi`` (:func:`low_precision`): the
    product is then taken in that precision and the logits in ``phi``'s. ``moments``:
    :func:`expectations.beta_log_moments` of ``a, b`` when already computed.

    Returns
    -------
    zeta : Tensor, shape (B, n, T)
        Not masked: rows of padding hold the prior ``softmax(E[log π])``; callers use
        ``mask`` where it matters (L is zero on padding, so ``ζᵀL`` needs no mask).
    lse : Tensor, shape (B,)
    """
    sticks = ex.stick_expectations(a, b, moments)[:, None, :]
    if L.dtype == phi.dtype:
        logits = torch.baddbmm(sticks, L, phi.transpose(1, 2))
    else:                                    # L held in low precision (see low_precision)
        logits = torch.bmm(L, phi.transpose(1, 2).to(L.dtype)).to(phi.dtype).add_(sticks)
    top = logits.amax(2, keepdim=True)
    # clamping at e^-80 (far below any share that matters) keeps exp off denormals,
    # which are several times slower on CPUs
    zeta = logits.sub_(top).clamp_(min=-80.0).exp_()
    total = zeta.sum(2, keepdim=True)
    zeta.div_(total)
    lse = (top + total.log()).squeeze(2)
    return zeta, (lse * mask).sum(1)


def song_sticks(zeta: Tensor, mask: Tensor, alpha_mean: Tensor) -> tuple[Tensor, Tensor]:
    """a_t = 1 + Σ_n ζ_nt, b_t = E[α0] + Σ_n Σ_{s>t} ζ_ns over real frames; (B, T − 1)."""
    counts = torch.bmm(mask[:, None, :], zeta).squeeze(1)
    tail = counts.flip(1).cumsum(1).flip(1)
    return 1.0 + counts[:, :-1], alpha_mean + tail[:, 1:]


def low_precision(L: Tensor, mask: Tensor, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """``L`` centred per frame and held in ``dtype``, and the per-frame centres.

    Subtracting each frame's largest E_q[log p(x_n | φ_k)] leaves ζ, φ and the sticks of
    the local step unchanged (a per-frame constant cancels in both softmaxes) and puts the
    values that matter near 0, where float16 and bfloat16 are finest; the local bound
    drops Σ_n c_n, which :func:`local_step` adds back.

    Returns
    -------
    centred : Tensor, shape (B, n, K), ``dtype``
        Zero on padding; clamped at −60 000 (inside float16's range).
    centres : Tensor, shape (B, n)
        Zero on padding.
    """
    centres = L.amax(2) * mask
    centred = (L - centres[..., None]).clamp_(min=-6.0e4).mul_(mask[..., None])
    return centred.to(dtype), centres


#: The signature of :func:`local_iteration`; a compiled version of it
#: (:mod:`hdpmusic.model.compiled`) is a drop-in replacement.
Iteration = Callable[..., tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]]


def local_iteration(L: Tensor, mask: Tensor, phi: Tensor, a: Tensor, b: Tensor,
                    prev: Tensor, active: Tensor, n_iter: Tensor, threshold: Tensor,
                    log_beta: Tensor, alpha_mean: Tensor, alpha_log_mean: Tensor, *,
                    last: bool = False) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor,
                                                 Tensor]:
    """One coordinate-ascent iteration of :func:`local_step` on a bucket's songs.

    A pure function of the bucket's state (no host sync, no in-place change of its
    arguments), so that ``torch.compile`` can fuse it whole. It computes ζ and each song's
    bound from the current φ and sticks, counts the iteration for the songs still active,
    stops those whose bound moved by at most ``threshold``, and (unless ``last``) updates
    the sticks and φ of the songs still active.

    Parameters
    ----------
    L, mask, log_beta, alpha_mean, alpha_log_mean
        As in :func:`local_step`.
    phi : Tensor, shape (B, T, K)
    a, b : Tensor, shape (B, T − 1)
        The song factors.
    prev : Tensor, shape (B,)
        Each song's bound at its last active iteration (−inf before the first).
    active : Tensor, shape (B,), bool
        Songs not yet converged.
    n_iter : Tensor, shape (B,), int64
        Iterations counted so far per song.
    threshold : Tensor, shape (B,)
        Smallest change of the bound that keeps a song going.
    last : bool, default=False
        The iteration cap is reached: count and assess, but leave φ and the sticks.

    Returns
    -------
    phi, a, b, prev, active, n_iter : Tensor
        The state after the iteration, shaped as given.
    """
    moments = ex.beta_log_moments(a, b)
    zeta, lse = frame_assignments(L, mask, phi, a, b, moments)
    bound = local_bound(lse, phi, a, b, log_beta, alpha_mean, alpha_log_mean, moments)
    n_iter = n_iter + active
    moved = (bound - prev).abs() > threshold
    prev = torch.where(active, bound, prev)
    active = active & moved
    if last:
        return phi, a, b, prev, active, n_iter
    a_new, b_new = song_sticks(zeta, mask, alpha_mean)
    log_phi = torch.log_softmax(_weighted_frames(zeta, L) + log_beta, dim=2)
    keep = active[:, None]
    a, b = torch.where(keep, a_new, a), torch.where(keep, b_new, b)
    phi = torch.where(keep[..., None], torch.exp(log_phi), phi)
    return phi, a, b, prev, active, n_iter


def local_step(L: Tensor, mask: Tensor, log_beta: Tensor, alpha_mean: Tensor,
               alpha_log_mean: Tensor, T: int, *, tol: float = 1e-4, max_iter: int = 100,
               check_every: int = 1, low: torch.dtype | None = None,
               iteration: Iteration = local_iteration) -> LocalState:
    """Coordinate ascent on the song-level factors of one bucket.

    Parameters
    ----------
    L : Tensor, shape (B, n, K)
        E_q[log p(x_jn | φ_k)], zero on padding.
    mask : Tensor, shape (B, n)
        1 for real frames, 0 for padding.
    log_beta : Tensor, shape (K,)
        E[log β_k].
    alpha_mean, alpha_log_mean : Tensor, shape ()
        E[α0] and E[log α0].
    T : int
        Song truncation.
    tol : float
        Change of a song's bound per frame (nats) below which it stops; ``tol <= 0``
        runs every song to ``max_iter``.
    max_iter : int
        Cap on iterations.
    check_every : int
        Iterations between the host's checks of convergence, which end the loop once
        every song has stopped and drop converged songs when at most half remain
        (default 1). Each check is a device-to-host sync; between checks, iterations run
        on songs that have all stopped are wasted (their results stay frozen), which
        costs far more than a sync.
    low : torch.dtype, optional
        Hold ``L`` in this precision (``torch.float16`` or ``torch.bfloat16``) during the
        iterations (:func:`low_precision`): half the memory traffic of the two products
        that dominate them; φ, ζ, the sticks and the bound stay in ``L``'s dtype.
    iteration : callable, default=local_iteration
        Runs every iteration but the one at ``max_iter`` (which runs
        :func:`local_iteration`): :func:`local_iteration` itself, or a compiled version of
        it (:func:`hdpmusic.model.compiled.compiled_iteration`).

    Returns
    -------
    LocalState
    """
    B = L.shape[0]
    dev = L.device
    phi = initial_phi(L, mask, log_beta, T)
    centres = None
    if low is not None:
        L, centres = low_precision(L, mask, low)
    a = torch.ones(B, T - 1, dtype=phi.dtype, device=dev)
    b = alpha_mean * torch.ones_like(a)
    out = LocalState(phi=phi.clone(), a=a.clone(), b=b.clone(),
                     bound=torch.zeros(B, dtype=phi.dtype, device=dev),
                     n_iter=torch.zeros(B, dtype=torch.int64, device=dev))
    rows = torch.arange(B, device=dev)
    prev = torch.full((B,), -torch.inf, dtype=phi.dtype, device=dev)
    active = torch.ones(B, dtype=torch.bool, device=dev)
    n_iter = torch.zeros(B, dtype=torch.int64, device=dev)
    # a song goes on while its bound moves by more than this (never below 0: tol <= 0)
    threshold = tol * mask.sum(1) if tol > 0 else torch.full_like(prev, -1.0)

    for it in range(1, max_iter + 1):
        last = it == max_iter
        phi, a, b, prev, active, n_iter = (local_iteration if last else iteration)(
            L, mask, phi, a, b, prev, active, n_iter, threshold, log_beta, alpha_mean,
            alpha_log_mean, last=last)
        if last:
            break
        if it % check_every == 0:
            n_active = int(active.sum())
            if n_active == 0:
                break
            if n_active <= rows.numel() // 2:
                _write_back(out, rows, phi, a, b, prev, n_iter)
                sel = active.nonzero().squeeze(1)
                rows, L, mask, phi, a, b = rows[sel], L[sel], mask[sel], phi[sel], a[sel], b[sel]
                prev, active, n_iter = prev[sel], active[sel], n_iter[sel]
                threshold = threshold[sel]
    _write_back(out, rows, phi, a, b, prev, n_iter)
    if centres is not None:
        out.bound += centres.sum(1).to(out.bound.dtype)
    return out


def _weighted_frames(zeta: Tensor, L: Tensor) -> Tensor:
    """ζᵀL per song, shape (B, T, K), in ``zeta``'s dtype (L may be held lower)."""
    if L.dtype == zeta.dtype:
        return torch.bmm(zeta.transpose(1, 2), L)
    return torch.bmm(zeta.transpose(1, 2).to(L.dtype), L).to(zeta.dtype)


def _write_back(out: LocalState, rows: Tensor, phi: Tensor, a: Tensor, b: Tensor,
                bound: Tensor, n_iter: Tensor) -> None:
    out.phi[rows], out.a[rows], out.b[rows] = phi, a, b
    out.bound[rows], out.n_iter[rows] = bound, n_iter


@dataclass
class LocalParams:
    """What the local step needs from the globals, in the compute dtype and device.

    Attributes
    ----------
    coef : Tensor, shape (d(d + 1)/2 + d + 1, K)
        :func:`expectations.expected_loglik_coefficients`.
    log_beta : Tensor, shape (K,)
    alpha_mean, alpha_log_mean : Tensor, shape ()
    T, tol, max_iter, check_every, low, iteration
        As in :func:`local_step`.
    exact : (Tensor, Tensor) or None
        Columns of ``coef`` computed in float64 (:func:`exact_columns`).
    max_padding, min_frames, max_frames
        The length buckets of a batch (:func:`plan_buckets`).
    """

    coef: Tensor
    log_beta: Tensor
    alpha_mean: Tensor
    alpha_log_mean: Tensor
    T: int
    tol: float = 1e-3
    max_iter: int = 100
    check_every: int = 1
    exact: tuple[Tensor, Tensor] | None = None
    low: torch.dtype | None = None
    iteration: Iteration = local_iteration
    max_padding: float = 0.1
    min_frames: int = 0
    max_frames: int = 1 << 20

    def buckets(self, lengths: np.ndarray) -> list[np.ndarray]:
        """:func:`plan_buckets` of a batch's song lengths (B,) with these settings."""
        return plan_buckets(lengths, max_padding=self.max_padding, min_frames=self.min_frames,
                            max_frames=self.max_frames)

    def loglik(self, x: Tensor, **kwargs) -> Tensor:
        """E_q[log p(x_n | φ_k)] of frames (n, d), shape (n, K)."""
        return expected_loglik(x, self.coef, exact=self.exact, **kwargs)


@dataclass
class SongBucket:
    """One length bucket of a packed batch after its local step: what a song summary reads.

    Attributes
    ----------
    frames : Tensor, shape (b, n, d)
        The bucket's (whitened) frames, zero-padded to its widest song.
    mask : Tensor, shape (b, n)
        1 for real frames, 0 for padding.
    resp : Tensor, shape (b, n, K)
        Frame responsibilities r_jnk = Σ_t ζ_jnt φ_jtk, zero on padding.
    loglik : Tensor, shape (b, n, K)
        E_q[log p(x_jn | φ_k)], zero on padding.
    lengths : Tensor, shape (b,)
        Real frames per song.
    """

    frames: Tensor
    mask: Tensor
    resp: Tensor
    loglik: Tensor
    lengths: Tensor


SongSummary = Callable[[SongBucket], Tensor]
"""A song-level output of the local step: ``SongBucket → Tensor (b, D)``, one row per song
of the bucket, D fixed by the summary."""


def mean_responsibility(bucket: SongBucket) -> Tensor:
    """Frame-average of r_jnk per song, shape (b, K)."""
    return bucket.resp.sum(1) / bucket.lengths[:, None].to(bucket.resp.dtype)


def expected_loglik_shares(bucket: SongBucket) -> Tensor:
    """ỹ_jk = Σ_n r_jnk E_q[log p(x_jn | φ_k)] per song, shape (b, K)."""
    return (bucket.resp * bucket.loglik).sum(1)


@dataclass
class BatchResult:
    """What one pass of the local step over a packed batch yields.

    Attributes
    ----------
    stats : Stats or None
        Unscaled mini-batch statistics (responsibilities splashed by ``eta``), with the
        songs' local entropy terms.
    bound : Tensor, shape (), float64
        Σ over songs of the local ELBO.
    n_iter : Tensor, shape (B,)
        Local iterations per song, in batch order.
    songs : dict of str to Tensor (B, D)
        Each requested song summary, one row per song in batch order.
    merge_gaps : Tensor or None, shape (P,), float64
        For each candidate pair (a, b), the loss of slot-assignment entropy if b were
        merged into a: ``Σ_jt [g(φ_jta + φ_jtb) − g(φ_jta) − g(φ_jtb)]``, g(x) = x log x.
    padded_frames : int
        Frames processed including padding.
    """

    stats: Stats | None
    bound: Tensor
    n_iter: Tensor
    songs: dict[str, Tensor]
    merge_gaps: Tensor | None
    padded_frames: int


def song_entropy(zeta: Tensor, mask: Tensor, phi: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """The songs' local entropy terms of the ELBO, summed, float64 shape ().

    ``Σ_j [H q(z_j) + E log p(z_j | π_j) + H q(c_j) + Σ_t (H q(π'_jt) − E log(1 − π'_jt))]``
    (the rest of each song's bound is linear in the statistics; see
    :mod:`hdpmusic.model.objective`).

    Parameters
    ----------
    zeta : Tensor, shape (B, n, T)
    mask : Tensor, shape (B, n)
    phi : Tensor, shape (B, T, K)
    a, b : Tensor, shape (B, T - 1)
    """
    z = zeta * mask[..., None]
    counts = z.sum(1)
    moments = ex.beta_log_moments(a, b)
    h_z = (-torch.special.xlogy(z, z).sum((1, 2))
           + (counts * ex.stick_expectations(a, b, moments)).sum(1))
    h_c = -torch.special.xlogy(phi, phi).sum((1, 2))
    h_pi = (ex.beta_entropy(a, b, moments) - moments[1]).sum(1)
    return (h_z + h_c + h_pi).double().sum()


def merge_gaps(phi: Tensor, pairs: Tensor) -> Tensor:
    """Σ_jt [g(φ_a + φ_b) − g(φ_a) − g(φ_b)] per pair (a, b), g(x) = x log x; (P,) float64.

    Parameters
    ----------
    phi : Tensor, shape (B, T, K)
    pairs : Tensor, shape (P, 2), int64
    """
    pa, pb = phi[..., pairs[:, 0]], phi[..., pairs[:, 1]]
    g = torch.special.xlogy
    return (g(pa + pb, pa + pb) - g(pa, pa) - g(pb, pb)).double().sum((0, 1))


def infer_batch(frames: Tensor, lengths: np.ndarray, lp: LocalParams, *, eta: float = 0.0,
                statistics: bool = True, summaries: Mapping[str, SongSummary] | None = None,
                pairs: Tensor | None = None) -> BatchResult:
    """Run the local step on every song of a packed batch.

    Parameters
    ----------
    frames : Tensor, shape (n, d)
        The batch's frames, songs concatenated, on the compute device and dtype.
    lengths : np.ndarray, shape (B,), int
        Frames per song (host copy of the batch offsets' differences).
    lp : LocalParams
        The globals and the local step's settings, its length buckets included.
    eta : float
        Splash weight η_t: statistics use ``(1 − η) r + η/K`` (Eq. 21, uniform e).
    statistics : bool
        Compute the batch's sufficient statistics.
    summaries : mapping of str to SongSummary, optional
        Song-level outputs to compute from each bucket (e.g. :func:`mean_responsibility`),
        returned under the same names in :attr:`BatchResult.songs`.
    pairs : Tensor, shape (P, 2), optional
        Candidate merge pairs whose entropy gaps to track.

    Returns
    -------
    BatchResult
    """
    dev = frames.device
    B, (K, d) = len(lengths), (lp.coef.shape[1], frames.shape[1])
    starts_np = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    stats = Stats.zeros(K, d, device=dev) if statistics else None
    bound = torch.zeros((), dtype=torch.float64, device=dev)
    n_iter = torch.zeros(B, dtype=torch.int64, device=dev)
    summaries = dict(summaries or {})
    outputs: dict[str, Tensor] = {}
    gaps = None if pairs is None else torch.zeros(len(pairs), dtype=torch.float64, device=dev)
    padded = 0
    for songs in lp.buckets(lengths):
        width = int(lengths[songs[0]])
        padded += width * len(songs)
        idx = torch.as_tensor(songs, device=dev)
        lens = torch.as_tensor(lengths[songs], device=dev)
        X, mask = gather_padded(frames, torch.as_tensor(starts_np[songs], device=dev), lens, width)
        L = lp.loglik(X.reshape(-1, d)).reshape(len(songs), width, K)
        L.mul_(mask[..., None])
        state = local_step(L, mask, lp.log_beta, lp.alpha_mean, lp.alpha_log_mean, lp.T,
                           tol=lp.tol, max_iter=lp.max_iter, check_every=lp.check_every,
                           low=lp.low, iteration=lp.iteration)
        n_iter[idx] = state.n_iter
        zeta, lse = frame_assignments(L, mask, state.phi, state.a, state.b)
        if lp.low is not None:      # the bound of the converged factors, in full precision
            state.bound = local_bound(lse, state.phi, state.a, state.b, lp.log_beta,
                                      lp.alpha_mean, lp.alpha_log_mean)
        bound += state.bound.double().sum()
        zeta.mul_(mask[..., None])
        entropy = song_entropy(zeta, mask, state.phi, state.a, state.b) if statistics else None
        r = torch.bmm(zeta, state.phi)
        del zeta
        bucket = SongBucket(X, mask, r, L, lens)
        for name, summary in summaries.items():
            rows = summary(bucket)
            if name not in outputs:
                outputs[name] = torch.zeros(B, rows.shape[1], dtype=rows.dtype, device=dev)
            outputs[name][idx] = rows
        del L, bucket
        if gaps is not None:
            gaps += merge_gaps(state.phi, pairs)
        if stats is not None:
            x = X.reshape(-1, d)
            N, S1, S2 = frame_statistics(r.reshape(-1, K), x)
            usage = N
            if eta > 0.0:   # splash (1 − η) r + η/K is linear: mix in the frame totals
                n, sx, sxx = frame_statistics(mask.reshape(-1, 1), x)
                N = (1.0 - eta) * N + (eta / K) * n
                S1 = (1.0 - eta) * S1 + (eta / K) * sx
                S2 = (1.0 - eta) * S2 + (eta / K) * sxx
            alpha = ex.expected_log_1m(state.a, state.b).double().sum()
            stats = stats + Stats.from_counts(N, S1, S2, slot_counts(state.phi), alpha, usage,
                                              entropy)
    return BatchResult(stats, bound, n_iter, outputs, gaps, padded)


def simplex_splash(stats: Stats, frames: Tensor, eta: float, seed: int) -> Stats:
    """The study's splash: frame statistics mixed with those of a random point e of the
    K-simplex per frame, ``(1 − η)·stats + η·stats(e)`` (the uniform splash, e = 1/K, is
    :func:`infer_batch`'s ``eta``).

    Parameters
    ----------
    stats : Stats
        The batch's statistics (K components).
    frames : Tensor, shape (n, d)
        The batch's frames.
    eta : float
        Splash weight η_t.
    seed : int
        Seed of the draws of e (made on the CPU, so the same on every device).

    Returns
    -------
    Stats
        ``stats`` with N, S1 and S2 mixed.
    """
    gen = torch.Generator(device="cpu").manual_seed(seed)
    e = torch.rand(frames.shape[0], stats.N.shape[0], generator=gen, dtype=frames.dtype)
    e = (e / e.sum(1, keepdim=True)).to(frames.device)
    N, S1, S2 = frame_statistics(e, frames)
    return replace(stats, N=(1 - eta) * stats.N + eta * N,
                   S1=(1 - eta) * stats.S1 + eta * S1, S2=(1 - eta) * stats.S2 + eta * S2)


def frame_averages(x: Tensor, lengths: np.ndarray, lp: LocalParams) -> Tensor:
    """Per-song frame average of ``softmax_k E_q[log p(x|φ_k)]``, summed one Φ chunk at a
    time so memory holds one chunk, not the batch's (n, K).

    Parameters
    ----------
    x : Tensor, shape (n, d)
        A packed batch, songs concatenated.
    lengths : np.ndarray, shape (B,)
    lp : LocalParams

    Returns
    -------
    Tensor, shape (B, K)
    """
    song = song_index(lengths, x.device, total=x.shape[0])
    Y = torch.zeros(len(lengths), lp.coef.shape[1], dtype=x.dtype, device=x.device)
    step = ex.feature_chunk_rows(x.device)
    for lo in range(0, x.shape[0], step):
        Y.index_add_(0, song[lo:lo + step], torch.softmax(lp.loglik(x[lo:lo + step]), dim=1))
    return Y / torch.as_tensor(lengths, dtype=x.dtype, device=x.device)[:, None]
