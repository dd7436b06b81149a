"""The ELBO from statistics against brute-force integration, term by term (K = T = 2, d = 1),
and against the local step's own bound."""

import numpy as np
import pytest
import torch
from scipy import integrate, special, stats

from hdpmusic.model import expectations as ex
from hdpmusic.model.local import LocalParams, infer_batch, song_entropy
from hdpmusic.model.objective import (
    component_terms,
    elbo,
    song_concentration_terms,
    stick_terms,
)
from hdpmusic.model.sufficient import (
    Globals,
    Prior,
    Stats,
    derive_globals,
    frame_statistics,
    slot_counts,
)


def t64(a):
    return torch.as_tensor(np.asarray(a, dtype=np.float64))


# an arbitrary (not optimal) variational state of one song of 3 frames
X = np.array([0.3, -1.2, 2.0])
M, LAM, WW, NU = np.array([0.5, -1.0]), np.array([3.0, 1.5]), np.array([0.4, 1.3]), \
    np.array([4.0, 2.5])
U, V = 2.0, 3.5                  # q(β'_1)
A, B = 1.7, 2.2                  # q(π'_1)
ZETA = np.array([[0.7, 0.3], [0.2, 0.8], [0.55, 0.45]])     # frames × slots
PHI = np.array([[0.9, 0.1], [0.35, 0.65]])                  # slots × components
GAMMA, ALPHA = 1.3, 0.8
M0, LAM0, W0, NU0 = 0.1, 2.0, 0.7, 3.0


def normal_gamma_logpdf(mu, prec, m, lam, W, nu):
    """log N(μ | m, (λΛ)⁻¹) + log Wishart_1(Λ | W, ν) (a Gamma(ν/2, scale 2W))."""
    return (stats.norm.logpdf(mu, m, 1.0 / np.sqrt(lam * prec))
            + stats.gamma.logpdf(prec, nu / 2.0, scale=2.0 * W))


def expect_normal_gamma(f, k, n=24):
    """E_q[f(μ, Λ)] under q(φ_k) numerically: adaptive quadrature over the Gamma-distributed
    Λ, Gauss–Hermite over μ | Λ (exact for the quadratic log-densities in μ)."""
    h, wh = special.roots_hermite(n)

    def given_precision(prec):
        mu = M[k] + np.sqrt(2.0 / (LAM[k] * prec)) * h
        return np.sum(wh * f(mu, prec)) / np.sqrt(np.pi)

    density = stats.gamma(NU[k] / 2.0, scale=2.0 * WW[k])
    return integrate.quad(lambda p: density.pdf(p) * given_precision(p), 0.0, np.inf,
                          limit=400, epsabs=1e-12, epsrel=1e-12)[0]


def expect_beta(f, a, b):
    return integrate.quad(lambda w: stats.beta.pdf(w, a, b) * f(w), 0, 1, limit=200)[0]


@pytest.fixture(scope="module")
def state():
    x = t64(X[:, None])
    R = t64(ZETA @ PHI)
    N, S1, S2 = frame_statistics(R, x)
    phi, a, b = t64(PHI[None]), t64([[A]]), t64([[B]])
    s = Stats.from_counts(N, S1, S2, slot_counts(phi), ex.expected_log_1m(a, b).sum(),
                          N, song_entropy(t64(ZETA[None]), t64(np.ones((1, 3))), phi, a, b))
    g = Globals(lam=t64(LAM), m=t64(M[:, None]), W=t64(WW[:, None, None]),
                logdet_W=t64(np.log(WW)), nu=t64(NU), u=t64([U]), v=t64([V]), gamma_q=None,
                alpha_q=None)
    prior = Prior(m0=t64([M0]), W0_inv=t64([[1.0 / W0]]), lam0=LAM0, nu0=NU0, gamma=GAMMA,
                  alpha0=ALPHA)
    return s, g, prior


def test_component_terms_by_quadrature(state):
    s, g, prior = state
    r = ZETA @ PHI
    want = []
    for k in range(2):
        data = sum(r[n, k] * expect_normal_gamma(
            lambda mu, prec, x=X[n]: stats.norm.logpdf(x, mu, 1.0 / np.sqrt(prec)), k)
            for n in range(3))
        log_prior = expect_normal_gamma(
            lambda mu, prec: normal_gamma_logpdf(mu, prec, M0, LAM0, W0, NU0), k)
        entropy = -expect_normal_gamma(
            lambda mu, prec, k=k: normal_gamma_logpdf(mu, prec, M[k], LAM[k], WW[k], NU[k]), k)
        want.append(data + log_prior + entropy)
    np.testing.assert_allclose(component_terms(s, g, prior).numpy(), want, rtol=1e-6)


