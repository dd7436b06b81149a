"""``hdpmusic embed``: audio files straight to song representations under a fitted model."""

from __future__ import annotations

import argparse

from hdpmusic.cli._options import add_jobs, add_recompute
from hdpmusic.cli._types import positive_int
from hdpmusic.cli.transform import add_transform_options, transform_options
from hdpmusic.formats.checkpoint import read_header
from hdpmusic.representations.registry import model_class


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "embed", help="audio files -> song representations in one pass",
        description="Write one vector per track of AUDIO_DIR_OR_LIST (ids as `hdpmusic "
                    "extract` gives them) under a fitted model to --out, in the format of "
                    "`hdpmusic transform`: extract followed by transform without a corpus "
                    "file, a chunk of songs at a time. Frame models (hdpgmm, g1, vq) cache "
                    "every track's features, so a rerun (after a kill, or with more audio) "
                    "computes only what is missing; failed tracks are left out and listed "
                    "in CACHE/failures.jsonl. Audio models (kim, clmr) read the files.")
    p.add_argument("model", help="model file from `hdpmusic fit`")
    p.add_argument("source", metavar="AUDIO_DIR_OR_LIST",
                   help="a folder of audio files, a list file (path[<TAB>id] lines) or "
                        "one audio file")
    p.add_argument("--out", required=True, metavar="REPS.h5",
                   help="representation file to write")
    add_transform_options(p)
    add_jobs(p, "feature extraction (audio models: decoding) processes")
    p.add_argument("--cache", default=None, metavar="DIR",
                   help="feature cache folder (default: OUT.cache beside OUT; the cache of "
                        "an earlier `hdpmusic extract` works too)")
    p.add_argument("--chunk-songs", type=positive_int, default=256, metavar="N",
                   help="songs extracted and embedded together; bounds memory")
    add_recompute(p, "frame models: ")
    p.add_argument("--hash", action="store_true",
                   help="frame models: recognise unchanged audio files by a hash of their "
                        "content, as `hdpmusic extract --hash` (give it when the cache was "
                        "made with --hash, or its features are recomputed)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hdpmusic.pipeline.embed import embed_collection

    name = read_header(args.model)["model"]
    options = transform_options(name, model_class(name), args)
    report = embed_collection(args.model, args.source, args.out, options=options,
                              device=args.device, cache=args.cache, jobs=args.jobs,
                              chunk_songs=args.chunk_songs, overwrite=args.overwrite,
                              recompute=args.recompute, content_hash=args.hash,
                              progress=not args.quiet)
    computed = (f" ({report.n_computed} extracted, {report.n_cached} from the cache)"
                if report.failures is not None else "")
    where = report.failures or ", ".join(report.failed_ids[:5])
    failed = f", {report.n_failed} failed (see {where})" if report.n_failed else ""
    print(f"wrote {report.out}: {report.n_ok} songs{computed}{failed}")
    return 0
