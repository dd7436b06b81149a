"""A penalised linear probe fitted in the span of its fitting rows.

An L2-penalised linear model with an unpenalised intercept (the logistic regressions of
the genre and tagging probes) has its coefficients in the span of the rows it is fitted
on: at the optimum ``w = −C Σ_i g_i x_i``, ``g_i`` the loss's derivative at row i (the
representer theorem). With more columns D than rows n — a Fisher vector of 6,000–27,000
values for a few hundred songs — the same model can be fitted on the coordinates ``X V``
of the rows in an orthonormal basis V (D × r, r ≤ n) of that span: the optimum is
``w = V z``, the decision function ``x·w = (x V)·z`` for any x, the penalty
``‖w‖ = ‖z‖`` and the gradient's norm the same, so the solver takes the same path at
r/D of the cost per iteration.

The basis comes from the Gram matrix ``G = X Xᵀ = U Λ Uᵀ``: ``V = Xᵀ U Λ^−½`` over the
eigenvalues above ``rcond · λ_max`` (directions in which the rows have no extent carry no
coefficient), so the coordinates of the fitting rows are ``U Λ^½`` and those of any row x
are ``(x Xᵀ) U Λ^−½`` — a product with the fitting rows, never a D × D matrix.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_array, check_is_fitted

from hdpmusic.runtime.errors import DataError

__all__ = ["RowSpan"]

#: eigenvalues of the Gram matrix below this share of the largest are left out
RCOND = 1e-12
#: the basis is used where the columns are at least this many times the rows (each solver
#: iteration then costs at most half) ...
MIN_WIDTH = 2.0
#: ... and the rows at most this many: the Gram matrix's eigendecomposition costs O(n³)
#: and the genre search builds it for every fit (2048 rows: about a second)
MAX_ROWS = 2048


class RowSpan(TransformerMixin, BaseEstimator):
    """Coordinates in an orthonormal basis of the fitting rows' span.

    Used where it pays: at least :data:`MIN_WIDTH` times as many columns as rows and at
    most :data:`MAX_ROWS` rows; elsewhere the transform is the identity.

    Attributes
    ----------
    rows_ : np.ndarray, shape (n, D), or None
        The fitting rows (None: identity).
    projection_ : np.ndarray, shape (n, r), or None
        ``U Λ^−½``: a row x has coordinates ``(x @ rows_.T) @ projection_``.
    n_features_in_ : int
    """

    def fit(self, X: np.ndarray, y: object = None) -> RowSpan:
        """Find the basis of the span of the rows of ``X``, shape (n, D)."""
        X = check_array(X, dtype=np.float64)
        self.n_features_in_ = X.shape[1]
        self.rows_, self.projection_ = None, None
        if X.shape[1] >= MIN_WIDTH * X.shape[0] and X.shape[0] <= MAX_ROWS:
            eigenvalues, U = np.linalg.eigh(X @ X.T)
            keep = eigenvalues > RCOND * max(float(eigenvalues[-1]), 0.0)
            self.rows_ = X
            self.projection_ = U[:, keep] / np.sqrt(eigenvalues[keep])
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Coordinates of the rows of ``X``, shape (m, r), or ``X`` itself (identity)."""
        check_is_fitted(self, "projection_")
        X = check_array(X, dtype=np.float64)
        if X.shape[1] != self.n_features_in_:
            raise DataError(f"RowSpan was fitted on {self.n_features_in_} columns; these rows "
                            f"have {X.shape[1]}")
        if self.projection_ is None:
            return X
        return (X @ self.rows_.T) @ self.projection_
