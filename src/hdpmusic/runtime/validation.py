"""Parameters validated the scikit-learn way: a declarative table of constraints.

An estimator lists, in its class attribute ``_parameter_constraints``, what each
constructor parameter may be: a list of constraints, any of which admits a value
(:class:`Interval`, :class:`Options`, :class:`Sizes`, :class:`Boolean`, or ``None``
for None itself).
:func:`validate_params` checks an estimator against the tables of its class and every
base class, and refuses the first value no constraint admits, saying what it may be::

    class Model:
        _parameter_constraints = {
            "n_components": [Interval(Integral, 1, None)],
            "tol": [Interval(Real, 0, None)],
            "init": [Options({"kmeans", "kmeans++", "random"})],
            "gamma": [Interval(Real, 0, None, closed="neither"), None],
        }

Conditions that tie several parameters together stay in the estimator's own
``_validate_params``, after :func:`validate_params`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, Literal

from hdpmusic.runtime.errors import ParameterError

__all__ = ["Boolean", "Interval", "Options", "Sizes", "constraints_of", "validate_params"]


@dataclass(frozen=True)
class Interval:
    """Numbers of one kind between two bounds (None: unbounded on that side).

    ``Integral`` admits whole numbers (not bools); ``Real`` admits any finite real number
    (not NaN or ±inf), whole ones included.
    """

    kind: type
    left: float | None
    right: float | None
    closed: Literal["both", "left", "right", "neither"] = "both"

    def admits(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, self.kind):
            return False
        if self.kind is Real and not math.isfinite(value):
            return False
        low_ok = self.left is None or (value >= self.left if self.closed in ("both", "left")
                                       else value > self.left)
        high_ok = self.right is None or (value <= self.right
                                         if self.closed in ("both", "right")
                                         else value < self.right)
        return low_ok and high_ok

    def describe(self) -> str:
        what = "a whole number" if self.kind is Integral else "a finite number"
        if self.left is not None and self.right is not None:
            opening = "[" if self.closed in ("both", "left") else "("
            closing = "]" if self.closed in ("both", "right") else ")"
            return f"{what} in {opening}{self.left:g}, {self.right:g}{closing}"
        if self.left is not None:
            return f"{what} {'>=' if self.closed in ('both', 'left') else '>'} {self.left:g}"
        if self.right is not None:
            return f"{what} {'<=' if self.closed in ('both', 'right') else '<'} {self.right:g}"
        return what


@dataclass(frozen=True)
class Options:
    """One of a few values (strings, usually)."""

    values: frozenset

    def __init__(self, values: Iterable[Any]) -> None:
        object.__setattr__(self, "values", frozenset(values))

    def admits(self, value: Any) -> bool:
        try:
            return value in self.values
        except TypeError:                            # unhashable
            return False

    def describe(self) -> str:
        names = sorted(repr(v) for v in self.values)
        return "one of " + ", ".join(names)


@dataclass(frozen=True)
class Sizes:
    """A sequence of at least ``count`` whole numbers >= 1 (e.g. layer widths)."""

    count: int = 1

    def admits(self, value: Any) -> bool:
        return (isinstance(value, tuple | list) and len(value) >= self.count
                and all(Interval(Integral, 1, None).admits(v) for v in value))

    def describe(self) -> str:
        return f"a sequence of at least {self.count} whole numbers >= 1"


@dataclass(frozen=True)
class Boolean:
    """True or False."""

    def admits(self, value: Any) -> bool:
        return isinstance(value, bool)

    def describe(self) -> str:
        return "True or False"


def constraints_of(cls: type) -> dict[str, list[Any]]:
    """The constraints of a class and its bases (a subclass's entry wins)."""
    merged: dict[str, list[Any]] = {}
    for klass in reversed(cls.__mro__):
        merged.update(vars(klass).get("_parameter_constraints", {}))
    return merged


def validate_params(estimator: Any) -> None:
    """Refuse a parameter value that no constraint of its class admits.

    Parameters
    ----------
    estimator : object
        Its parameters are attributes named as in ``_parameter_constraints``.

    Raises
    ------
    ParameterError
        ``"NAME must be WHAT, got VALUE"`` for the first parameter refused.
    """
    for name, allowed in constraints_of(type(estimator)).items():
        value = getattr(estimator, name)
        if any(value is None if c is None else c.admits(value) for c in allowed):
            continue
        what = " or ".join("None" if c is None else c.describe() for c in allowed)
        raise ParameterError(f"{name} must be {what}, got {value!r}")
