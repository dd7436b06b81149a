"""Options several verbs share, one definition each, so that an option reads and behaves
the same in every verb:

* ``--recompute``: :func:`add_recompute` (the verbs that use the feature cache);
  ``--overwrite`` means only "replace an existing --out" in every verb.
"""

from __future__ import annotations

import argparse

#: help of ``--recompute``
RECOMPUTE_HELP = ("compute every track's features again instead of taking them from the "
                  "feature cache (the new features replace the cached ones)")


def add_recompute(p: argparse.ArgumentParser, prefix: str = "") -> None:
    """Add ``--recompute`` (:data:`RECOMPUTE_HELP`, after ``prefix``) to ``p``."""
    p.add_argument("--recompute", action="store_true", help=prefix + RECOMPUTE_HELP)
