"""argparse types shared by the verbs: values checked where they are typed, so that a
run never starts with one that no code can use.

Every count, size and duration option of every verb takes its type from here, so that
each is refused the same way: argparse's exit status 2 and one line naming the option,
the range and the value typed (``argument --runs: expected a whole number >= 1, got
'0'``). Values with a documented meaning outside the range (``--jobs -1``,
``--checkpoint-every 0``) are listed with it, and the message names them too.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping

#: The largest seed every random generator takes (scikit-learn's is 32-bit)
MAX_SEED = 2**32 - 1


def _or_special(text: str, special: Mapping[int | float, str]) -> str:
    """``text`` followed by ``, or V (MEANING)`` for each documented special value."""
    return text + "".join(f", or {value:g} ({meaning})" for value, meaning in special.items())


class WholeNumber:
    """argparse type: a whole number from ``low`` (to ``high``), or a special value.

    Parameters
    ----------
    low : int
        The smallest value (``0`` for seeds, ``2`` for ``--cv``).
    high : int, optional
        The largest.
    special : mapping of int to str, optional
        Values outside the range that mean something, and what (``{-1: "one per CPU"}``).

    ``"2.5"``, ``"1e3"`` and ``"abc"`` are refused, like the values out of range.
    """

    def __init__(self, low: int = 1, high: int | None = None, *,
                 special: Mapping[int, str] | None = None) -> None:
        self.low, self.high, self.special = low, high, dict(special or {})
        self.__name__ = "whole number"

    @property
    def expected(self) -> str:
        """What it takes, in words (``a whole number >= 1``)."""
        what = (f"a whole number >= {self.low}" if self.high is None
                else f"a whole number from {self.low} to {self.high}")
        return _or_special(what, self.special)

    def accepts(self, value: int) -> bool:
        return value in self.special or (
            value >= self.low and (self.high is None or value <= self.high))

    def __call__(self, text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not self.accepts(value):
            raise argparse.ArgumentTypeError(f"expected {self.expected}, got {text!r}")
        return value

    def __repr__(self) -> str:
        return f"WholeNumber({self.expected!r})"


class WholeNumbers:
    """argparse type: comma-separated whole numbers >= ``low``, at least ``count`` of
    them (``--channels 16,32,64``); returns a tuple."""

    def __init__(self, low: int = 1, count: int = 1) -> None:
        self.low, self.count = low, count
        self.__name__ = "whole numbers"

    def __call__(self, text: str) -> tuple[int, ...]:
        try:
            values = tuple(int(v) for v in text.split(","))
        except ValueError:
            values = ()
        if len(values) < self.count or min(values) < self.low:
            raise argparse.ArgumentTypeError(
                f"expected at least {self.count} comma-separated whole numbers >= "
                f"{self.low}, got {text!r}")
        return values


class Number:
    """argparse type: a finite number >= ``low`` (> ``low`` with ``strict``) and, with
    ``high``, <= ``high`` (< ``high`` with ``high_strict``), or a special value; ``nan`` and
    ``inf`` are refused."""

    def __init__(self, low: float = 0.0, *, strict: bool = False, high: float | None = None,
                 high_strict: bool = False,
                 special: Mapping[float, str] | None = None) -> None:
        self.low, self.strict, self.special = low, strict, dict(special or {})
        self.high, self.high_strict = high, high_strict
        self.__name__ = "number"

    @property
    def expected(self) -> str:
        if self.high is None:
            what = f"a finite number {'>' if self.strict else '>='} {self.low:g}"
        else:
            what = (f"a number in {'(' if self.strict else '['}{self.low:g}, "
                    f"{self.high:g}{')' if self.high_strict else ']'}")
        return _or_special(what, self.special)

    def __call__(self, text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        inside = math.isfinite(value) and (value > self.low if self.strict
                                           else value >= self.low)
        if inside and self.high is not None:
            inside = value < self.high if self.high_strict else value <= self.high
        if not (inside or value in self.special):
            raise argparse.ArgumentTypeError(f"expected {self.expected}, got {text!r}")
        return value

    def __repr__(self) -> str:
        return f"Number({self.expected!r})"


#: ``--seed``: a whole number from 0 to :data:`MAX_SEED` (``-1``, ``1e20``, ``2.5``
#: refused)
seed = WholeNumber(0, MAX_SEED)

#: A count or size: a whole number >= 1 (``0``, ``-1`` and ``2.5`` refused)
positive_int = WholeNumber(1)

#: ``--jobs``: worker processes, or -1 (:func:`hdpmusic.runtime.threads.check_jobs`'s range)
jobs = WholeNumber(1, special={-1: "one per CPU this process may use"})

#: A duration in seconds (> 0)
seconds = Number(0.0, strict=True)

#: A probability-like share in [0, 1)
unit_share = Number(0.0, high=1.0, high_strict=True)


def switch(text: str) -> bool | str:
    """argparse type of an ``{auto,on,off}`` option: ``"auto"``, True or False."""
    values = {"auto": "auto", "on": True, "off": False}
    if text not in values:
        raise argparse.ArgumentTypeError(f"expected auto, on or off, got {text!r}")
    return values[text]
