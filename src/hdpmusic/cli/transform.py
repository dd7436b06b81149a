"""``hdpmusic transform``: song-level representations of a corpus from a fitted model.

The checkpoint header names the model; the model's ``transform`` gets only the options
it accepts (HDPGMM: ``kind``, ``log``, ``min_weight``, ``batch_size``; VQ: ``log``,
``batch_size``; G1: ``batch_size``), and an option given for a model that does not take
it is an error, and so is a corpus extracted with other feature settings than the
model's training corpus.
"""

from __future__ import annotations

import argparse
import inspect
from typing import Any

from hdpmusic.cli._inputs import open_corpus
from hdpmusic.cli._types import positive_int
from hdpmusic.runtime.errors import ParameterError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "transform", help="song representations from a fitted model",
        description="Write one vector per song of CORPUS (ids x dims) to --out. Audio "
                    "models (kim, clmr) read the audio files named by the corpus ids.")
    p.add_argument("model", help="model file from `hdpmusic fit`")
    p.add_argument("corpus", help="corpus .h5")
    p.add_argument("--out", required=True, help="representation .h5 to write")
    add_transform_options(p, default_kind="posterior")
    p.add_argument("--audio-root", default=None,
                   help="audio models: the folder the corpus ids are relative to, or the "
                        "list file given to `hdpmusic extract` (default: what extract "
                        "recorded)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.set_defaults(func=run)


def add_transform_options(p: argparse.ArgumentParser, *, default_kind: str) -> None:
    """``--kind``, ``--min-weight``, ``--no-log``, ``--batch-size`` and ``--device`` (read
    by :func:`transform_options` and the model loading); ``default_kind`` is the HDPGMM
    kind without ``--kind``."""
    from hdpmusic.model.kinds import KINDS

    p.add_argument("--kind", choices=KINDS, default=None,
                   help="HDPGMM representation: the study's posterior, the song's "
                        "responsibility or loglik shares, or the improved Fisher vector "
                        "(fisher: 2d values per component, fisher-mean: d) "
                        f"(default: {default_kind})")
    p.set_defaults(default_kind=default_kind)
    p.add_argument("--min-weight", type=float, default=None, metavar="W",
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
    from hdpmusic.audio.extract import audio_paths
    from hdpmusic.audio.features import check_feature_config
    from hdpmusic.formats.atomic import check_output
    from hdpmusic.formats.representations import Representations
    from hdpmusic.representations.registry import load_model, model_input, representation_attrs

    check_output(args.out, {"the model file": args.model, "the corpus": args.corpus})
    name, model = load_model(args.model, device=args.device)
    if hasattr(model, "verbose"):
        model.verbose = not args.quiet          # the progress bars of transform
    options = transform_options(name, model, args)
    if model_input(name) == "audio":
        corpus = open_corpus(args.corpus, "transform")
        data: Any = audio_paths(corpus, args.audio_root)
    else:
        if args.audio_root is not None:
            raise ParameterError(f"--audio-root applies to audio models only, not {name}")
        corpus = open_corpus(args.corpus, "transform",
                             dim=getattr(model, "n_features_in_", None))
        check_feature_config(model, corpus.attrs.get("feature_config"),
                             model_path=args.model, data=args.corpus)
        data = corpus
    X = model.transform(data, **options)
    attrs = {**representation_attrs(name, model, options), "source": args.model,
             "corpus": args.corpus}
    Representations(corpus.ids, X, attrs).save(args.out, overwrite=args.overwrite)
    print(f"wrote {args.out}: {X.shape[0]} songs x {X.shape[1]} dims")
    return 0


def transform_options(name: str, model: Any, args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of ``model.transform`` set by the command line.

    ``model`` may be the model or its class (only the signature of ``transform`` is read).

    ``kind`` (``args.kind``, else ``args.default_kind``) and ``log`` are always passed to
    a model that takes them (so that the representation file records them; ``log`` is
    False with ``--no-log``, else the model's default), ``min_weight`` and
    ``batch_size`` when given.

    Raises
    ------
    ParameterError
        ``--kind``, ``--min-weight``, ``--no-log`` or ``--batch-size`` for a model that
        does not take it.
    """
    accepted = inspect.signature(model.transform).parameters
    options: dict[str, Any] = {}
    if "kind" in accepted:
        options["kind"] = args.kind or args.default_kind
    elif args.kind is not None:
        raise ParameterError(f"--kind applies to hdpgmm models, not {name}")
    if "log" in accepted:
        options["log"] = False if args.no_log else accepted["log"].default
    elif args.no_log:
        raise ParameterError(f"--no-log does not apply to {name} models")
    if args.min_weight is not None:
        if "min_weight" not in accepted:
            raise ParameterError(f"--min-weight applies to hdpgmm models, not {name}")
        options["min_weight"] = args.min_weight
    if args.batch_size is not None:
        if "batch_size" not in accepted:
            raise ParameterError(f"--batch-size does not apply to {name} models")
        options["batch_size"] = args.batch_size
    return options