def test_stick_terms_by_quadrature(state):
    s, g, prior = state
    n = PHI.sum(0)          # slot counts of the two components
    log_p_c = expect_beta(lambda w: n[0] * np.log(w) + n[1] * np.log1p(-w), U, V)
    log_p_beta = expect_beta(lambda w: stats.beta.logpdf(w, 1.0, GAMMA), U, V)
    want = log_p_c + log_p_beta + stats.beta(U, V).entropy()
    assert float(stick_terms(s, g, prior)) == pytest.approx(want, rel=1e-7)


def test_song_terms_by_quadrature(state):
    s, g, prior = state
    counts = ZETA.sum(0)
    log_p_z = expect_beta(lambda w: counts[0] * np.log(w) + counts[1] * np.log1p(-w), A, B)
    log_p_pi = expect_beta(lambda w: stats.beta.logpdf(w, 1.0, ALPHA), A, B)
    h_zeta = -np.sum(ZETA * np.log(ZETA))
    h_phi = -np.sum(PHI * np.log(PHI))
    want = log_p_z + log_p_pi + stats.beta(A, B).entropy() + h_zeta + h_phi
    got = song_concentration_terms(s, g, prior, n_songs=1, T=2) + s.entropy
    assert float(got) == pytest.approx(want, rel=1e-7)


def test_whole_elbo_is_the_sum_of_the_terms(state):
    s, g, prior = state
    total = (component_terms(s, g, prior).sum() + stick_terms(s, g, prior)
             + song_concentration_terms(s, g, prior, n_songs=1, T=2) + s.entropy)
    assert float(elbo(s, g, prior, n_songs=1, T=2)) == pytest.approx(float(total), rel=1e-12)


@pytest.mark.parametrize("learned", [False, True])
def test_elbo_from_statistics_equals_local_bound_plus_global_terms(learned):
    """After a local step, the statistics' ELBO equals Σ_j (the songs' own bounds) plus the
    corpus terms computed directly (Gaussian–Wishart prior and entropy, sticks, q(γ), q(α0))."""
    rng = np.random.default_rng(2)
    K, T, d = 5, 3, 2
    lengths = np.array([12, 9, 15])
    frames = t64(rng.normal(size=(lengths.sum(), d)) * 2.0)
    prior = Prior(m0=t64(np.zeros(d)), W0_inv=t64(np.eye(d)), lam0=1.0, nu0=d + 2.0,
                  gamma=None if learned else 1.5, alpha0=None if learned else 0.7)
    seed = Stats.from_counts(t64(rng.uniform(5, 20, K)), t64(rng.normal(size=(K, d)) * 5),
                             t64(np.eye(d)[None] * rng.uniform(10, 40, (K, 1, 1))),
                             t64(rng.uniform(1, 4, K)), t64(-3.0), t64(np.ones(K)), t64(0.0))
    g = derive_globals(seed, prior, gamma_rate=t64(2.0) if learned else None, n_songs=3, T=T)
    from hdpmusic.model.sufficient import concentration_moments

    alpha_mean, alpha_log = concentration_moments(prior.alpha0, g.alpha_q, g.lam)
    lp = LocalParams(ex.expected_loglik_coefficients(g.lam, g.m, g.W, g.logdet_W, g.nu),
                     g.log_beta, alpha_mean, alpha_log, T, tol=0.0, max_iter=7,
                     max_padding=0.0)
    res = infer_batch(frames, lengths, lp)
    gamma_mean, gamma_log = concentration_moments(prior.gamma, g.gamma_q, g.lam)
    direct = (ex.normal_wishart_expected_log_prior(g.lam, g.m, g.W, g.logdet_W, g.nu,
                                                   prior.lam0, prior.m0, prior.W0_inv,
                                                   prior.logdet_W0, prior.nu0)
              + ex.normal_wishart_entropy(g.lam, g.logdet_W, g.nu, d)).sum() \
        + ex.stick_prior_term(g.u, g.v, gamma_mean, gamma_log)
    if learned:
        direct = direct + ex.gamma_prior_term(*g.gamma_q, *prior.gamma_prior) \
            + ex.gamma_prior_term(*g.alpha_q, *prior.alpha0_prior)
    want = float(res.bound + direct)
    assert float(elbo(res.stats, g, prior, n_songs=3, T=T)) == pytest.approx(want, rel=1e-10)
