"""The one progress bar style of long loops (tqdm on stderr, cleared when done), the
switch that silences every bar of a run (``hdpmusic -q``), and the timer of pipeline
stages."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

_silenced = False


@contextlib.contextmanager
def silenced(quiet: bool = True) -> Iterator[None]:
    """Hide every :func:`progress_bar` during the block when ``quiet`` is True.

    ``hdpmusic -q`` runs its verb inside, so that no bar shows whatever the ``enabled``
    flag of its caller (a model saved with ``verbose=True`` included).

    Parameters
    ----------
    quiet : bool
        False leaves the bars as their callers ask.
    """
    global _silenced
    before = _silenced
    _silenced = before or quiet
    try:
        yield
    finally:
        _silenced = before


def progress_bar(total: int, desc: str, *, unit: str, enabled: bool, initial: int = 0,
                 leave: bool = False) -> Any:
    """A tqdm bar (``tqdm.auto``: a widget in notebooks, text on stderr elsewhere).

    Parameters
    ----------
    total : int
        Steps in all.
    desc : str
        Label before the bar.
    unit : str
        What a step is ("batch", "track", ...).
    enabled : bool
        ``False`` gives a silent bar with the same methods (as does :func:`silenced`).
    initial : int
        Steps already done (a resumed loop).
    leave : bool
        Keep the finished bar on screen.
    """
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit=unit,
                disable=_silenced or not enabled, leave=leave, dynamic_ncols=True)


@contextlib.contextmanager
def stage_timer(timings: dict[str, float] | None, name: str) -> Iterator[None]:
    """Add the wall-clock seconds of the block to ``timings[name]`` (None: no timing)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        if timings is not None:
            timings[name] = timings.get(name, 0.0) + time.perf_counter() - start
