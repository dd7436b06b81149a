"""The names of HDPGMM's song representations (light: no torch, for the command line).

See :meth:`hdpmusic.model.hdpgmm.HDPGMM.transform` for what each kind computes.
"""

from __future__ import annotations

__all__ = ["EMBED_KIND", "KINDS", "SHARE_KINDS", "kind_revision"]

#: every representation kind of ``HDPGMM.transform``
KINDS: tuple[str, ...] = ("posterior", "responsibility", "loglik", "fisher", "fisher-mean")
#: kinds whose columns are per-component shares (logged by default)
SHARE_KINDS: tuple[str, ...] = ("posterior", "responsibility", "loglik")
#: the kind ``HDPGMM.transform`` gives by default, and so ``hdpmusic transform``,
#: ``embed``, ``experiment`` and the HEAR module: the study's posterior, the HDPGMM kind
#: that beats G1 beyond noise on both real collections of
#: ``benchmarks/bench_representation.py`` (the Fisher vector leads on one and trails G1
#: on the other; see the README's representation study)
EMBED_KIND = "posterior"
#: kinds whose definition changed, with their current revision (the others are at 1):
#: ``fisher`` and ``fisher-mean`` 2 since they carry the weight gradient G^w
REVISIONS: dict[str, int] = {"fisher": 2, "fisher-mean": 2}


def kind_revision(kind: str) -> int:
    """The revision of a kind's definition, recorded in every representation file, so a
    file written by an earlier definition is recognised as stale."""
    return REVISIONS.get(kind, 1)
