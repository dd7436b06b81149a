"""``hdpmusic transform``: song-level representations of a corpus from a fitted model.

The checkpoint header names the model; the model's ``transform`` gets only the options
it accepts (HDPGMM: ``kind``, ``log``, ``min_weight``, ``batch_size``; VQ: ``log``,
``batch_size``; G1: ``batch_size``), and an option given for a model that does not take
it is an error, and so is a corpus extracted with other feature settings than the
model's training corpus.
"""

from __future__ import annotations

import argparse
from typing import Any

from hdpmusic.cli._inputs import open_corpus, refuse_audio_root
from hdpmusic.cli._types import positive_int, unit_share
from hdpmusic.formats.atomic import check_output
from hdpmusic.model.kinds import EMBED_KIND, KINDS
from hdpmusic.representations.registry import load_model, model_input


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "transform", help="song representations from a fitted model",
        description="Write one vector per song of CORPUS (ids x dims) to --out. Audio "
                    "models (kim, clmr) read the audio files named by the corpus ids.")
    p.add_argument("model", help="model file from `hdpmusic fit`")
    p.add_argument("corpus", help="corpus .h5")
    p.add_argument("--out", required=True, help="representation .h5 to write")
    add_transform_options(p)
    p.add_argument("--audio-root", default=None,
                   help="audio models: the folder the corpus ids are relative to, or the "
                        "list file given to `hdpmusic extract` (default: what extract "
                        "recorded)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.set_defaults(func=run)


def add_transform_options(p: argparse.ArgumentParser) -> None:
    """``--kind``, ``--min-weight``, ``--no-log``, ``--batch-size`` and ``--device`` (read
    by :func:`transform_options` and the model loading)."""

    p.add_argument("--kind", choices=KINDS, default=None,
                   help="HDPGMM representation: the study's posterior, the song's "
                        "responsibility or loglik shares, or the improved Fisher vector "
                        "(fisher: 1 + 2d values per component, fisher-mean: 1 + d) "
                        f"(default: {EMBED_KIND})")
    p.add_argument("--min-weight", type=unit_share, default=None, metavar="W",
                   help="HDPGMM: keep only components whose corpus weight E[beta_k] is at "
                        "least W (default: every live component)")
    p.add_argument("--no-log", action="store_true",
                   help="HDPGMM share kinds, VQ: skip log(max(y, 1e-8)) (the Fisher kinds "
                        "are never logged)")
    p.add_argument("--batch-size", type=positive_int, default=None, metavar="N",
                   help="songs per batch (default: the model's)")
    p.add_argument("--device", default=None,
                   help="torch device (default: the one saved with the model)")


def run(args: argparse.Namespace) -> int:
    from hdpmusic.pipeline.transform import transform_corpus, write_representations

    check_output(args.out, {"the model file": args.model, "the corpus": args.corpus})
    name, model = load_model(args.model, device=args.device)
    refuse_audio_root(name, args.audio_root)
    if hasattr(model, "verbose"):
        model.verbose = not args.quiet          # the progress bars of transform
    options = transform_options(name, model, args)
    frames = model_input(name) == "frames"
    corpus = open_corpus(args.corpus, "transform",
                         dim=getattr(model, "n_features_in_", None) if frames else None)
    X = transform_corpus(name, model, corpus, options=options, audio_root=args.audio_root,
                         model_path=args.model)
    write_representations(args.out, corpus.ids, X, name=name, model=model, options=options,
                          source=args.model, attrs={"corpus": args.corpus},
                          overwrite=args.overwrite)
    print(f"wrote {args.out}: {X.shape[0]} songs x {X.shape[1]} dims")
    return 0


def transform_options(name: str, model: Any, args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of ``model.transform`` set by the command line
    (:func:`hdpmusic.pipeline.transform.transform_options` of ``--kind``, ``--no-log``,
    ``--min-weight`` and ``--batch-size``); ``model`` may be the model or its class."""
    from hdpmusic.pipeline import transform

    return transform.transform_options(name, model, kind=args.kind,
                                       log=False if args.no_log else None,
                                       min_weight=args.min_weight,
                                       batch_size=args.batch_size)
