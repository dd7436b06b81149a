"""``hdpmusic interpret``: the top tags (or genres) of the most loaded HDPGMM components
(Table 4)."""

from __future__ import annotations

import argparse

from hdpmusic.cli._types import Number, positive_int
from hdpmusic.formats.atomic import atomic_path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "interpret", help="top tags (or genres) of the most loaded HDPGMM components",
        description="Rank the components of an HDPGMM by their total responsibility over "
                    "the songs of a task and list, per component, the tags most enriched "
                    "among the songs it explains (responsibility-weighted tag frequency "
                    "over the tag's base rate; see hdpmusic.evaluation.interpretability); "
                    "a task without tags is read by its genres.")
    p.add_argument("model", help="HDPGMM model file")
    p.add_argument("task", help="corpus .h5 holding the songs' frames and their tags "
                                "(or genres)")
    p.add_argument("--top-components", type=positive_int, default=10,
                   help="components listed, the most loaded first (those that explain "
                        "none of the songs are left out)")
    p.add_argument("--top-tags", type=positive_int, default=5,
                   help="tags (or genres) listed per component")
    p.add_argument("--method", choices=["lift", "log_odds"], default="lift",
                   help="enrichment score")
    p.add_argument("--prior", type=Number(0.0), default=1.0,
                   help="pseudo-count (songs) smoothing the weighted tag frequency")
    p.add_argument("--device", default=None, help="torch device (default: the model's)")
    p.add_argument("--out", default=None,
                   help="also write the markdown table here (default: print it only)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hdpmusic.evaluation.interpretability import format_table, interpret_model

    rows = interpret_model(args.model, args.task, top_components=args.top_components,
                           top_tags=args.top_tags, method=args.method, prior=args.prior,
                           device=args.device)
    table = format_table(rows, method=args.method)
    print(table, end="")
    if args.out:
        with atomic_path(args.out) as tmp:
            tmp.write_text(table)
    return 0
