"""``hdpmusic extract``: features of an audio collection into a corpus file."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "extract", help="audio files -> 52-d frame features in a corpus file",
        description="Extract 13 MFCC, delta, delta-delta, log onset strength and 12 log "
                    "chroma per frame (librosa defaults, 22.05 kHz, hop 512) of every audio "
                    "file of a directory or list file (lines: path[<TAB>id]). Tracks are "
                    "cached one by one; a second run skips finished tracks.")
    p.add_argument("source", metavar="AUDIO_DIR_OR_LIST")
    p.add_argument("--out", required=True, help="corpus .h5 to write")
    p.add_argument("--jobs", type=int, default=1, help="worker processes (-1: all cores)")
    p.add_argument("--cache", default=None, help="feature cache folder (default: OUT.cache)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--dask-scheduler", default=None, metavar="ADDRESS",
                   help="run the per-track jobs on a dask.distributed cluster")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import contextlib

    from hdpmusic.extract import extract_collection

    context: contextlib.AbstractContextManager = contextlib.nullcontext()
    backend = None
    if args.dask_scheduler:
        try:
            from dask.distributed import Client
        except ImportError:
            from hdpmusic.errors import HdpmusicError

            raise HdpmusicError("--dask-scheduler needs dask.distributed: "
                                "pip install 'dask[distributed]'") from None
        context, backend = Client(args.dask_scheduler), "dask"
    with context:
        report = extract_collection(args.source, args.out, jobs=args.jobs, cache=args.cache,
                                    overwrite=args.overwrite, progress=not args.quiet,
                                    backend=backend)
    print(f"{report.corpus}: {report.n_ok} tracks ({report.n_cached} from the cache)"
          + (f", {report.n_failed} failed (see {report.failures})" if report.n_failed else ""))
    return 0
