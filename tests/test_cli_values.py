"""Every count and size option of every verb is checked as it is typed, the same way: a
whole number >= 1 (or its documented range), refused by argparse (exit status 2) with
the option named on one line, before any work (issue 18, item 1).

``transform --batch-size -1`` used to write NaN vectors and ``0`` silently meant the
default; other verbs' counts took any integer."""

import pytest

from hdpmusic.cli import all_parsers, build_parser

#: The options where 0 or -1 means something, with what (a phrase of their help);
#: None: a seed, for which 0 is a seed like any other.
MEANINGFUL = {
    "--jobs": {"-1": "-1: one per CPU"},
    "--checkpoint-every": {"0": "0: hdpgmm at epoch ends"},
    "--num-workers": {"0": "0: in the main process"},
    "--filter-rounds": {"0": "0: to a fixed point"},
    "--seed": {"0": None},
    "--subset-seed": {"0": None},
}
#: What every whole-number option gets typed at it
BAD = ("0", "-1", "1.5", "abc")


def _whole(action):
    """Whether ``action`` takes whole numbers (one, or a comma-separated list)."""
    if action.type is None or not action.option_strings:
        return False
    try:
        value = action.type("2,3" if action.dest == "channels" else "2")
    except Exception:
        return False
    if isinstance(value, tuple):
        return all(isinstance(v, int) for v in value)
    return isinstance(value, int) and not isinstance(value, bool)


def whole_options():
    """(parser, action) of every whole-number option of every parser, nested verbs too."""
    return [(parser, action) for parser in all_parsers(build_parser())
            for action in parser._actions if _whole(action)]


def refused(argv, option, capsys):
    """``argv`` ends argparse with status 2 and a one-line error naming ``option``."""
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args(argv)
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert done.value.code == 2, err
    assert f"error: argument {option}: expected " in last, err
    return last


def test_the_walk_finds_the_counts_of_every_verb():
    found = {(p.prog, a.option_strings[-1]) for p, a in whole_options()}
    assert {("hdpmusic", "--threads"), ("hdpmusic transform", "--batch-size"),
            ("hdpmusic embed", "--batch-size"), ("hdpmusic embed", "--chunk-songs"),
            ("hdpmusic evaluate", "--runs"), ("hdpmusic evaluate", "--cv"),
            ("hdpmusic fit", "--n-components"), ("hdpmusic fit", "--channels"),
            ("hdpmusic experiment sweep", "--epochs"), ("hdpmusic interpret", "--top-tags"),
            ("hdpmusic report", "--top-components"), ("hdpmusic prepare mtat", "--n-tags"),
            ("hdpmusic prepare msd", "--subsample"), ("hdpmusic extract", "--jobs"),
            } <= found
    options = {option for _, option in found}
    assert set(MEANINGFUL) <= options, "an exception names an option that is gone"


@pytest.mark.parametrize("parser, action", whole_options(),
                         ids=lambda x: getattr(x, "prog", None) or x.option_strings[-1])
def test_every_count_refuses_what_no_run_can_use(parser, action, capsys):
    option = action.option_strings[-1]
    verb = parser.prog.split()[1:]
    meaningful = MEANINGFUL.get(option, {})
    for value in BAD:
        if value in meaningful:
            action.type(value)                          # accepted, and its help says why
            if meaningful[value] is not None:
                assert meaningful[value] in action.help, (option, action.help)
            continue
        last = refused([*verb, option, value], option, capsys)
        assert repr(value) in last, last


@pytest.mark.parametrize("argv, message", [
    (["evaluate", "--cv", "1"], "--cv: expected a whole number >= 2, got '1'"),
    (["fit", "--channels", "16,0"], "--channels: expected"),
    (["fit", "--channels", "16"], "at least 2"),
    (["extract", "--jobs", "0"], "or -1 (one per CPU"),
    (["fit", "--checkpoint-every", "-1"], "or 0 ("),
    (["--threads", "0"], "--threads: expected a whole number >= 1, got '0'"),
    (["fit", "--seed", "-1"], "--seed: expected a whole number from 0 to 4294967295"),
])
def test_the_range_is_named(argv, message, capsys):
    option = argv[-2]
    assert message in refused(argv, option, capsys)


@pytest.mark.parametrize("verb, option, bad, good", [
    (["extract"], "--timeout", ("-1", "nan", "inf", "abc"), ("0", "1.5", "600")),
    (["report"], "--excerpt-seconds", ("0", "-1", "nan", "inf", "abc"), ("1.5", "3")),
    (["fit"], "--tol", ("-1", "nan", "inf"), ("0", "2e-4")),
    (["fit"], "--tau0", ("-1", "inf"), ("0", "64")),
])
def test_durations_and_tolerances_are_finite_and_in_range(verb, option, bad, good, capsys):
    for value in bad:
        refused([*verb, option, value], option, capsys)
    [parser] = [p for p in all_parsers(build_parser())
                if p.prog == " ".join(["hdpmusic", *verb])]
    [action] = [a for a in parser._actions if option in a.option_strings]
    for value in good:
        action.type(value)


def test_one_definition_of_every_numeric_type():
    """Every typed option takes its type from hdpmusic.cli._types (no bare int)."""
    for parser, action in whole_options():
        assert getattr(action.type, "__module__", None) == "hdpmusic.cli._types", \
            (parser.prog, action.option_strings, action.type)


def number_options():
    """(parser, action) of every option that takes a real number."""
    found = []
    for parser in all_parsers(build_parser()):
        for action in parser._actions:
            if action.option_strings and action.type is not None and not _whole(action):
                try:
                    value = action.type("0.5")
                except Exception:
                    continue
                if isinstance(value, float):
                    found.append((parser, action))
    return found


def test_no_option_takes_an_unchecked_float():
    """Every real-number option has a range type (plain ``float`` takes nan and inf)."""
    plain = [f"{p.prog} {a.option_strings[-1]}" for p, a in number_options() if a.type is float]
    assert plain == []
    found = {(p.prog, a.option_strings[-1]) for p, a in number_options()}
    assert {("hdpmusic fit", "--kappa"), ("hdpmusic fit", "--eta0"),
            ("hdpmusic transform", "--min-weight"), ("hdpmusic interpret", "--prior"),
            ("hdpmusic experiment compare", "--eta0")} <= found


@pytest.mark.parametrize("parser, action", number_options(),
                         ids=lambda x: getattr(x, "prog", None) or x.option_strings[-1])
def test_every_number_option_refuses_nan_inf_and_words(parser, action):
    for bad in ("nan", "inf", "-inf", "abc"):
        with pytest.raises(Exception, match="expected"):
            action.type(bad)


@pytest.mark.parametrize("argv, option, message", [
    (["fit", "c.h5", "--out", "m", "--kappa", "1.5"], "--kappa", "a number in [0, 1]"),
    (["fit", "c.h5", "--out", "m", "--eta0", "1"], "--eta0", "a number in [0, 1)"),
    (["fit", "c.h5", "--out", "m", "--gamma", "0"], "--gamma", "a finite number > 0"),
    (["transform", "m", "c.h5", "--out", "r", "--min-weight", "-0.1"], "--min-weight",
     "a number in [0, 1)"),
])
def test_number_options_refuse_values_outside_their_range(argv, option, message, capsys):
    last = refused(argv, option, capsys)
    assert message in last
