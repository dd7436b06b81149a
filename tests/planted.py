"""Synthetic HDP-GMM corpora with known components (planted ground truth)."""

import numpy as np


def planted_hdp(seed=0, n_true=20, d=4, songs=300, per_song=3, frames=(40, 80), spread=10.0):
    """Songs that each mix ``per_song`` of ``n_true`` well-separated Gaussians.

    Returns
    -------
    X : list of (n_j, d) float32 arrays
    Z : list of (n_j,) int arrays, the true component of every frame
    """
    rng = np.random.default_rng(seed)
    means = rng.uniform(-spread, spread, size=(n_true, d))
    chols = [np.linalg.cholesky(A @ A.T + 0.2 * np.eye(d))
             for A in rng.normal(size=(n_true, d, d)) * 0.4]
    X, Z = [], []
    for _ in range(songs):
        comps = rng.choice(n_true, size=per_song, replace=False)
        n = int(rng.integers(*frames))
        z = comps[rng.choice(per_song, size=n, p=rng.dirichlet(np.ones(per_song)))]
        eps = rng.normal(size=(n, d))
        x = means[z] + np.einsum("nij,nj->ni", np.stack([chols[k] for k in z]), eps)
        X.append(x.astype(np.float32))
        Z.append(z)
    return X, Z
