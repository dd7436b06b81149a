"""The command line's shared options: every option's help states its default, and --jobs,
--recompute and --overwrite read the same in every verb (issue 18, item 18)."""

import argparse

import pytest

from hdpmusic.cli import all_parsers, build_parser
from hdpmusic.cli._options import DEFAULT_JOBS, DefaultsHelpFormatter


def options():
    """(parser, action) of every option of every parser, nested sub-parsers included."""
    found = []
    for parser in all_parsers(build_parser()):
        for action in parser._actions:
            if action.option_strings and action.default is not argparse.SUPPRESS:
                found.append((parser, action))
    return found


def shown_help(parser, action):
    """The help of ``action`` as ``PROG --help`` prints it (before wrapping)."""
    return parser._get_formatter()._expand_help(action)


def test_the_walk_reaches_nested_verbs():
    progs = {parser.prog for parser, _ in options()}
    assert {"hdpmusic", "hdpmusic extract", "hdpmusic prepare folder",
            "hdpmusic prepare table", "hdpmusic experiment sweep"} <= progs


@pytest.mark.parametrize("parser, action", options(),
                         ids=lambda x: getattr(x, "prog", None) or x.option_strings[-1])
def test_every_option_states_its_default(parser, action):
    assert parser.formatter_class is DefaultsHelpFormatter
    text = shown_help(parser, action)
    name = f"{parser.prog} {action.option_strings[-1]}"
    if action.nargs == 0 or action.default is False:
        return                                  # a flag: no default to state
    if action.default is None:
        if not action.required:
            assert "default" in text, f"{name}: say what leaving it out means: {text!r}"
        return
    assert f"(default: {action.default})" in text, f"{name}: {text!r}"
    assert text.count("default") == 1, f"{name} states its default twice: {text!r}"


def test_help_shows_a_default_once_and_not_those_of_flags(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["prepare", "folder", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "--jobs N worker processes; -1: one per CPU" in shown
    assert "track (default: -1)" in shown and "(default: 0)" in shown     # --seed
    assert "(default: False)" not in shown and "(default: None)" not in shown


@pytest.mark.parametrize("verb", [["extract"], ["embed"], ["prepare", "gtzan"],
                                  ["prepare", "folder"], ["prepare", "table"],
                                  ["prepare", "mtat"], ["prepare", "echonest"],
                                  ["prepare", "msd"], ["demo"]])
def test_jobs_has_one_default_everywhere(verb):
    [parser] = [p for p in all_parsers(build_parser())
                if p.prog == " ".join(["hdpmusic", *verb])]
    [jobs] = [a for a in parser._actions if "--jobs" in a.option_strings]
    assert jobs.default == DEFAULT_JOBS == -1


def test_recompute_in_every_verb_with_a_feature_cache_and_overwrite_only_replaces():
    parsers = {p.prog: p for p in all_parsers(build_parser())}
    for prog, parser in parsers.items():
        flags = {o: a for a in parser._actions for o in a.option_strings}
        if "--cache" in flags:
            assert "--recompute" in flags, f"{prog} caches features but has no --recompute"
            assert "from the feature cache" in flags["--recompute"].help
        if "--overwrite" in flags:
            assert flags["--overwrite"].help.startswith(("replace an existing --out",
                                                         "replace the results in an "
                                                         "existing --out")), prog
    assert "--recompute" in parsers["hdpmusic extract"].format_help()
    assert "--recompute" in " ".join(
        [a.help for a in parsers["hdpmusic extract"]._actions
         if "--overwrite" in a.option_strings])


def _stated_default(text):
    import re

    match = re.search(r"\(default:? ([^;)]+?)(?:[;)]| online| memoized)", text)
    return match.group(1).strip() if match else None


@pytest.mark.parametrize("model", ["hdpgmm", "g1", "vq", "kim", "clmr"])
def test_fit_help_states_the_estimators_own_defaults(model):
    """The defaults that `fit --help` states in words are the estimator's (the one place
    they live), so a change of a default cannot leave the help behind."""
    import inspect

    from hdpmusic.cli import fit as fit_cli
    from hdpmusic.representations.registry import model_class

    parser = next(p for p in all_parsers(build_parser()) if p.prog == "hdpmusic fit")
    params = inspect.signature(model_class(model)).parameters
    to_param = dict(fit_cli.HDPGMM_OPTIONS) if model == "hdpgmm" else {
        dest: next((c for c in candidates if c in params), None)
        for dest, (candidates, models) in fit_cli.BASELINE_OPTIONS.items() if model in models}
    checked = 0
    for action in parser._actions:
        param = to_param.get(action.dest)
        if param is None or param not in params:
            continue
        stated = _stated_default(shown_help(parser, action))
        default = params[param].default
        if stated is None or default is None or isinstance(default, bool):
            continue                                 # learned / a flag: said in words
        token = stated.split()[0].rstrip(",")
        if token == "the":                           # "the model's": nothing restated
            continue
        if isinstance(default, int | float):
            assert float(token) == default, (action.dest, stated, default)
        else:
            assert token == str(default), (action.dest, stated, default)
        checked += 1
    assert checked >= {"hdpgmm": 8, "g1": 1, "vq": 2, "kim": 3, "clmr": 1}[model]
