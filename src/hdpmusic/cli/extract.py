"""``hdpmusic extract``: features of an audio collection into a corpus file."""

from __future__ import annotations

import argparse

from hdpmusic.audio.extract import extract_collection
from hdpmusic.cli._options import add_jobs, add_recompute
from hdpmusic.cli._types import Number
from hdpmusic.runtime.errors import HdpmusicError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "extract", help="audio files -> 52-d frame features in a corpus file",
        description="Extract 13 MFCC, delta, delta-delta, log onset strength and 12 log "
                    "chroma per frame (librosa defaults, 22.05 kHz, hop 512) of every audio "
                    "file of a directory (ids: paths relative to it), a list file (lines: "
                    "path[<TAB>id]) or one audio file, and pack them into a corpus file. "
                    "Tracks are cached one by one; a rerun (after a kill, or with more "
                    "audio) skips finished tracks whose audio file is unchanged. Failed "
                    "tracks (unreadable, truncated or silent audio, names that are not "
                    "UTF-8, tracks past --timeout) are listed in CACHE/failures.jsonl; "
                    "the command fails only if every track failed. Files that are not "
                    "regular files (a FIFO) are skipped with a warning.")
    p.add_argument("source", metavar="AUDIO_DIR_OR_LIST")
    p.add_argument("--out", required=True, metavar="CORPUS.h5", help="corpus file to write")
    add_jobs(p)
    p.add_argument("--cache", default=None, metavar="DIR",
                   help="feature cache folder (default: OUT.cache beside OUT)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing --out; its tracks still come from the cache "
                        "(--recompute computes them again, which --overwrite used to do)")
    add_recompute(p)
    p.add_argument("--hash", action="store_true",
                   help="recognise unchanged audio files by a hash of their content "
                        "(reads each file once more) instead of their size and "
                        "modification time, e.g. after copying the collection")
    p.add_argument("--timeout", type=Number(0.0, strict=True, special={0: "no limit"}),
                   default=None, metavar="SECONDS",
                   help="seconds a track may take before it is listed as failed (default "
                        "600; 0: no limit)")
    p.add_argument("--dask-scheduler", default=None, metavar="ADDRESS",
                   help="run the per-track jobs on a dask.distributed cluster (default: "
                        "worker processes on this machine)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import contextlib


    context: contextlib.AbstractContextManager = contextlib.nullcontext()
    backend = None
    if args.dask_scheduler:
        try:
            from dask.distributed import Client
        except ImportError:
            raise HdpmusicError("--dask-scheduler needs dask.distributed: "
                                "pip install 'dask[distributed]'") from None
        context, backend = Client(args.dask_scheduler), "dask"
    with context:
        report = extract_collection(args.source, args.out, jobs=args.jobs, cache=args.cache,
                                    overwrite=args.overwrite, recompute=args.recompute,
                                    content_hash=args.hash, progress=not args.quiet,
                                    backend=backend, **_timeout(args))
    print(f"{report.corpus}: {report.n_ok} tracks ({report.n_computed} computed, "
          f"{report.n_cached} from the cache)"
          + (f", {report.n_failed} failed (see {report.failures})" if report.n_failed else ""))
    return 0



def _timeout(args: argparse.Namespace) -> dict:
    """``timeout=`` for :func:`~hdpmusic.audio.extract.extract_collection` when given."""
    return {} if args.timeout is None else {"timeout": args.timeout}
