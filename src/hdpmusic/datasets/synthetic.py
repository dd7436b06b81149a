"""Planted HDP Gaussian-mixture corpora: songs with known components (for tests and
benchmarks that judge inference against ground truth)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class PlantedCorpus:
    """A synthetic corpus and its truth.

    Attributes
    ----------
    songs : list of np.ndarray, each (n_j, d), float32
    labels : list of np.ndarray, each (n_j,), int
        The true component of every frame.
    weights : np.ndarray, shape (n_true,)
        The corpus-level weights songs draw their components with.
    means : np.ndarray, shape (n_true, d)
    covariances : np.ndarray, shape (n_true, d, d)
    """

    songs: list[np.ndarray]
    labels: list[np.ndarray]
    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray

    def song_shares(self) -> np.ndarray:
        """Share of the songs' component slots held by each true component, (n_true,)."""
        used = np.zeros(len(self.weights))
        for z in self.labels:
            used[np.unique(z)] += 1
        return used / used.sum()


def planted_hdp(*, seed: int = 0, n_true: int = 20, d: int = 8, songs: int = 300,
                per_song: tuple[int, int] = (3, 5), frames: tuple[int, int] = (150, 300),
                spread: float = 10.0, weight_decay: float = 0.85) -> PlantedCorpus:
    """Songs that each mix a few of ``n_true`` well-separated Gaussians.

    Component means are uniform in ``[−spread, spread]^d`` with random full covariances
    (eigenvalues ≈ 0.2–2); the corpus weights decay geometrically (β_k ∝
    ``weight_decay^k``), each song takes ``per_song`` distinct components drawn with
    those weights, and mixes them with Dirichlet(1) proportions.

    Parameters
    ----------
    seed : int
    n_true, d, songs : int
    per_song, frames : (int, int)
        Inclusive-exclusive ranges of components per song and frames per song.
    spread : float
    weight_decay : float
        In (0, 1]; 1 gives equal corpus weights.

    Returns
    -------
    PlantedCorpus
    """
    rng = np.random.default_rng(seed)
    means = rng.uniform(-spread, spread, size=(n_true, d))
    A = rng.normal(size=(n_true, d, d)) * 0.4
    covariances = A @ A.transpose(0, 2, 1) + 0.2 * np.eye(d)
    chols = np.linalg.cholesky(covariances)
    weights = weight_decay ** np.arange(n_true)
    weights /= weights.sum()
    X, Z = [], []
    for _ in range(songs):
        k = int(rng.integers(*per_song))
        comps = rng.choice(n_true, size=min(k, n_true), replace=False, p=weights)
        n = int(rng.integers(*frames))
        z = comps[rng.choice(len(comps), size=n, p=rng.dirichlet(np.ones(len(comps))))]
        x = means[z] + np.einsum("nij,nj->ni", chols[z], rng.normal(size=(n, d)))
        X.append(x.astype(np.float32))
        Z.append(z)
    return PlantedCorpus(X, Z, weights, means, covariances)
