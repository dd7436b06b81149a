"""Every expectation and ELBO term against scipy, scikit-learn or Monte Carlo."""

import numpy as np
import pytest
import torch
from scipy import stats
from scipy.special import digamma
from sklearn.mixture import BayesianGaussianMixture

from hdpmusic.model import expectations as ex

RNG = np.random.default_rng(0)


def t64(a):
    return torch.as_tensor(np.asarray(a), dtype=torch.float64)


def random_spd(d, rng, scale=1.0):
    A = rng.normal(size=(d, d))
    return scale * (A @ A.T / d + np.eye(d) * 0.5)


def random_nw(K, d, rng):
    lam = rng.uniform(0.5, 20.0, K)
    nu = d + rng.uniform(1.0, 30.0, K)
    m = rng.normal(size=(K, d))
    W = np.stack([random_spd(d, rng, 0.2) for _ in range(K)])
    return lam, m, W, nu


def test_stick_expectations_closed_form():
    u, v = RNG.uniform(0.5, 5, 7), RNG.uniform(0.5, 5, 7)
    got = ex.stick_expectations(t64(u), t64(v)).numpy()
    elog_w = digamma(u) - digamma(u + v)
    elog_1mw = digamma(v) - digamma(u + v)
    want = [elog_w[k] + elog_1mw[:k].sum() for k in range(7)] + [elog_1mw.sum()]
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_stick_means_match_monte_carlo():
    u, v = RNG.uniform(0.5, 5, 5), RNG.uniform(0.5, 5, 5)
    draws = RNG.beta(u, v, size=(200_000, 5))
    rest = np.cumprod(1 - draws, 1)
    w = np.concatenate([draws[:, :1], draws[:, 1:] * rest[:, :-1], rest[:, -1:]], 1)
    got = ex.stick_means(t64(u), t64(v)).numpy()
    np.testing.assert_allclose(got.sum(), 1.0, rtol=1e-12)
    np.testing.assert_allclose(got, w.mean(0), atol=3e-3)


def test_beta_entropy_matches_scipy():
    u, v = RNG.uniform(0.2, 9, 20), RNG.uniform(0.2, 9, 20)
    np.testing.assert_allclose(ex.beta_entropy(t64(u), t64(v)).numpy(),
                               stats.beta(u, v).entropy(), rtol=1e-10)


def test_stick_prior_term_matches_scipy_with_fixed_concentration():
    u, v, c = RNG.uniform(0.5, 5, 6), RNG.uniform(0.5, 5, 6), 2.5
    draws = RNG.beta(u, v, size=(400_000, 6))
    mc = stats.beta(1.0, c).logpdf(draws).mean(0).sum() + stats.beta(u, v).entropy().sum()
    got = float(ex.stick_prior_term(t64(u), t64(v), c, np.log(c)))
    assert got == pytest.approx(mc, abs=0.02)


def test_gamma_prior_term_matches_scipy():
    shape, rate, a0, b0 = 7.0, 3.0, 1.0, 1.0
    q = stats.gamma(shape, scale=1 / rate)
    draws = q.rvs(size=400_000, random_state=1)
    mc = stats.gamma(a0, scale=1 / b0).logpdf(draws).mean() + q.entropy()
    assert float(ex.gamma_prior_term(t64(shape), t64(rate), a0, b0)) == pytest.approx(mc, abs=0.01)
    mean, log_mean = ex.gamma_moments(t64(shape), t64(rate))
    assert float(mean) == pytest.approx(shape / rate)
    assert float(log_mean) == pytest.approx(np.log(draws).mean(), abs=0.005)


@pytest.mark.parametrize("d", [1, 3])
def test_expected_logdet_precision_monte_carlo(d):
    W, nu = random_spd(d, RNG, 0.3), d + 2.5
    samples = stats.wishart(df=nu, scale=W).rvs(size=100_000, random_state=2)
    samples = samples.reshape(-1, d, d)
    mc = np.linalg.slogdet(samples)[1].mean()
    got = float(ex.expected_logdet_precision(t64(np.linalg.slogdet(W)[1]), t64(nu), d))
    assert got == pytest.approx(mc, abs=0.01)


def _sample_normal_wishart(lam, m, W, nu, size, seed):
    """Draws (mu, Lambda) of N(mu|m,(lam Lambda)^-1) W(Lambda|W,nu), vectorised."""
    rng = np.random.default_rng(seed)
    Lams = stats.wishart(df=nu, scale=W).rvs(size=size, random_state=seed)
    cov = np.linalg.inv(lam * Lams)
    mu = m + np.einsum("nij,nj->ni", np.linalg.cholesky(cov), rng.normal(size=(size, len(m))))
    return mu, Lams


def _gauss_logpdf(mu, mean, prec):
    """log N(mu | mean, prec^-1) for stacks of precisions."""
    d = mu.shape[-1]
    diff = mu - mean
    return 0.5 * (np.linalg.slogdet(prec)[1] - d * np.log(2 * np.pi)
                  - np.einsum("ni,nij,nj->n", diff, prec, diff))


