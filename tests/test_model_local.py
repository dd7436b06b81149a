"""The song-level step against a plain per-song NumPy implementation, and its invariants."""

import numpy as np
import pytest
import torch
from scipy.special import digamma, gammaln, logsumexp, softmax

from hdpmusic.model import expectations as ex
from hdpmusic.model.fisher import FisherEncoder
from hdpmusic.model.kinds import KINDS
from hdpmusic.model.local import (
    LocalParams,
    exact_columns,
    expected_loglik,
    expected_loglik_shares,
    frame_assignments,
    gather_padded,
    infer_batch,
    initial_phi,
    local_bound,
    local_step,
    mean_responsibility,
    merge_gaps,
    min_bucket_frames,
    plan_buckets,
    song_entropy,
)
from hdpmusic.model.sufficient import Stats, frame_statistics, slot_counts

RNG = np.random.default_rng(1)


def t64(a):
    return torch.as_tensor(np.asarray(a), dtype=torch.float64)


def naive_song(L, log_beta, alpha, T, n_iter):
    """Wang et al. (2011) Eqs. 10-13 for one song with loops, in NumPy.

    Returns phi (T, K), a, b (T-1,), and the bound after the last zeta update.
    """
    K = L.shape[1]
    mass = softmax(L + log_beta, axis=1).sum(0)
    top = np.argsort(-mass, kind="stable")[:T]
    phi = np.zeros((T, K))
    phi[np.arange(T), top] = 1.0
    a, b = np.ones(T - 1), np.full(T - 1, alpha)
    for it in range(n_iter):
        elog = digamma(a) - digamma(a + b)
        elog1m = digamma(b) - digamma(a + b)
        elog_pi = np.append(elog, 0.0) + np.concatenate([[0.0], np.cumsum(elog1m)])
        s = L @ phi.T + elog_pi
        zeta = softmax(s, axis=1)
        bound = (np.sum(zeta * (s - np.log(zeta)))
                 + np.sum(phi * log_beta) - np.sum(phi[phi > 0] * np.log(phi[phi > 0]))
                 + np.sum(np.log(alpha) + (alpha - 1) * elog1m)
                 + np.sum(gammaln(a) + gammaln(b) - gammaln(a + b) - (a - 1) * digamma(a)
                          - (b - 1) * digamma(b) + (a + b - 2) * digamma(a + b)))
        if it == n_iter - 1:
            return phi, a, b, bound
        counts = zeta.sum(0)
        a = 1 + counts[:-1]
        b = alpha + np.array([counts[t + 1:].sum() for t in range(T - 1)])
        phi = softmax(zeta.T @ L + log_beta, axis=1)
    raise AssertionError


