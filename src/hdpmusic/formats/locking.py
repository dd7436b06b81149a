"""Exclusive locks that keep two runs from writing the same output at once.

An advisory ``fcntl.flock`` on a small lock file: taken without waiting (a second run
fails at once with a message), released by the operating system when the process
ends, even on ``kill -9``. The holder removes the lock file when it lets go, still
holding the lock; a run that locked the file in the meantime finds that its file is
no longer the one at that path and tries again on the new one, so two runs never hold
"the" lock at once. Only a killed run leaves its (unlocked) file behind, for the next
run to take. Not POSIX: no lock.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from hdpmusic.runtime.errors import HdpmusicError


@contextlib.contextmanager
def exclusive_lock(lock_file: str | os.PathLike, busy: str = "", *,
                   wait: bool = False) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_file`` (created if need be) during the block.

    The lock file is removed when the block ends (see the module docstring).

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
    with _locked(lock_file, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB), busy) as fh:
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                lock_file.unlink()  # before unlocking: see the module docstring
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def _locked(lock_file: Path, operation: int, busy: str) -> Iterator[IO[str]]:
    """The open lock file, locked with ``fcntl.flock(operation)``, that is still the
    file at ``lock_file`` (the previous holder may have removed it meanwhile)."""
    import fcntl

    while True:
        with open(lock_file, "a+") as fh:
            try:
                fcntl.flock(fh.fileno(), operation)
            except OSError:
                raise HdpmusicError(busy) from None
            if _same_file(fh, lock_file):
                yield fh
                return
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _same_file(fh: IO[str], path: Path) -> bool:
    """Whether the open file ``fh`` is the file now at ``path``."""
    try:
        here = path.stat()
    except FileNotFoundError:
        return False
    mine = os.fstat(fh.fileno())
    return (here.st_dev, here.st_ino) == (mine.st_dev, mine.st_ino)


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
