"""Worker processes that end with the process that started them, and time limits on
their tasks.

:func:`time_limit` interrupts a task that runs too long (:class:`TimeLimitError`) where
Python code runs or a system call waits (reading a FIFO, a stalled network file);
:func:`exit_after` ends a worker process whose task is stuck where no signal reaches
it (a loop inside a decoder's C code).
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import signal
import threading
import time
from collections.abc import Iterator

__all__ = ["TimeLimitError", "exit_after", "exit_with_parent", "time_limit"]


class TimeLimitError(Exception):
    """A task ran past its :func:`time_limit`."""


def exit_with_parent(parent_pid: int, poll: float = 0.5) -> None:
    """End this process within ``poll`` seconds of ``parent_pid`` ceasing to be its parent.

    An initializer for worker processes (``loky`` / ``joblib`` ``initializer``): a
    daemon thread checks the parent process id and exits the process once the parent
    died (killed with SIGKILL, say) and the worker was handed to another parent. Without
    it, a loky worker finishes the track at hand and then waits for work until its idle
    timeout (300 s). Polling works on every POSIX system, unlike Linux's
    ``PR_SET_PDEATHSIG``, which fires when the parent *thread* that spawned the worker
    ends (loky's manager thread spawns replacement workers).

    Parameters
    ----------
    parent_pid : int
        The process id of the parent (``os.getpid()`` in the parent).
    poll : float
        Seconds between checks.
    """
    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(poll)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise :class:`TimeLimitError` in the block once it has run ``seconds`` seconds.

    A real-time interval timer (``SIGALRM``): the error is raised in the main thread at
    the next Python instruction, or at once from a blocking system call. Only the main
    thread receives signals, so elsewhere (a dask worker thread) and where the system
    has no ``SIGALRM`` the block runs without a limit.

    Parameters
    ----------
    seconds : float or None
        The limit; None or 0: none.
    """
    if not seconds or not hasattr(signal, "setitimer") \
            or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise TimeLimitError(f"took longer than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def exit_after(seconds: float | None) -> Iterator[None]:
    """End this process (exit status 1) if the block runs longer than ``seconds``.

    For worker processes only: a watchdog thread of :mod:`faulthandler` ends the process
    even while the block holds the interpreter in C code, where :func:`time_limit` cannot
    interrupt it; the parent sees the worker die.

    Parameters
    ----------
    seconds : float or None
        The limit; None or 0: none.
    """
    if not seconds:
        yield
        return
    with open(os.devnull, "w") as quiet:  # no traceback dump on the terminal
        faulthandler.dump_traceback_later(seconds, exit=True, file=quiet)
        try:
            yield
        finally:
            faulthandler.cancel_dump_traceback_later()