def random_bucket(B=5, n=40, K=12, seed=0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(n // 2, n + 1, B)
    lengths[0] = n
    L = rng.normal(size=(B, n, K)) * 3.0
    mask = (np.arange(n)[None] < lengths[:, None]).astype(float)
    L *= mask[..., None]  # local_step expects E[log p] zeroed on padding
    log_beta = np.log(rng.dirichlet(np.ones(K)))
    return L, mask, log_beta, lengths


@pytest.mark.parametrize("n_iter", [1, 2, 7])
def test_local_step_equals_naive_per_song(n_iter):
    L, mask, log_beta, lengths = random_bucket()
    T, alpha = 4, 1.3
    state = local_step(t64(L), t64(mask), t64(log_beta), t64(alpha), t64(np.log(alpha)), T,
                       tol=0.0, max_iter=n_iter)
    for j, n in enumerate(lengths):
        phi, a, b, bound = naive_song(L[j, :n], log_beta, alpha, T, n_iter)
        np.testing.assert_allclose(state.phi[j].numpy(), phi, atol=1e-9)
        np.testing.assert_allclose(state.a[j].numpy(), a, rtol=1e-9)
        np.testing.assert_allclose(state.b[j].numpy(), b, rtol=1e-9)
        assert float(state.bound[j]) == pytest.approx(bound, rel=1e-10)
        assert int(state.n_iter[j]) == n_iter


def test_local_bound_never_decreases_with_iterations():
    L, mask, log_beta, _ = random_bucket(B=6, seed=3)
    bounds = [local_step(t64(L), t64(mask), t64(log_beta), t64(1.0), t64(0.0), 5, tol=0.0,
                         max_iter=k).bound.numpy() for k in range(1, 15)]
    steps = np.diff(np.stack(bounds), axis=0)
    assert (steps >= -1e-9 * np.abs(np.stack(bounds)[1:])).all()
    assert (steps.sum(0) > 0).all()


def test_per_song_stopping_is_independent_of_the_batch():
    """Vectorised, with freezing and compaction, each song stops exactly as it would alone."""
    L, mask, log_beta, lengths = random_bucket(B=8, n=60, K=10, seed=5)
    args = (t64(log_beta), t64(0.8), t64(np.log(0.8)), 6)
    together = local_step(t64(L), t64(mask), *args, tol=1e-6, max_iter=200, check_every=3)
    iters = together.n_iter.numpy()
    assert len(set(iters.tolist())) > 1, "songs should need different iteration counts"
    for j in range(len(lengths)):
        alone = local_step(t64(L[j:j + 1]), t64(mask[j:j + 1]), *args, tol=1e-6, max_iter=200,
                           check_every=3)
        assert int(alone.n_iter[0]) == iters[j]
        np.testing.assert_allclose(alone.phi[0].numpy(), together.phi[j].numpy(), atol=1e-12)
        assert float(alone.bound[0]) == pytest.approx(float(together.bound[j]), rel=1e-12)


def test_iteration_cap_is_honoured():
    L, mask, log_beta, _ = random_bucket(seed=7)
    state = local_step(t64(L), t64(mask), t64(log_beta), t64(1.0), t64(0.0), 4, tol=0.0,
                       max_iter=5)
    assert (state.n_iter.numpy() == 5).all()


@pytest.mark.parametrize("check_every", [None, 4])
def test_a_bucket_ends_at_the_first_check_after_its_last_song_stops(monkeypatch, check_every):
    """No iteration is run once every song has stopped, beyond the checks' spacing: with
    a check after every iteration (the default) the loop runs exactly as many iterations
    as its slowest song needs; the songs' results do not depend on the spacing."""
    calls = []
    monkeypatch.setattr("hdpmusic.model.local.frame_assignments",
                        lambda *a: calls.append(1) or frame_assignments(*a))
    L, mask, log_beta, _ = random_bucket(B=6, n=50, K=8, seed=5)   # slowest song: 19
    args = (t64(L), t64(mask), t64(log_beta), t64(0.8), t64(np.log(0.8)), 5)
    spacing = {} if check_every is None else {"check_every": check_every}
    state = local_step(*args, tol=1e-6, max_iter=200, **spacing)
    slowest, every = int(state.n_iter.max()), check_every or 1
    assert 2 < slowest < 200 and slowest % 4
    assert len(calls) == -(-slowest // every) * every
    reference = local_step(*args, tol=1e-6, max_iter=200, check_every=7)
    np.testing.assert_array_equal(state.n_iter.numpy(), reference.n_iter.numpy())
    np.testing.assert_allclose(state.phi.numpy(), reference.phi.numpy(), atol=1e-12)


def test_initial_phi_puts_slots_on_most_used_components():
    L, mask, log_beta, _ = random_bucket(B=3, K=6, seed=9)
    phi = initial_phi(t64(L), t64(mask), t64(log_beta), T=8).numpy()
    mass = (softmax(L + log_beta, axis=2) * mask[..., None]).sum(1)
    for j in range(3):
        np.testing.assert_array_equal(phi[j, :6].argmax(1), np.argsort(-mass[j], kind="stable"))
    np.testing.assert_allclose(phi[:, 6:], 1 / 6)


def test_plan_buckets_bounds_padding_and_memory():
    lengths = RNG.integers(1, 3000, size=500)
    buckets = plan_buckets(lengths, max_padding=0.1, max_frames=50_000)
    flat = np.concatenate(buckets)
    np.testing.assert_array_equal(np.sort(flat), np.arange(500))
    padded = sum(lengths[b].max() * len(b) for b in buckets)
    assert 1 - lengths.sum() / padded <= 0.1
    assert all(lengths[b].max() * len(b) <= 50_000 or len(b) == 1 for b in buckets)


def test_plan_buckets_msd_shape_has_two_buckets():
    lengths = np.array([1292] * 70 + [2584] * 30 + [1290, 2590])
    assert len(plan_buckets(lengths)) == 2


def test_plan_buckets_fills_small_buckets_whatever_their_padding():
    """Below ``min_frames`` a bucket takes the next song however short; beyond it the
    padding rule applies again; ``max_frames`` bounds it all."""
    lengths = RNG.integers(100, 300, size=300)
    buckets = plan_buckets(lengths, max_padding=0.1, min_frames=30_000, max_frames=40_000)
    np.testing.assert_array_equal(np.sort(np.concatenate(buckets)), np.arange(300))
    for b in buckets[:-1]:
        top, padded = lengths[b].max(), lengths[b].max() * len(b)
        assert padded <= 40_000
        short = lengths[b].min() < 0.9 * top
        assert not short or padded <= 30_000, "padding beyond the threshold only below it"
        assert padded + top > 30_000, "a bucket stops filling only at the threshold"
    assert len(buckets) < len(plan_buckets(lengths, max_padding=0.1)) / 3
    assert len(plan_buckets(lengths, min_frames=1 << 20)) == 1
    capped = plan_buckets(lengths, min_frames=1 << 20, max_frames=10_000)
    assert all(lengths[b].max() * len(b) <= 10_000 for b in capped)


def test_min_bucket_frames_by_device():
    assert min_bucket_frames(torch.device("cpu"), 256) == 0
    assert min_bucket_frames(torch.device("meta"), 256) == 262_144
    assert min_bucket_frames(torch.device("meta"), 100) == -(-(1 << 26) // 100)


def test_gather_padded():
    frames = torch.arange(20.0).reshape(10, 2)
    X, mask = gather_padded(frames, torch.tensor([0, 3, 7]), torch.tensor([3, 4, 3]), 4)
    assert X.shape == (3, 4, 2)
    np.testing.assert_array_equal(X[1].numpy(), frames[3:7].numpy())
    np.testing.assert_array_equal(X[0, 3].numpy(), [0, 0])
    np.testing.assert_array_equal(mask.numpy().sum(1), [3, 4, 3])


def test_frame_statistics_match_numpy():
    n, K, d = 300, 5, 4
    R, x = RNG.random((n, K)), RNG.normal(size=(n, d))
    N, S1, S2 = frame_statistics(torch.as_tensor(R, dtype=torch.float32),
                                 torch.as_tensor(x, dtype=torch.float32), chunk_rows=64)
    assert N.dtype == torch.float64
    np.testing.assert_allclose(N.numpy(), R.sum(0), rtol=1e-5)
    np.testing.assert_allclose(S1.numpy(), R.T @ x, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(S2.numpy(), np.einsum("nk,ni,nj->kij", R, x, x), rtol=1e-4,
                               atol=1e-4)


def test_slot_counts_and_stick_statistics():
    phi = RNG.dirichlet(np.ones(6), size=(3, 4))
    counts = phi.sum((0, 1))
    z = Stats.zeros(6, 2)
    stats = Stats.from_counts(z.N, z.S1, z.S2, slot_counts(t64(phi)), z.alpha, z.usage,
                              z.entropy)
    np.testing.assert_allclose(stats.counts.numpy(), counts)
    np.testing.assert_allclose(stats.su.numpy(), counts[:-1])
    np.testing.assert_allclose(stats.sv.numpy(), [counts[k + 1:].sum() for k in range(5)])


def test_per_frame_tolerance_stops_long_and_short_songs_alike():
    """The stopping rule is |Δ bound| ≤ tol · n_j: a song of twice the frames (the same
    frames repeated) stops at the same iteration, though its bound's change is doubled."""
    L, mask, log_beta, _ = random_bucket(B=1, n=30, K=8, seed=4)
    args = (t64(log_beta), t64(1.0), t64(0.0), 5)
    short = local_step(t64(L), t64(mask), *args, tol=1e-3, max_iter=300, check_every=1)
    double = local_step(t64(np.concatenate([L, L], 1)), t64(np.concatenate([mask, mask], 1)),
                        *args, tol=1e-3, max_iter=300, check_every=1)
    assert 1 < int(short.n_iter[0]) < 300
    assert int(double.n_iter[0]) == pytest.approx(int(short.n_iter[0]), abs=1)


def test_song_entropy_and_merge_gaps_against_definitions():
    rng = np.random.default_rng(8)
    B, n, T, K = 3, 7, 4, 5
    zeta = rng.dirichlet(np.ones(T), size=(B, n))
    mask = np.ones((B, n))
    mask[1, 5:] = 0
    phi = rng.dirichlet(np.ones(K), size=(B, T))
    a, b = rng.uniform(0.5, 3, (B, T - 1)), rng.uniform(0.5, 3, (B, T - 1))
    z = zeta * mask[..., None]
    elog_pi = np.stack([np.append(digamma(a[j]) - digamma(a[j] + b[j]), 0)
                        + np.concatenate([[0], np.cumsum(digamma(b[j]) - digamma(a[j] + b[j]))])
                        for j in range(B)])
    from scipy.stats import beta as beta_dist
    want = (-np.sum(z[z > 0] * np.log(z[z > 0])) + np.sum(z.sum(1) * elog_pi)
            - np.sum(phi * np.log(phi)) + np.sum(beta_dist(a, b).entropy())
            - np.sum(digamma(b) - digamma(a + b)))
    got = song_entropy(t64(zeta), t64(mask), t64(phi), t64(a), t64(b))
    assert float(got) == pytest.approx(want, rel=1e-12)
    pairs = torch.tensor([[0, 3], [1, 2]])
    gaps = merge_gaps(t64(phi), pairs).numpy()
    for p, (i, j) in enumerate(pairs.tolist()):
        together = (phi[..., i] + phi[..., j])[..., None]
        merged = np.concatenate([np.delete(phi, [i, j], 2), together], 2)
        h_before = -np.sum(phi * np.log(phi))
        h_after = -np.sum(merged * np.log(merged))
        assert gaps[p] == pytest.approx(h_before - h_after, rel=1e-12)
        assert gaps[p] > 0


def test_far_tight_component_keeps_float64_accuracy_in_float32():
    """Digital silence: a component 20 SD from the whitened origin with spread 0.03. The
    expanded quadratic form loses precision in float32; its column is recomputed in
    float64, the others stay float32 GEMM output."""
    rng = np.random.default_rng(0)
    d, K = 52, 3
    m = np.zeros((K, d))
    m[0] = rng.normal(size=d)
    m[0] *= 20.0 / np.linalg.norm(m[0])
    W = np.stack([np.eye(d) / 0.03**2, np.eye(d), np.eye(d) / 2])
    nu = np.array([1e6, 1e4, 1e4])
    lam = nu.copy()
    W = W / nu[:, None, None]    # E[Λ] = ν W
    logdet = np.linalg.slogdet(W)[1]
    coef = ex.expected_loglik_coefficients(t64(lam), t64(m), t64(W), t64(logdet), t64(nu))
    x = torch.as_tensor(m[0] + 0.03 * rng.normal(size=(1500, d)), dtype=torch.float32)
    exact = expected_loglik(x.double(), coef).numpy()
    plain = expected_loglik(x, coef.float()).numpy()
    cols = exact_columns(coef, t64(m), t64(W), t64(nu), torch.float32)
    fixed = expected_loglik(x, coef.float(), exact=cols).numpy()
    assert cols[0].tolist() == [0]
    assert np.abs(plain[:, 0] - exact[:, 0]).max() > 1e-2          # the failure is real
    np.testing.assert_allclose(fixed[:, 0], exact[:, 0], atol=1e-4)
    np.testing.assert_allclose(fixed[:, 1:], exact[:, 1:], rtol=1e-5)
    assert exact_columns(coef, t64(m), t64(W), t64(nu), torch.float64) is None


def test_far_tight_cluster_statistics_give_a_positive_definite_scale():
    """Second moments of the far, tight cluster from float32 frames: accumulated in float64,
    the scatter about the mean matches NumPy's float64 one (float32 sums cancelled it)."""
    from hdpmusic.model.sufficient import Prior, normal_wishart_posterior

    rng = np.random.default_rng(1)
    d = 52
    centre = rng.normal(size=d)
    centre *= 20.0 / np.linalg.norm(centre)
    x = (centre + 0.03 * rng.normal(size=(1500, d))).astype(np.float32)
    R = torch.ones(len(x), 1) * 208.0
    N, S1, S2 = frame_statistics(R, torch.as_tensor(x))
    xd = x.astype(np.float64)
    scatter = 208.0 * (xd - xd.mean(0)).T @ (xd - xd.mean(0))
    got = S2[0].numpy() - np.outer(S1[0].numpy(), S1[0].numpy()) / N[0].item()
    np.testing.assert_allclose(got, scatter, rtol=1e-6, atol=1e-6 * np.abs(scatter).max())
    stats = Stats.zeros(1, d)
    stats.N, stats.S1, stats.S2 = N, S1, S2
    prior = Prior(m0=torch.zeros(d, dtype=torch.float64),
                  W0_inv=torch.eye(d, dtype=torch.float64) * 1e-6, lam0=1e-6, nu0=d + 2.0)
    with np.errstate(all="raise"):
        nw = normal_wishart_posterior(stats, prior)
    assert torch.isfinite(nw.logdet_W).all()


def test_bound_uses_lse_identity():
    """Σ_t ζ(s − log ζ) at the optimum equals logsumexp_t s (what the step relies on)."""
    s = RNG.normal(size=(50, 7))
    zeta = softmax(s, axis=1)
    np.testing.assert_allclose((zeta * (s - np.log(zeta))).sum(1), logsumexp(s, axis=1))
    assert ex.stick_expectations(t64([1.0]), t64([1.0])).shape == (2,)


@pytest.mark.parametrize("buckets", [{"max_padding": 0.0}, {"min_frames": 100}],
                         ids=["unpadded", "one-padded-bucket"])
def test_splashed_statistics_equal_statistics_of_splashed_responsibilities(buckets):
    """(1 − η) r + η/K on real frames, computed through the linearity of the statistics;
    the same whether songs run in buckets of their own length or padded together."""
    from hdpmusic.model.local import LocalParams, infer_batch

    rng = np.random.default_rng(11)
    K, d, T, eta = 6, 3, 3, 0.2
    lengths = np.array([9, 7, 9, 4])
    frames = torch.as_tensor(rng.normal(size=(lengths.sum(), d)))
    A = rng.normal(size=(K, d, d))
    coef = ex.expected_loglik_coefficients(
        t64(rng.uniform(1, 5, K)), t64(rng.normal(size=(K, d))),
        t64((A @ A.transpose(0, 2, 1) + np.eye(d)) / 10), t64(rng.normal(size=K)),
        t64(np.full(K, d + 3.0)))
    lp = LocalParams(coef, t64(np.log(rng.dirichlet(np.ones(K)))), t64(1.0), t64(0.0), T,
                     tol=0.0, max_iter=4, **buckets)
    assert len(lp.buckets(lengths)) == (3 if "max_padding" in buckets else 1)
    got = infer_batch(frames, lengths, lp, eta=eta).stats
    # independent: run each song alone, splash its responsibilities explicitly
    N = np.zeros(K)
    S1 = np.zeros((K, d))
    S2 = np.zeros((K, d, d))
    usage = np.zeros(K)
    start = 0
    for n in lengths:
        x = frames[start:start + n]
        L = (ex.quadratic_features(x) @ coef)[None]
        state = local_step(L, torch.ones(1, n, dtype=torch.float64), lp.log_beta,
                           lp.alpha_mean, lp.alpha_log_mean, T, tol=0.0, max_iter=4)
        zeta, _ = frame_assignments(L, torch.ones(1, n, dtype=torch.float64), state.phi,
                                    state.a, state.b)
        r = (zeta @ state.phi)[0].numpy()
        usage += r.sum(0)
        rs = (1 - eta) * r + eta / K
        xn = x.numpy()
        N += rs.sum(0)
        S1 += rs.T @ xn
        S2 += np.einsum("nk,ni,nj->kij", rs, xn, xn)
        start += n
    np.testing.assert_allclose(got.N.numpy(), N, rtol=1e-9)
    np.testing.assert_allclose(got.S1.numpy(), S1, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(got.S2.numpy(), S2, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(got.usage.numpy(), usage, rtol=1e-9)


def test_batch_step_keeps_every_tensor_on_the_compute_device():
    """A whole batch step on PyTorch's ``meta`` device (shapes only, no data): any tensor
    made on the CPU and mixed in, which CPU-only tests cannot see but CUDA would reject,
    raises here. As many iterations as ``check_every``: the local step has no host sync."""
    meta, K, d, T = torch.device("meta"), 12, 3, 4
    lengths = np.array([40, 37, 21, 40, 8])
    lp = LocalParams(coef=torch.zeros(ex.n_quadratic_features(d), K, device=meta),
                     log_beta=torch.zeros(K, device=meta),
                     alpha_mean=torch.ones((), device=meta),
                     alpha_log_mean=torch.zeros((), device=meta), T=T, max_iter=5,
                     check_every=5, max_padding=0.0)
    frames = torch.zeros(int(lengths.sum()), d, device=meta)
    fisher = FisherEncoder(torch.arange(3, device=meta), torch.zeros(3, d, d, device=meta),
                           torch.zeros(3, d, device=meta), torch.ones(3, device=meta))
    out = infer_batch(frames, lengths, lp, eta=0.1,
                      summaries={"r": mean_responsibility, "y": expected_loglik_shares,
                                 "fisher": fisher})
    assert out.padded_frames == lengths.sum()
    tensors = [out.bound, out.n_iter, *out.songs.values(), out.stats.N, out.stats.S2,
               out.stats.counts, out.stats.alpha, out.stats.entropy]
    assert all(t.device == meta for t in tensors)
    assert out.songs["r"].shape == out.songs["y"].shape == (5, K)
    assert out.songs["fisher"].shape == (5, 3 * (1 + 2 * d)) and out.stats.S2.shape[0] == K


def test_centring_per_frame_leaves_the_local_step_unchanged_but_its_bound():
    """The closed form behind low precision: a per-frame constant c_n added to every
    E_q[log p(x_n|φ_k)] cancels in ζ and φ and shifts the bound by Σ_n c_n (checked in
    float64, where nothing is rounded)."""
    L, mask, log_beta, _ = random_bucket(B=4, seed=5)
    shift = RNG.normal(size=L.shape[:2]) * 50.0 * mask
    args = (t64(log_beta), t64(1.2), t64(np.log(1.2)), 5)
    plain = local_step(t64(L), t64(mask), *args, tol=0.0, max_iter=12)
    moved = local_step(t64(L + shift[..., None]), t64(mask), *args, tol=0.0, max_iter=12)
    np.testing.assert_allclose(moved.phi.numpy(), plain.phi.numpy(), atol=1e-9)
    np.testing.assert_allclose(moved.a.numpy(), plain.a.numpy(), rtol=1e-9)
    np.testing.assert_allclose(moved.bound.numpy() - plain.bound.numpy(), shift.sum(1),
                               rtol=1e-9)


@pytest.mark.parametrize("low", [torch.bfloat16, torch.float16])
def test_a_16_bit_local_step_agrees_with_float32(low):
    """Holding the log-likelihoods in 16 bits (centred per frame) moves the song factors
    and the bound per frame by far less than the fit's tolerances."""
    L, mask, log_beta, lengths = random_bucket(B=6, n=60, K=32, seed=7)
    L = (L * 10.0 - 40.0) * mask[..., None]          # log-densities of realistic size
    t32 = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731
    args = (t32(mask), t32(log_beta), t32(1.0), t32(0.0), 8)
    full = local_step(t32(L), *args, tol=0.0, max_iter=30)
    half = local_step(t32(L), *args, tol=0.0, max_iter=30, low=low)
    assert half.phi.dtype == torch.float32
    _, lse = frame_assignments(t32(L), t32(mask), half.phi, half.a, half.b)
    exact = local_bound(lse, half.phi, half.a, half.b, t32(log_beta), t32(1.0), t32(0.0))
    per_frame = (exact - full.bound).abs().numpy() / lengths
    assert per_frame.max() < 1e-3                    # what infer_batch reports
    assert (half.a - full.a).abs().max() / lengths.max() < 1e-2


def test_low_precision_fit_matches_planted_truth_as_full_precision():
    from hdpmusic.model.hdpgmm import HDPGMM
    from planted import SMALL_FIT, planted_hdp

    X, _ = planted_hdp(seed=2, songs=150)
    full = HDPGMM(**SMALL_FIT).fit(X)
    low = HDPGMM(**SMALL_FIT, local_precision="bfloat16").fit(X)
    assert low.n_active_components_ == full.n_active_components_
    assert abs(low.passes_[-1]["elbo_per_frame"] - full.passes_[-1]["elbo_per_frame"]) < 1e-3
    frames = np.concatenate(X)
    assert (low.predict(frames) == full.predict(frames)).mean() > 0.99


def test_a_fit_in_filled_buckets_matches_the_fit_in_length_buckets():
    """Filling a GPU's buckets whatever their padding (``min_bucket_frames``) changes no
    song's local step, so not the fit either; ``"auto"`` keeps a CPU's length buckets."""
    from hdpmusic.model.hdpgmm import HDPGMM
    from planted import SMALL_FIT, planted_hdp

    X, _ = planted_hdp(seed=2, songs=150)
    tight = HDPGMM(**SMALL_FIT).fit(X)
    filled = HDPGMM(**SMALL_FIT, min_bucket_frames=1 << 20).fit(X)
    lengths = np.array([len(x) for x in X[:50]])
    assert tight._local_params().min_frames == 0
    assert len(tight._local_params().buckets(lengths)) > 3
    assert len(filled._local_params().buckets(lengths)) == 1
    assert len(filled.passes_) == len(tight.passes_)
    assert abs(filled.passes_[-1]["elbo_per_frame"]
               - tight.passes_[-1]["elbo_per_frame"]) < 1e-6
    frames = np.concatenate(X)
    assert (filled.predict(frames) == tight.predict(frames)).mean() > 0.999


@pytest.mark.parametrize("kind", KINDS)
def test_every_representation_is_the_same_from_filled_buckets(kind):
    """Each song summary reads its own frames only, however much padding its bucket has."""
    from hdpmusic.model.hdpgmm import HDPGMM
    from planted import SMALL_FIT, planted_hdp

    X, _ = planted_hdp(seed=2, songs=150)
    model = HDPGMM(**{**SMALL_FIT, "max_epochs": 3}).fit(X)
    tight = model.transform(X, kind=kind)
    filled = model.set_params(min_bucket_frames=1 << 20).transform(X, kind=kind)
    np.testing.assert_allclose(filled, tight, rtol=1e-4, atol=1e-5)
