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
