"""The one progress bar style of long loops: tqdm on stderr, cleared when done."""

from __future__ import annotations

from typing import Any


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
        ``False`` gives a silent bar with the same methods.
    initial : int
        Steps already done (a resumed loop).
    leave : bool
        Keep the finished bar on screen.
    """
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit=unit, disable=not enabled,
                leave=leave, dynamic_ncols=True)
