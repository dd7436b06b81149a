"""The names of HDPGMM's song representations (light: no torch, for the command line).

See :meth:`hdpmusic.model.hdpgmm.HDPGMM.transform` for what each kind computes.
"""

from __future__ import annotations

__all__ = ["EMBED_KIND", "KINDS", "SHARE_KINDS"]

#: every representation kind of ``HDPGMM.transform``
KINDS: tuple[str, ...] = ("posterior", "responsibility", "loglik", "fisher", "fisher-mean")
#: kinds whose columns are per-component shares (logged by default)
SHARE_KINDS: tuple[str, ...] = ("posterior", "responsibility", "loglik")
#: the kind ``HDPGMM.transform`` gives by default, and so ``hdpmusic transform``,
#: ``embed``, ``experiment`` and the HEAR module: the best-scoring HDPGMM kind of
#: ``benchmarks/bench_representation.py`` on real recordings (the study's posterior; see
#: the README's representation study)
EMBED_KIND = "posterior"
