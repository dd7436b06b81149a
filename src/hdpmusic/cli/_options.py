"""Options several verbs share, and how every option's help shows its default.

One definition each, so that an option reads and behaves the same in every verb:

* ``--jobs``: :func:`add_jobs`, default :data:`DEFAULT_JOBS` everywhere;
* ``--recompute``: :func:`add_recompute` (the verbs that use the feature cache);
  ``--overwrite`` means only "replace an existing --out" in every verb;
* :class:`DefaultsHelpFormatter`: the formatter of every parser (set by
  :func:`hdpmusic.cli.build_parser`), which appends ``(default: VALUE)`` to an option's
  help, so that help strings never spell out a default that is a value.
"""

from __future__ import annotations

import argparse

from hdpmusic.cli._types import jobs

#: ``--jobs`` of every verb that starts worker processes: one per CPU granted to the
#: process (:func:`hdpmusic.runtime.threads.worker_count` also caps it by the number of tasks)
DEFAULT_JOBS = -1

#: help of ``--recompute``
RECOMPUTE_HELP = ("compute every track's features again instead of taking them from the "
                  "feature cache (the new features replace the cached ones)")


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """:class:`argparse.ArgumentDefaultsHelpFormatter` that leaves out the defaults that
    say nothing: those of flags (``store_true``, ``store_const``), ``False``, and
    ``None``, whose meaning the help states in words (``default: all songs``)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.nargs == 0 or action.default is None or action.default is False:
            return action.help or ""
        return super()._get_help_string(action)


def add_jobs(p: argparse.ArgumentParser, what: str = "worker processes") -> None:
    """Add ``--jobs N`` (default :data:`DEFAULT_JOBS`) to ``p``.

    Parameters
    ----------
    p : argparse.ArgumentParser
    what : str
        What the processes do, the start of the help.
    """
    p.add_argument("--jobs", type=jobs, default=DEFAULT_JOBS, metavar="N",
                   help=f"{what}; -1: one per CPU this process may use (or hdpmusic "
                        "--threads N), never more than one per track")


def add_recompute(p: argparse.ArgumentParser, prefix: str = "") -> None:
    """Add ``--recompute`` (:data:`RECOMPUTE_HELP`, after ``prefix``) to ``p``."""
    p.add_argument("--recompute", action="store_true", help=prefix + RECOMPUTE_HELP)
