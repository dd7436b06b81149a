"""``hdpmusic transform``: song-level representations of a corpus from a fitted model."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "transform", help="song representations from a fitted model",
        description="Write one vector per song of CORPUS (ids x dims) to --out.")
    p.add_argument("model", help="model file from `hdpmusic fit`")
    p.add_argument("corpus", help="corpus .h5")
    p.add_argument("--out", required=True, help="representation .h5 to write")
    p.add_argument("--kind", choices=["posterior", "responsibility", "loglik"],
                   default="posterior", help="HDPGMM representation (default: posterior)")
    p.add_argument("--no-log", action="store_true", help="HDPGMM: skip log(max(y, 1e-8))")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--device", default=None, help="override the model's device")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hdpmusic.checkpoint import read_header
    from hdpmusic.corpus import Corpus
    from hdpmusic.registry import model_class
    from hdpmusic.representations import Representations

    name = read_header(args.model)["model"]
    cls = model_class(name)
    model = cls.load(args.model, device=args.device)
    corpus = Corpus.open(args.corpus, dim=getattr(model, "n_features_in_", None))
    X = model.transform(corpus, kind=args.kind, log=not args.no_log, batch_size=args.batch_size)
    attrs = {"model": name, "kind": args.kind, "log": not args.no_log, "source": args.model,
             "corpus": args.corpus}
    Representations(corpus.ids, X, attrs).save(args.out, overwrite=args.overwrite)
    print(f"wrote {args.out}: {X.shape[0]} songs x {X.shape[1]} dims")
    return 0
