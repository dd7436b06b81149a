"""Killing a child process part-way, for the resume tests."""

import signal
import subprocess
import time
from collections.abc import Callable


def kill_when(proc: subprocess.Popen, ready: Callable[[], bool], *, poll: float = 0.02,
              max_polls: int = 6000) -> None:
    """SIGKILL ``proc`` once ``ready()`` holds (or it exited, or after ``max_polls`` polls).

    The poll cap only keeps a broken run from hanging the suite; no test reads time.
    """
    for _ in range(max_polls):
        if ready() or proc.poll() is not None:
            break
        time.sleep(poll)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def descendants(pid: int) -> list:
    """The live descendant processes of ``pid`` (psutil.Process objects)."""
    import psutil

    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def wait_gone(procs: list, *, poll: float = 0.1, max_polls: int = 300) -> list:
    """Poll until every process of ``procs`` has ended (or is a zombie); return those left.

    The poll cap only bounds the wait; no test reads time.
    """
    import psutil

    def running(proc) -> bool:
        try:
            return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    left = list(procs)
    for _ in range(max_polls):
        left = [proc for proc in left if running(proc)]
        if not left:
            break
        time.sleep(poll)
    return left


def dead_pid() -> int:
    """The id of a process that has just ended (no process has it now, short of reuse)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid
