"""One setting for the CPU threads of every stage (torch, BLAS/OpenMP, numba, joblib).

Each numerical library keeps its own thread pool and sizes it from the machine's core
count, not from the CPUs this process may use (affinity, a container's CPU quota) nor
from what other libraries already run: on a busy or small machine they oversubscribe
the cores, and threads that spin at barriers waiting for descheduled peers make small
problems many times slower. :func:`set_threads` sizes them all from one number:

* the default is :func:`default_threads`: ``HDPMUSIC_THREADS``, else
  ``OMP_NUM_THREADS``, else the CPUs available to the process (``joblib.cpu_count``
  honours ``sched_getaffinity`` and cgroup CPU quotas);
* torch intra-op threads (``torch.set_num_threads``), the BLAS and OpenMP pools loaded
  so far (``threadpoolctl``), numba's threads, and the ``*_NUM_THREADS`` environment
  variables that libraries loaded later and worker processes read;
* :func:`n_jobs` turns ``-1`` ("one per core") into that number, so that joblib
  workers × threads per worker never exceeds it; :func:`worker_count` also caps a
  request by the CPUs granted (:func:`available_cpus`) and the tasks to run;
* :func:`check_jobs` validates a ``jobs`` value (``-1`` or ≥ 1); every verb's ``--jobs``
  is typed by :data:`hdpmusic.cli._types.jobs`, the same range.

The CLI's global ``--threads N`` applies it (:func:`configure`; without the option, only
where fewer CPUs are available than the machine has); :func:`limit` narrows the pools
for one block (small problems run fastest on one thread).
"""

from __future__ import annotations

import contextlib
import numbers
import os
import sys
from collections.abc import Iterator
from typing import Any

from hdpmusic.runtime.errors import ParameterError

__all__ = ["ENV_VARS", "available_cpus", "check_jobs", "configure", "default_threads",
           "get_threads", "limit", "n_jobs", "set_threads", "thread_info",
           "worker_count"]

_JOBS_HINT = "give a positive number of processes or -1 (one per core)"

#: environment variables of the thread pools (read by libraries when they load)
ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
            "BLIS_NUM_THREADS", "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
            "NUMBA_NUM_THREADS")

_threads: int | None = None
_limiter: Any = None


def _positive(value: str | None) -> int | None:
    try:
        number = int(value) if value else None
    except ValueError:
        return None
    return number if number and number > 0 else None


def default_threads() -> int:
    """``HDPMUSIC_THREADS``, else ``OMP_NUM_THREADS``, else the CPUs this process may use."""
    from joblib import cpu_count

    return (_positive(os.environ.get("HDPMUSIC_THREADS"))
            or _positive(os.environ.get("OMP_NUM_THREADS")) or max(1, cpu_count()))


def get_threads() -> int:
    """The thread count in force (:func:`set_threads`'s, else :func:`default_threads`)."""
    return _threads if _threads is not None else default_threads()


def _apply(n: int) -> None:
    """Size every pool loaded now to ``n`` threads."""
    from threadpoolctl import threadpool_limits

    global _limiter
    if "torch" in sys.modules:
        import torch

        torch.set_num_threads(n)
    if "numba" in sys.modules:
        import numba

        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    _limiter = threadpool_limits(limits=n)


def set_threads(n: int | None = None) -> int:
    """Use ``n`` threads in every stage from now on.

    Parameters
    ----------
    n : int, optional
        Threads (≥ 1); None: :func:`default_threads`.

    Returns
    -------
    int
        The thread count set.
    """
    global _threads
    if n is not None and n < 1:
        raise ParameterError(f"threads must be >= 1; got {n}")
    n = default_threads() if n is None else int(n)
    _threads = n
    for var in ENV_VARS:
        os.environ[var] = str(n)
    os.environ["HDPMUSIC_THREADS"] = str(n)
    _apply(n)
    return n


def configure(n: int | None = None) -> int | None:
    """The CLI's setting: :func:`set_threads` when ``n`` is given or fewer CPUs are
    available than the machine has (a quota, an affinity mask, ``OMP_NUM_THREADS``);
    otherwise the libraries' own sizing (one thread per core) is left as it is.

    Returns
    -------
    int or None
        The thread count set, or None when nothing was changed.
    """
    if n is None and default_threads() >= (os.cpu_count() or 1):
        return None
    return set_threads(n)


def check_jobs(jobs: int) -> int:
    """Return ``jobs`` if it is a valid worker count: ``-1`` (one per core) or ≥ 1.

    Raises
    ------
    ParameterError
        ``jobs`` is 0, below -1, or not an integer.
    """
    if isinstance(jobs, bool) or not isinstance(jobs, numbers.Integral) \
            or not (jobs == -1 or jobs >= 1):
        raise ParameterError(f"jobs={jobs!r}: {_JOBS_HINT}")
    return int(jobs)


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def n_jobs(jobs: int) -> int:
    """Worker processes for ``jobs``: ``-1`` means :func:`get_threads`, others are kept.

    Raises
    ------
    ParameterError
        ``jobs`` is invalid (:func:`check_jobs`).
    """
    jobs = check_jobs(jobs)
    return get_threads() if jobs == -1 else jobs


def worker_count(jobs: int, tasks: int) -> int:
    """Worker processes to start for ``tasks`` tasks: :func:`n_jobs`, at most one per
    CPU granted (:func:`available_cpus`) and one per task, at least 1.

    More workers than CPUs only compete for them (and each holds its own memory); more
    than tasks stay idle.
    """
    return max(1, min(n_jobs(jobs), available_cpus(), tasks))


@contextlib.contextmanager
def limit(n: int) -> Iterator[None]:
    """Run a block on at most ``n`` threads (torch, BLAS/OpenMP), then restore them."""
    from threadpoolctl import threadpool_limits

    n = max(1, min(int(n), get_threads()))
    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    try:
        if torch is not None:
            torch.set_num_threads(n)
        with threadpool_limits(limits=n):
            yield
    finally:
        if torch is not None:
            torch.set_num_threads(before)


def thread_info() -> dict[str, Any]:
    """The thread counts in force: the setting, torch's, and each BLAS/OpenMP pool's."""
    from threadpoolctl import threadpool_info

    torch = sys.modules.get("torch")
    return {"threads": get_threads(),
            "torch_threads": torch.get_num_threads() if torch is not None else None,
            "pools": {f"{p['internal_api']}:{os.path.basename(p['filepath'])}":
                      p["num_threads"] for p in threadpool_info()}}
