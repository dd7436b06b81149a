"""The probes' fit in the span of the fitting rows: same optimum as on the raw columns."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from hdpmusic.evaluation.classification import genre_pipeline, probe_columns
from hdpmusic.evaluation.rowspan import MAX_ROWS, RowSpan
from hdpmusic.evaluation.tagging import fit_logistic_torch
from hdpmusic.runtime.errors import DataError


def wide(n=40, D=300, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, D)) * rng.uniform(0.1, 3.0, D), rng.normal(size=(15, D))


def test_coordinates_keep_every_inner_product_with_the_fitting_rows():
    X, new = wide()
    span = RowSpan().fit(X)
    A, B = span.transform(X), span.transform(new)
    assert A.shape == (40, 40) and B.shape == (15, 40)
    np.testing.assert_allclose(A @ A.T, X @ X.T, rtol=1e-9, atol=1e-8)
    np.testing.assert_allclose(B @ A.T, new @ X.T, rtol=1e-9, atol=1e-8)


def test_rank_deficient_rows_keep_only_their_extent():
    X, _ = wide(n=20)
    X = np.vstack([X, X[:5] + X[5:10]])        # 25 rows spanning 20 directions
    A = RowSpan().fit_transform(X)
    assert A.shape == (25, 20)
    np.testing.assert_allclose(A @ A.T, X @ X.T, rtol=1e-8, atol=1e-7)


@pytest.mark.parametrize("shape", [(50, 8), (50, 99), (MAX_ROWS + 1, 2 * MAX_ROWS + 2)])
def test_identity_where_the_basis_would_not_pay(shape):
    # rows outnumber columns, columns under twice the rows, too many rows to decompose
    X = np.random.default_rng(1).normal(size=shape)
    np.testing.assert_array_equal(RowSpan().fit(X).transform(X[:3]), X[:3])


def test_other_columns_are_refused():
    with pytest.raises(DataError, match="fitted on 300 columns"):
        RowSpan().fit(wide()[0]).transform(np.zeros((2, 299)))


@pytest.mark.parametrize("standardise", [False, True])
def test_genre_probe_predicts_as_logistic_regression_on_the_raw_columns(standardise):
    X, new = wide()
    y = np.repeat(np.array(["a", "b", "c", "d"]), 10)
    reference = LogisticRegression(C=0.3, tol=1e-10, max_iter=100000)
    if standardise:
        scaler = StandardScaler().fit(X)
        reference.fit(scaler.transform(X), y)
        expected = reference.decision_function(scaler.transform(new))
    else:
        expected = reference.fit(X, y).decision_function(new)
    probe = genre_pipeline(C=0.3, standardise=standardise)
    probe.set_params(lr__tol=1e-10, lr__max_iter=100000).fit(X, y)
    # fitted on the rows' 40 directions, 39 once centred
    assert probe.named_steps["lr"].coef_.shape == (4, 40 - standardise)
    np.testing.assert_allclose(probe.decision_function(new), expected, atol=1e-4)


def test_tagging_solver_in_the_span_matches_scikit_learn_on_the_raw_columns():
    X, new = wide(seed=2)
    Y = np.random.default_rng(3).random((40, 3)) < 0.4
    columns = probe_columns(standardise=False).fit(X)
    W, b = fit_logistic_torch(columns.transform(X), Y, 0.5, tol=1e-10)
    logits = columns.transform(new) @ W + b
    for tag in range(3):
        reference = LogisticRegression(C=0.5, tol=1e-10, max_iter=100000).fit(X, Y[:, tag])
        np.testing.assert_allclose(logits[:, tag], reference.decision_function(new),
                                   atol=1e-4)
