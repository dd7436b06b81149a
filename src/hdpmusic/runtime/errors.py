"""Exceptions that carry a message meant for the user (the CLI prints them on one line),
and the helper that names a few of many things in such a message."""

from __future__ import annotations

from collections.abc import Iterable


class HdpmusicError(Exception):
    """An error caused by the user's input: a bad file, a wrong shape, a bad option.

    The CLI prints ``hdpmusic: error: <message>`` and exits with status 1 instead of a
    traceback. The message should name the offending file or value and, where possible,
    the fix.
    """


class DataError(HdpmusicError, ValueError):
    """Input data that cannot be used (wrong dimension, NaN frames, empty corpus, ...)."""


class FormatError(HdpmusicError, ValueError):
    """A file that is not in the expected format or version (corpus, checkpoint, ...)."""


class ParameterError(HdpmusicError, ValueError):
    """An invalid option or hyper-parameter value."""


def name_some(names: Iterable[str], limit: int = 8) -> str:
    """``"a, b, c"`` or ``"a, b, ... (and 12 more)"``: a readable excerpt of a list, for
    messages."""
    names = list(names)
    shown = ", ".join(str(n) for n in names[:limit])
    return shown + (f", ... (and {len(names) - limit} more)" if len(names) > limit else "")
