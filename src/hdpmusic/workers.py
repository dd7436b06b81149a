"""Worker processes that end with the process that started them."""

from __future__ import annotations

import os
import threading
import time

__all__ = ["exit_with_parent"]


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
