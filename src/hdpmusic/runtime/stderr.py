"""What C libraries write to the process's standard error, caught for a block of code.

Decoders inside C libraries (libmpg123 within libsndfile) print their complaints about a
damaged file straight to file descriptor 2, past Python's ``sys.stderr``: into the middle
of a progress bar and without the file's name. :func:`capture_stderr` points descriptor 2
at a temporary file for the length of a block and hands back what was written there, for
the caller to put into its own message.

Descriptor 2 belongs to the whole process: one thread at a time captures (another thread
that asks meanwhile runs its block uncaptured), and what any thread writes to standard
error during a capture lands in it.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

__all__ = ["Captured", "capture_stderr"]

_FD = 2
_LOCK = threading.Lock()


@dataclass
class Captured:
    """The text written to standard error during a :func:`capture_stderr` block (filled
    in when the block ends, however it ends)."""

    text: str = ""

    def lines(self) -> list[str]:
        """The non-blank lines, stripped."""
        return [line.strip() for line in self.text.splitlines() if line.strip()]


@contextmanager
def capture_stderr() -> Iterator[Captured]:
    """Catch what is written to file descriptor 2 inside the block.

    Yields
    ------
    Captured
        Empty until the block ends; then what was written (nothing is caught when another
        thread is capturing, the process has no descriptor 2 or no temporary file can
        be made).

    Examples
    --------
    >>> with capture_stderr() as said:
    ...     _ = os.write(2, b"Note: Trying to resync...\\n")
    >>> said.lines()
    ['Note: Trying to resync...']
    """
    captured = Captured()
    if not _LOCK.acquire(blocking=False):
        yield captured
        return
    try:
        switch = _open_switch()
        if switch is None:
            yield captured
            return
        saved, sink = switch
        with sink:
            _flush()
            os.dup2(sink.fileno(), _FD)
            try:
                yield captured
            finally:
                _flush()
                os.dup2(saved, _FD)
                os.close(saved)
                sink.seek(0)
                captured.text = sink.read().decode("utf-8", errors="replace")
    finally:
        _LOCK.release()


def _open_switch() -> tuple[int, IO[bytes]] | None:
    """A second descriptor of standard error and an empty temporary file to point it at;
    None when either cannot be had (no descriptor 2, no writable temporary folder): the
    block then runs uncaptured rather than failing."""
    try:
        sink = tempfile.TemporaryFile()
    except OSError:
        return None
    try:
        return os.dup(_FD), sink
    except OSError:
        sink.close()
        return None


def _flush() -> None:
    """Write out what Python holds for standard error (so that it lands on the side of
    the switch it was written on)."""
    if sys.stderr is not None:
        sys.stderr.flush()
