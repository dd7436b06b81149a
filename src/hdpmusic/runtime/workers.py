"""Worker processes that end with the process that started them, and time limits on
their tasks.

:func:`time_limit` interrupts a task that runs too long (:class:`TimeLimitError`) where
Python code runs or a system call waits (reading a FIFO, a stalled network file);
:func:`exit_after` ends a worker process whose task is stuck where no signal reaches
it (a loop inside a decoder's C code).

A run ended by ``SIGTERM`` unwinds as after Ctrl-C (:func:`terminate_as_interrupt`):
its worker pool shuts down, its lock files are removed. A run killed outright (SIGKILL)
cannot clean up: loky's resource tracker process then unlinks the semaphores and
folders its pool had registered, as it is meant to, and :func:`quiet_resource_tracker`
keeps it from warning about each of them as "leaked" on the terminal.
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator

__all__ = ["TimeLimitError", "exit_after", "exit_with_parent", "quiet_resource_tracker",
           "terminate_as_interrupt", "time_limit"]

#: the warning filter handed to loky's resource tracker (see quiet_resource_tracker)
_TRACKER_FILTER = "ignore:resource_tracker:UserWarning"


class TimeLimitError(BaseException):
    """A task ran past its :func:`time_limit`.

    A :class:`BaseException`, as :class:`KeyboardInterrupt`: raised wherever the task
    happens to be, it must not be taken for an error of the code it interrupts (a
    decoder's ``except Exception``).
    """


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


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """During the block, ``SIGTERM`` raises :class:`KeyboardInterrupt` in the main thread.

    ``kill PID`` then ends the run as Ctrl-C does: context managers unwind (worker
    pools shut down and unregister their semaphores, lock files are removed) instead of
    the process vanishing. Elsewhere than in the main thread, nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def quiet_resource_tracker() -> None:
    """Keep loky's resource tracker from warning after this process is killed.

    The tracker, a process the first worker pool starts, unlinks the semaphores and
    shared-memory folders of a pool whose process died without unregistering them (a
    SIGKILL), and warns about each one ("There appear to be 8 leaked semlock objects").
    The clean-up is right, the warnings only alarm: the tracker takes its warning
    filters from this process's ``-W`` options (``sys.warnoptions``) when it starts,
    so one filter is added there. Call before the first pool starts.
    """
    if _TRACKER_FILTER not in sys.warnoptions:
        sys.warnoptions.append(_TRACKER_FILTER)
