"""Tagging protocol: planted annotations, the tag filter, and the two solvers."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from hdpmusic.evaluation.tagging import (
    evaluate_tagging,
    fit_logistic_sklearn,
    fit_logistic_torch,
    macro_auc,
)
from hdpmusic.runtime.errors import DataError, ParameterError

SPLIT = np.array(["train"] * 300 + ["valid"] * 100 + ["test"] * 400)


def planted(noise, seed=0, n_tags=6, dim=8):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(SPLIT.size, dim))
    W = rng.normal(size=(dim, n_tags))
    Y = X @ W + noise * rng.normal(size=(SPLIT.size, n_tags)) > 1.0
    return X, Y


def test_informative_features_give_auc_near_one():
    X, Y = planted(noise=0.2)
    score, config = evaluate_tagging(X, Y, SPLIT, n_iter=3, seed=0)
    assert score > 0.97
    assert config["n_tags"] == Y.shape[1]


def test_random_features_give_auc_near_half():
    X, Y = planted(noise=0.5)
    X_random = np.random.default_rng(9).normal(size=X.shape)
    score, config = evaluate_tagging(X_random, Y, SPLIT, n_iter=4, seed=0)
    assert config["chance"] == 0.5
    # each tag's AUC has SD ≈ sqrt((n_pos + n_neg + 1) / (12 n_pos n_neg)) ≥ 1/sqrt(3 n)
    n_pos = Y[SPLIT == "test"].sum(axis=0)
    n_neg = 400 - n_pos
    sd = np.sqrt(np.mean((n_pos + n_neg + 1) / (12 * n_pos * n_neg)) / Y.shape[1])
    assert abs(score - 0.5) < 4 * sd


def test_tag_filter_drops_tags_without_both_classes():
    rng = np.random.default_rng(3)
    Y = rng.random((50, 4)) < 0.3
    Y[:, 1] = False  # no positive
    Y[:, 3] = True   # no negative
    scores = rng.normal(size=(50, 4))
    auc, scored = macro_auc(Y, scores)
    assert scored.tolist() == [True, False, True, False]
    expected = np.mean([roc_auc_score(Y[:, t], scores[:, t]) for t in (0, 2)])
    assert auc == pytest.approx(expected)
    with pytest.raises(DataError, match="no tag"):
        macro_auc(Y[:, [1, 3]], scores[:, [1, 3]])


def test_tag_without_test_positives_is_not_scored():
    X, Y = planted(noise=0.5)
    Y[SPLIT == "test", 2] = False
    _, config = evaluate_tagging(X, Y, SPLIT, n_iter=2, seed=0, backend="sklearn")
    assert config["n_tags"] == Y.shape[1] - 1 and config["n_tags_total"] == Y.shape[1]


@pytest.mark.parametrize("C", [1e-3, 1.0, 100.0])
def test_torch_and_sklearn_solve_the_same_problem(C):
    X, Y = planted(noise=1.0, seed=4)
    X = (X - X.mean(0)) / X.std(0)
    Y[:, 0] = False  # a tag with no positive gets a constant score in both
    W_t, b_t = fit_logistic_torch(X, Y, C)
    W_s, b_s = fit_logistic_sklearn(X, Y, C, tol=1e-10)
    assert np.abs(W_t[:, 0]).max() == 0.0 and b_t[0] == b_s[0]
    np.testing.assert_allclose(X @ W_t + b_t, X @ W_s + b_s, atol=2e-3)


def test_backends_agree_on_the_protocol():
    X, Y = planted(noise=1.0, seed=5)
    torch_score, torch_config = evaluate_tagging(X, Y, SPLIT, n_iter=3, seed=3,
                                                 backend="torch")
    sk_score, sk_config = evaluate_tagging(X, Y, SPLIT, n_iter=3, seed=3, backend="sklearn")
    assert torch_config["C"] == sk_config["C"]
    assert torch_score == pytest.approx(sk_score, abs=2e-3)
    with pytest.raises(ParameterError, match="backend"):
        evaluate_tagging(X, Y, SPLIT, n_iter=1, backend="jax")


@pytest.mark.parametrize("standardise", [True, False])
def test_probe_with_or_without_standardisation_matches_scikit_learn(standardise):
    """The test logits are those of scikit-learn's per-tag logistic regressions at the
    chosen C, fitted on the training + validation songs after a StandardScaler or on the
    vectors as they are."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    X, Y = planted(noise=1.0, seed=6)
    X = X * np.array([1, 10, 100, 1, 1, 1, 1, 1]) + 3.0
    score, config = evaluate_tagging(X, Y, SPLIT, n_iter=3, seed=0, backend="sklearn",
                                     standardise=standardise)
    assert config["standardise"] is standardise
    fit, test = SPLIT != "test", SPLIT == "test"
    Z = StandardScaler().fit(X[fit]).transform(X) if standardise else X
    aucs = [roc_auc_score(Y[test, t], LogisticRegression(C=config["C"], max_iter=20000)
                          .fit(Z[fit], Y[fit, t]).decision_function(Z[test]))
            for t in range(Y.shape[1])]
    assert score == pytest.approx(np.mean(aucs), abs=2e-3)