def test_normal_wishart_entropy_monte_carlo():
    d, lam, nu = 3, 4.0, 6.5
    m, W = RNG.normal(size=d), random_spd(d, RNG, 0.3)
    wish = stats.wishart(df=nu, scale=W)
    mu, Lams = _sample_normal_wishart(lam, m, W, nu, 50_000, 3)
    logq = _gauss_logpdf(mu, m, lam * Lams) + wish.logpdf(np.moveaxis(Lams, 0, -1))
    got = float(ex.normal_wishart_entropy(t64([lam]), t64([np.linalg.slogdet(W)[1]]),
                                          t64([nu]), d)[0])
    assert got == pytest.approx(-np.mean(logq), abs=0.06)
    # the Wishart part alone against scipy's closed form
    h_gauss = 0.5 * d * (1 + np.log(2 * np.pi)) - 0.5 * d * np.log(lam) - 0.5 * float(
        ex.expected_logdet_precision(t64(np.linalg.slogdet(W)[1]), t64(nu), d))
    assert got - h_gauss == pytest.approx(wish.entropy(), rel=1e-10)


def test_normal_wishart_expected_log_prior_monte_carlo():
    d, lam, nu, lam0, nu0 = 2, 3.0, 7.0, 2.0, 4.0
    m, W = RNG.normal(size=d), random_spd(d, RNG, 0.3)
    m0, W0 = RNG.normal(size=d) * 0.3, random_spd(d, RNG, 0.5)
    mu, Lams = _sample_normal_wishart(lam, m, W, nu, 50_000, 4)
    vals = (_gauss_logpdf(mu, m0, lam0 * Lams)
            + stats.wishart(df=nu0, scale=W0).logpdf(np.moveaxis(Lams, 0, -1)))
    got = float(ex.normal_wishart_expected_log_prior(
        t64([lam]), t64(m[None]), t64(W[None]), t64([np.linalg.slogdet(W)[1]]), t64([nu]),
        lam0, t64(m0), t64(np.linalg.inv(W0)), t64(np.linalg.slogdet(W0)[1]), nu0)[0])
    assert got == pytest.approx(np.mean(vals), abs=0.06)


def test_quadratic_features_give_quadratic_forms():
    K, d, n = 4, 5, 30
    m = RNG.normal(size=(K, d))
    A = np.stack([random_spd(d, RNG) for _ in range(K)])
    c = RNG.normal(size=K)
    x = RNG.normal(size=(n, d))
    got = (ex.quadratic_features(t64(x)) @ ex.quadratic_form_coefficients(t64(m), t64(A),
                                                                          t64(c))).numpy()
    diff = x[:, None, :] - m[None]
    want = np.einsum("nki,kij,nkj->nk", diff, A, diff) + c
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    features = ex.quadratic_features(t64(x)).numpy()
    assert features.shape[1] == ex.n_quadratic_features(d) == d * (d + 1) // 2 + d + 1
    rows, cols = np.triu_indices(d)
    np.testing.assert_array_equal(features[:, :rows.size], x[:, rows] * x[:, cols])
    np.testing.assert_array_equal(features[:, rows.size:-1], x)
    assert (features[:, -1] == 1).all()
    # the triangle maps back to the symmetric matrices
    S = np.einsum("ni,nj->ij", x, x)
    tri = t64(features[:, :rows.size].sum(0, keepdims=True))
    np.testing.assert_allclose(ex.triangle_to_symmetric(tri, d)[0].numpy(), S, rtol=1e-12)


@pytest.mark.parametrize("dtype,rtol", [(torch.float64, 1e-9), (torch.float32, 1e-4)])
def test_expected_loglik_matches_sklearn(dtype, rtol):
    K, d, n = 6, 8, 200
    lam, m, W, nu = random_nw(K, d, RNG)
    x = RNG.normal(size=(n, d))
    bgm = BayesianGaussianMixture(n_components=K, covariance_type="full")
    bgm.means_ = m
    bgm.precisions_cholesky_ = np.linalg.cholesky(W * nu[:, None, None])
    bgm.degrees_of_freedom_ = nu
    bgm.mean_precision_ = lam
    want = bgm._estimate_log_prob(x)
    coef = ex.expected_loglik_coefficients(t64(lam), t64(m), t64(W),
                                           t64(np.linalg.slogdet(W)[1]), t64(nu))
    got = (ex.quadratic_features(t64(x).to(dtype)) @ coef.to(dtype)).double().numpy()
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * np.abs(want).mean())


def test_student_t_predictive_matches_scipy():
    K, d, n = 3, 4, 50
    lam, m, W, nu = random_nw(K, d, RNG)
    x = RNG.normal(size=(n, d))
    got = ex.student_t_predictive(ex.quadratic_features(t64(x)), t64(lam), t64(m), t64(W),
                                  t64(np.linalg.slogdet(W)[1]), t64(nu)).numpy()
    for k in range(K):
        dof = nu[k] + 1 - d
        L = dof * lam[k] / (1 + lam[k]) * W[k]
        want = stats.multivariate_t(loc=m[k], shape=np.linalg.inv(L), df=dof).logpdf(x)
        np.testing.assert_allclose(got[:, k], want, rtol=1e-9)


def test_one_stick_has_all_the_weight():
    """Truncation at one stick (K = 1 or T = 1): no Beta factor, weight 1, E[log w] = 0."""
    empty = torch.zeros(3, 0, dtype=torch.float64)
    torch.testing.assert_close(ex.stick_means(empty, empty), torch.ones(3, 1, dtype=torch.float64))
    torch.testing.assert_close(ex.stick_expectations(empty, empty),
                               torch.zeros(3, 1, dtype=torch.float64))
