"""Exclusive locks that keep two runs from writing the same output at once.

An advisory ``fcntl.flock`` on a small lock file: taken without waiting (a second run
fails at once with a message), released by the operating system when the process
ends, even on ``kill -9``. The lock file stays in place (removing it would let a third
run lock a new file while the second still holds the old one). Not POSIX: no lock.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from hdpmusic.errors import HdpmusicError


@contextlib.contextmanager
def exclusive_lock(lock_file: str | os.PathLike, busy: str = "", *,
                   wait: bool = False) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_file`` (created if need be) during the block.

    Parameters
    ----------
    lock_file : path-like
    busy : str
        The message of the error raised when another process holds the lock.
    wait : bool
        Wait for the other process to release the lock instead of failing.

    Raises
    ------
    HdpmusicError
        ``busy``, when the lock is held elsewhere and ``wait`` is False.
    """
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    lock_file = Path(lock_file)
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "a+") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except OSError:
            raise HdpmusicError(busy) from None
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def output_lock(path: str | os.PathLike) -> contextlib.AbstractContextManager[None]:
    """Lock the output file ``path`` (through ``.NAME.lock`` beside it) for one run.

    Raises
    ------
    HdpmusicError
        Another run is writing ``path``.
    """
    path = Path(path)
    return exclusive_lock(path.with_name(f".{path.name}.lock"),
                          f"{path} is being written by another run; wait for it to finish "
                          "or choose another output")
