"""The names of HDPGMM's song representations (light: no torch, for the command line).

See :meth:`hdpmusic.model.hdpgmm.HDPGMM.transform` for what each kind computes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["EMBED_KIND", "KINDS", "SHARE_KINDS", "kind_revision", "outdated_kind",
           "recorded_revision"]

#: every representation kind of ``HDPGMM.transform``
KINDS: tuple[str, ...] = ("posterior", "responsibility", "loglik", "fisher", "fisher-mean")
#: kinds whose columns are per-component shares (logged by default)
SHARE_KINDS: tuple[str, ...] = ("posterior", "responsibility", "loglik")
#: the kind ``HDPGMM.transform`` gives by default, and so ``hdpmusic transform``,
#: ``embed``, ``experiment`` and the HEAR module: the study's posterior, the HDPGMM kind
#: that beats G1 beyond noise on both real collections of
#: ``benchmarks/bench_representation.py`` (the Fisher vector leads by far on one and is
#: ahead of G1 within noise on the other; see the README's representation study)
EMBED_KIND = "posterior"
#: kinds whose definition changed, with their current revision (the others are at 1):
#: ``fisher`` and ``fisher-mean`` 2 since they carry the weight gradient G^w, 3 since
#: they encode with floored component covariances
REVISIONS: dict[str, int] = {"fisher": 3, "fisher-mean": 3}


def kind_revision(kind: str) -> int:
    """The revision of a kind's definition, recorded in every representation file, so a
    file written by an earlier definition is recognised as stale."""
    return REVISIONS.get(kind, 1)


def recorded_revision(attrs: Mapping[str, Any]) -> int:
    """The kind revision a representation file records (1 for a file from before
    revisions were recorded)."""
    return attrs.get("revision", 1)


def outdated_kind(attrs: Mapping[str, Any]) -> str | None:
    """What is outdated in an HDPGMM representation file made by an earlier definition of
    its kind (:func:`recorded_revision`), or None.

    Parameters
    ----------
    attrs : mapping
        The file's attributes (:func:`hdpmusic.formats.representations.read_attrs`).

    Returns
    -------
    str or None
        ``"made by revision 2 of the 'fisher' representation, not today's 3: ..."``;
        None for a current file or another model's.
    """
    kind = attrs.get("kind")
    if attrs.get("model") != "hdpgmm" or kind not in KINDS:
        return None
    made, now = recorded_revision(attrs), kind_revision(kind)
    if made == now:
        return None
    return (f"made by revision {made} of the {kind!r} representation, not today's {now}: "
            "its scores are not those of today's vectors; re-create it with `hdpmusic "
            "transform`")
