"""Online stochastic variational inference: the paper's optimiser (Wang, Paisley & Blei 2011).

Each mini-batch's statistics, scaled to the corpus, are mixed into the global statistics
with step ρ_t = (τ0 + t)^−κ — the natural-parameter update of stochastic variational
inference (see :mod:`hdpmusic.model.sufficient`).
"""

from __future__ import annotations

import numpy as np

from hdpmusic.model.sufficient import Stats

#: Σ_t ρ_t below which a fit cannot be expected to move far from its initialisation: a
#: full-batch fit (ρ = 1) of a planted corpus needed 20–40 passes, and the online schedule
#: reached the planted truth after 900 updates (Σρ_t 25.9; adjusted Rand 0.99) but not
#: after 300 (13.3; 0.85–0.89) or 90 (5.6; 0.46–0.49), at batches of 20 and 100 alike
#: (``benchmarks/bench_convergence.py --updates-batches 20,100``)
MIN_TOTAL_STEP = 20.0


def step_size(t: int, *, tau0: float, kappa: float) -> float:
    """ρ_t = (τ0 + t)^−κ for the (t + 1)-th update."""
    return float((tau0 + t) ** (-kappa))


def total_step(start: int, stop: int, *, tau0: float, kappa: float) -> float:
    """Σ_{t=start}^{stop−1} ρ_t, the schedule's total weight of new information."""
    t = np.arange(start, stop, dtype=np.float64)
    return float(((tau0 + t) ** (-kappa)).sum())


def online_update(stats: Stats, batch: Stats, rho: float, scale: float) -> Stats:
    """``(1 − ρ)·stats + ρ·scale·batch``, with ``scale = J / |batch|``."""
    return stats.combine(1.0 - rho, batch, rho * scale)


def schedule_warning(n_updates: int, start: int, *, tau0: float, kappa: float) -> str | None:
    """A message when ``n_updates`` more updates cannot forget the initialisation."""
    total = total_step(start, start + n_updates, tau0=tau0, kappa=kappa)
    if total >= MIN_TOTAL_STEP:
        return None
    return (f"online inference will make {n_updates} updates with total step size "
            f"Σρ_t = {total:.1f} (< {MIN_TOTAL_STEP:g}): too few for the components to move "
            "far from their initialisation. For a model of the frames' density use "
            "algorithm='memoized' (CLI: --algorithm memoized), or more updates: a smaller "
            "batch_size, more epochs, or a smaller tau0 (song representations scored alike "
            "from 10 to 600 updates on two real collections)")
