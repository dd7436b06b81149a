"""argparse types shared by the verbs: values checked where they are typed, so that a
run never starts with one that no code can use."""

from __future__ import annotations

import argparse

#: The largest seed every random generator takes (scikit-learn's is 32-bit)
MAX_SEED = 2**32 - 1


def seed(text: str) -> int:
    """argparse type of ``--seed``: a whole number from 0 to :data:`MAX_SEED`.

    Parameters
    ----------
    text : str
        As typed (``"-1"``, ``"1e20"`` and ``"2.5"`` are refused).

    Returns
    -------
    int

    Raises
    ------
    argparse.ArgumentTypeError
        Naming the range.
    """
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected a whole number from 0 to {MAX_SEED}, "
                                         f"got {text!r}")
    return value


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1 (``0``, ``-1`` and ``2.5`` are refused)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value
