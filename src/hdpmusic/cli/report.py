"""``hdpmusic report``: tables, plots, a components section and an HTML/markdown report."""

from __future__ import annotations

import argparse

from hdpmusic.cli._types import positive_int, seconds
from hdpmusic.formats.atomic import check_output_folder


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "report", help="tables, plots and HDPGMM components from results and model files",
        description="Write report.md and report.html with the main table (models × tasks, "
                    "mean ± SD, best per task in bold), dot plots of every run's score "
                    "against the chance level, learning-factor plots (η0, corpus size) "
                    "when the results record them, the training trace and weights of the "
                    "given HDPGMM models and, with --components-corpus, a section per "
                    "model on its most loaded components: their weight, the tags (or "
                    "genres) most enriched among their songs, the songs loading on them "
                    "most, a feature profile and a playable audio excerpt.")
    p.add_argument("results", nargs="*",
                   help="results.json files or directories holding them")
    p.add_argument("--models", nargs="+", default=None, metavar="MODEL",
                   help="HDPGMM model files whose training traces are plotted (default: "
                        "none)")
    p.add_argument("--components-corpus", default=None, metavar="CORPUS",
                   help="corpus .h5 of songs (a task file: its tags or genres name the "
                        "components) for the components section of each model (default: "
                        "no components section)")
    p.add_argument("--top-components", type=positive_int, default=8,
                   help="components shown per model")
    p.add_argument("--excerpt-seconds", type=seconds, default=3.0,
                   help="seconds of each component's audio excerpt")
    p.add_argument("--audio-root", default=None, metavar="DIR|LIST",
                   help="where the corpus's audio files are (default: what extract "
                        "recorded in the corpus)")
    p.add_argument("--no-audio", action="store_true", help="write no audio excerpts")
    p.add_argument("--out", required=True,
                   help="report folder, written whole once the report is done (an existing "
                        "one that holds files needs --overwrite)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing --out folder and every file in it")
    p.add_argument("--title", default="hdpmusic report",
                   help="title of the report")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import shlex

    from hdpmusic.report import ComponentsOptions, write_report

    inputs = {"the results": args.results, "a model": args.models,
              "the components corpus": [args.components_corpus],
              "the audio": [args.audio_root]}
    check_output_folder(args.out, overwrite=args.overwrite, what="the report",
                        inputs={f"{what} {path}": path for what, paths in inputs.items()
                                for path in paths or [] if path is not None})
    components = None
    if args.components_corpus:
        components = ComponentsOptions(args.components_corpus,
                                       top_components=args.top_components,
                                       seconds=args.excerpt_seconds, audio=not args.no_audio,
                                       audio_root=args.audio_root)
    md, html = write_report(args.results, args.out, model_paths=args.models or [],
                            components=components, title=args.title,
                            command=shlex.join(["hdpmusic", *args.argv]))
    print(f"wrote {md} and {html}")
    return 0
