"""``hdpmusic corpus info FILE``: describe a corpus file without loading its frames."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from typing import Any

from hdpmusic.cli._inputs import open_corpus

PERCENTILES = (0, 5, 50, 95, 100)
_LABELS = ("min", "p5", "median", "p95", "max")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("corpus", help="inspect a corpus file",
                                   description="Inspect a corpus file (HDF5).")
    actions = parser.add_subparsers(dest="corpus_command", metavar="ACTION", required=True)
    info = actions.add_parser("info", help="songs, frames, lengths and feature config",
                              description="Print songs, frames, dimension, song-length "
                                          "percentiles, duration and feature config.")
    info.add_argument("path", help="corpus file (.h5)")
    info.set_defaults(func=run_info)


def _frame_seconds(attrs: Mapping[str, Any]) -> float | None:
    """Seconds per frame from ``sr`` and ``hop_length`` (top level or in feature_config)."""
    config = attrs.get("feature_config")
    for source in (attrs, config if isinstance(config, Mapping) else {}):
        sr, hop = source.get("sr"), source.get("hop_length")
        if isinstance(sr, int | float) and isinstance(hop, int | float) and sr > 0:
            return float(hop) / float(sr)
    return None


def _duration(seconds: float) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{int(hours)} h {int(minutes):02d} min {secs:04.1f} s"


def describe(corpus: Any) -> str:
    """The report printed by ``hdpmusic corpus info``.

    Parameters
    ----------
    corpus : hdpmusic.formats.corpus.Corpus

    Returns
    -------
    str
        Several lines.
    """
    import numpy as np

    lengths = corpus.lengths
    cuts = np.percentile(lengths, PERCENTILES)
    attrs = corpus.attrs
    lines = [
        f"file:      {corpus.path}",
        f"songs:     {len(corpus)}",
        f"frames:    {corpus.n_frames}",
        f"dim:       {corpus.dim}",
        "length (frames): " + "  ".join(f"{k} {v:.0f}" for k, v in zip(_LABELS, cuts,
                                                                         strict=True)),
    ]
    step = _frame_seconds(attrs)
    if step is not None:
        lines.append("length (s):      " + "  ".join(
            f"{k} {v * step:.1f}" for k, v in zip(_LABELS, cuts, strict=True)))
        lines.append(f"duration:  {_duration(corpus.n_frames * step)}")
    else:
        lines.append("duration:  unknown (no sr/hop_length attributes)")
    if not attrs:
        lines.append("no attributes (study layout)")
        return "\n".join(lines)
    config = attrs.get("feature_config")
    lines.append("feature config: " + (json.dumps(config, sort_keys=True)
                                       if config is not None else "not recorded"))
    lines.extend(_libraries(attrs.get("feature_libraries")))
    others = {k: v for k, v in attrs.items() if k not in ("feature_config", "feature_libraries")}
    lines.append("attributes:")
    lines.extend(f"  {k}: {json.dumps(v)}" for k, v in sorted(others.items()))
    return "\n".join(lines)


def _libraries(summary: Any) -> list[str]:
    """Lines naming the library versions that computed the corpus's features."""
    if not isinstance(summary, list) or not summary:
        return ["feature libraries: not recorded"]
    lines = ["feature libraries:"]
    for row in summary:
        versions = row.get("libraries")
        said = (", ".join(f"{name} {version}" for name, version in versions.items())
                if isinstance(versions, Mapping) else "not recorded (computed before "
                "hdpmusic kept a record, or by a run killed before writing it)")
        lines.append(f"  {row.get('tracks')} tracks: {said}")
    return lines


def run_info(args: argparse.Namespace) -> int:
    print(describe(open_corpus(args.path, "corpus info")))
    return 0
