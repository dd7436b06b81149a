"""The ``hdpmusic`` command.

Each verb lives in its own module under :mod:`hdpmusic.cli` (found automatically;
modules whose name starts with ``_`` are helpers) and exposes
``register(subparsers)``, which adds a sub-parser whose ``func`` default is called with
the parsed arguments and returns an exit status. Verbs import their heavy dependencies
inside ``func`` so that ``hdpmusic --help`` is instant.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import logging
import pkgutil
import sys
import warnings
from collections.abc import Sequence
from typing import TextIO

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from hdpmusic import __version__
from hdpmusic.cli._options import DefaultsHelpFormatter
from hdpmusic.cli._types import positive_int
from hdpmusic.runtime.devices import compute_device
from hdpmusic.runtime.errors import HdpmusicError
from hdpmusic.runtime.progress import silenced
from hdpmusic.runtime.threads import configure

QUIET_HELP = "no progress bars or progress messages"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hdpmusic",
        description="Music representation learning with HDPGMM and its baselines.",
        formatter_class=DefaultsHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"hdpmusic {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help=QUIET_HELP)
    parser.add_argument("--threads", type=positive_int, default=None, metavar="N",
                        help="CPU threads of every stage: torch, BLAS, numba, and worker "
                             "processes for --jobs -1 (default: HDPMUSIC_THREADS, else "
                             "OMP_NUM_THREADS, else the CPUs this process may use)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}").register(subparsers)
    _add_quiet(parser)
    for each in all_parsers(parser):
        each.formatter_class = DefaultsHelpFormatter   # every option's help: its default
        each.set_defaults(verb_parser=each)            # the deepest parser used wins
    return parser


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse a command line; an unknown argument is the error of the verb it was given to
    (with that verb's usage), naming the options it may have meant.

    Raises
    ------
    SystemExit
        Status 2 after argparse's usage message, as :meth:`argparse.ArgumentParser.error`.
    """
    args, extra = parser.parse_known_args(argv)
    if extra:
        verb = getattr(args, "verb_parser", parser)
        known = list(verb._option_string_actions)
        meant = [match for token in extra if token.startswith("--")
                 for match in difflib.get_close_matches(token.split("=")[0], known, n=1)]
        hint = f" (did you mean {', '.join(dict.fromkeys(meant))}?)" if meant else ""
        verb.error(f"unrecognized arguments: {' '.join(extra)}{hint}")
    return args


def subparsers_of(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """The sub-parsers directly under ``parser`` (each once, aliases included)."""
    found: dict[int, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found.update((id(p), p) for p in action.choices.values())
    return list(found.values())


def all_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """``parser`` and every sub-parser below it, at any depth (``prepare folder``)."""
    found = [parser]
    for sub in subparsers_of(parser):
        found.extend(all_parsers(sub))
    return found


def _add_quiet(parser: argparse.ArgumentParser) -> None:
    """Accept ``-q`` after every verb too (``hdpmusic transform ... -q``).

    The sub-parsers' flag has no default, so that it never resets a ``-q`` given before
    the verb.
    """
    for sub in subparsers_of(parser):
        sub.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                         help=QUIET_HELP)
        _add_quiet(sub)


def check_device(args: argparse.Namespace) -> None:
    """Refuse a ``--device`` no hdpmusic code can run on, before any work.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line; verbs without ``--device`` (or that leave it unset)
        pass.

    Raises
    ------
    hdpmusic.runtime.errors.ParameterError
        As :func:`hdpmusic.runtime.devices.compute_device` (``mps``, ``meta``, a missing GPU).
    """
    device = getattr(args, "device", None)
    if device is not None:

        compute_device(device)


def show_warning(message: Warning | str, category: type[Warning], filename: str,
                 lineno: int, file: TextIO | None = None, line: str | None = None) -> None:
    """Print a warning the way the verbs print theirs: one line, ``warning: MESSAGE``,
    without the Python file, line and source line of :func:`warnings.showwarning`
    (whose signature this is), above any progress bar (``tqdm.write``)."""
    tqdm.write(f"warning: {message}", file=sys.stderr if file is None else file)


def configure_logging(quiet: bool) -> None:
    """hdpmusic's own messages at INFO (WARNING with ``quiet``), other libraries' at
    WARNING: matplotlib's font notes and the like stay out of the user's terminal."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("hdpmusic").setLevel(logging.WARNING if quiet else logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parse(parser, argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)   # as typed: provenance
    if args.command is None:
        parser.print_help()
        return 0
    configure_logging(args.quiet)
    try:
        configure(args.threads)
        check_device(args)
        with silenced(args.quiet), warnings.catch_warnings(), logging_redirect_tqdm():
            warnings.showwarning = show_warning
            return int(args.func(args) or 0)
    except HdpmusicError as err:
        print(f"hdpmusic: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("hdpmusic: interrupted", file=sys.stderr)
        return 130
