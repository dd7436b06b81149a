"""Messages a person can act on: what a verb expects and what it was given instead, no
raw tracebacks for missing or foreign files, help on every option, ``-q`` anywhere."""

import argparse
import ast
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from audio_gen import write_tone
from cli_checks import one_line_error, tiny_fitted
from hdpmusic import Representations
from hdpmusic.cli import build_parser, main, subparsers_of
from hdpmusic.formats.checkpoint import load_checkpoint
from hdpmusic.formats.filekind import describe
from hdpmusic.runtime.errors import FormatError, HdpmusicError

SRC = Path(__file__).resolve().parents[1] / "src" / "hdpmusic"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A corpus, a fitted model, its representations, a WAV and a text file."""
    root = tmp_path_factory.mktemp("messages")
    corpus, model = tiny_fitted(root)
    reps = root / "reps.h5"
    assert main(["-q", "transform", str(model), str(corpus), "--out", str(reps)]) == 0
    wav = write_tone(root / "song.wav", seconds=0.2)
    text = root / "notes.txt"
    text.write_text("song ids, one per line\ns0\ns1\n")
    return {"corpus": corpus, "model": model, "reps": reps, "wav": Path(wav), "text": text}



@pytest.mark.parametrize("given, kind", [
    ("wav", "is an audio file (WAV)"), ("text", "is a text file"),
    ("model", "is a model file (hdpgmm, from `hdpmusic fit`)"),
    ("reps", "is a representation file (from `hdpmusic transform`)"),
])
def test_fit_says_what_it_expects_and_what_it_got(files, tmp_path, capsys, given, kind):
    assert main(["fit", str(files[given]), "--out", str(tmp_path / "m.hdp")]) == 1
    err = one_line_error(capsys, kind,
                         "`hdpmusic fit` expects a corpus .h5 made by `hdpmusic extract` or "
                         "`hdpmusic prepare`")
    assert "corrupt" not in err and "DESIGN" not in err


def test_no_design_references_in_messages():
    """Users have no design notes outside the package: no string but a docstring cites one."""
    found = []
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text())
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
                      and node.body and isinstance(node.body[0], ast.Expr)}
        found += [f"{path.name}:{node.lineno}" for node in ast.walk(tree)
                  if isinstance(node, ast.Constant) and isinstance(node.value, str)
                  and "DESIGN" in node.value and id(node) not in docstrings]
    assert not found


def test_missing_model_files_are_one_line_errors(files, tmp_path, capsys):
    missing = tmp_path / "nothing.hdp"
    assert main(["transform", str(missing), str(files["corpus"]), "--out",
                 str(tmp_path / "r.h5")]) == 1
    one_line_error(capsys, f"model file {missing} does not exist")
    assert main(["report", "--models", str(missing), "--out", str(tmp_path / "rep")]) == 1
    one_line_error(capsys, f"model file {missing} does not exist")


def test_checkpoint_with_missing_header_fields(files, tmp_path, capsys):
    payload = torch.load(files["model"], weights_only=True)
    header = json.loads(payload["header"])
    del header["position"]
    broken = tmp_path / "broken.hdp"
    torch.save({**payload, "header": json.dumps(header)}, broken)
    assert main(["transform", str(broken), str(files["corpus"]), "--out",
                 str(tmp_path / "r.h5")]) == 1
    one_line_error(capsys, f"{broken}: the checkpoint lacks the field 'position'")
    del payload["tensors"]["prior.m0"]
    torch.save(payload, broken)
    with pytest.raises(FormatError, match="lacks the tensor 'prior.m0'"):
        load_checkpoint(broken)[1]["prior.m0"]


def test_not_a_checkpoint_never_advises_unsafe_loading(files, tmp_path, capsys):
    foreign = tmp_path / "foreign.pt"
    torch.save(argparse.Namespace(weights=[1, 2]), foreign)   # needs pickle to load
    assert main(["transform", str(foreign), str(files["corpus"]), "--out",
                 str(tmp_path / "r.h5")]) == 1
    err = one_line_error(capsys, "is not an hdpmusic model file",
                         "a PyTorch file that is not an hdpmusic model")
    assert "weights_only" not in err
    for given, kind in (("wav", "an audio file"), ("reps", "a representation file")):
        assert main(["transform", str(files[given]), str(files["corpus"]), "--out",
                     str(tmp_path / "r.h5")]) == 1
        one_line_error(capsys, "is not an hdpmusic model file", kind)


def test_object_array_npz_is_a_clear_error(files, tmp_path, capsys):
    bad = tmp_path / "reps.npz"
    np.savez(bad, ids=np.array([f"s{j}" for j in range(6)], dtype=object),
             X=np.zeros((6, 2)))
    with pytest.raises(FormatError, match="arrays of Python objects"):
        Representations.load(bad)
    fine = tmp_path / "fine.npz"
    np.savez(fine, ids=np.array([f"s{j}" for j in range(6)]), X=np.zeros((6, 2)))
    assert Representations.load(fine).ids[0] == "s0"
    text = tmp_path / "text.npz"
    text.write_text("ids,X\n")
    with pytest.raises(FormatError, match="is not an .npz archive: it is a text file"):
        Representations.load(text)
    with pytest.raises(HdpmusicError, match="does not exist"):
        Representations.load(tmp_path / "none.npz")


def test_describe_files(files, tmp_path):
    assert describe(files["corpus"]) == "a corpus file"
    assert describe(tmp_path) == "a folder"
    assert describe(tmp_path / "none") == "missing"
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert describe(empty) == "an empty file"
    binary = tmp_path / "blob.bin"
    binary.write_bytes(bytes(range(256)))
    assert describe(binary) == "a file of unknown type"


def all_parsers(parser, name="hdpmusic"):
    yield name, parser
    for sub in subparsers_of(parser):
        yield from all_parsers(sub, sub.prog)


#: cli/extract.py is edited by the extraction work of the same issue; its positional
#: argument gets its help there (remove this entry then)
NOT_YET = {"hdpmusic extract source"}


def test_every_option_has_help():
    missing = {f"{name} {action.option_strings or action.dest}"
               for name, parser in all_parsers(build_parser())
               for action in parser._actions
               if not isinstance(action, argparse._SubParsersAction) and not action.help}
    assert missing <= NOT_YET


def test_quiet_after_the_verb_and_transform_honours_it(files, tmp_path, capsys):
    parser = build_parser()
    base = ["transform", "m", "c", "--out", "o"]
    assert parser.parse_args([*base, "-q"]).quiet and parser.parse_args(["-q", *base]).quiet
    assert not parser.parse_args(base).quiet
    assert parser.parse_args(["prepare", "gtzan", "--root", "r", "--out", "o", "-q"]).quiet
    assert parser.parse_args(["experiment", "sweep", "--train", "t", "--task", "x",
                              "--quiet"]).quiet
    capsys.readouterr()
    out = [str(files["model"]), str(files["corpus"]), "--overwrite", "--out",
           str(tmp_path / "r.h5")]
    assert main(["transform", *out]) == 0
    assert "transform" in capsys.readouterr().err        # its progress bar
    assert main(["transform", *out, "-q"]) == 0
    assert capsys.readouterr().err == ""


def test_demo_quick_help_claims_no_duration():
    demo = next(p for name, p in all_parsers(build_parser()) if name.endswith(" demo"))
    quick = next(a for a in demo._actions if "--quick" in a.option_strings)
    assert "minute" not in quick.help


def test_a_warning_is_one_line_without_python_source(files, tmp_path, capsys):
    """A verb's Python warning (here: too few online updates) reaches the user as one
    ``warning: ...`` line, not as a file:line header with a line of hdpmusic's source."""
    capsys.readouterr()
    assert main(["-q", "fit", str(files["corpus"]), "--out", str(tmp_path / "m.hdp"),
                 "--algorithm", "online", "--epochs", "1", "--n-components", "4",
                 "--n-song-components", "2", "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    (line,) = [x for x in err.splitlines() if "online inference will make" in x]
    assert line.startswith("warning: online inference will make 1 updates")
    assert "Warning:" not in err and ".py:" not in err and "model.fit(" not in err


@pytest.mark.parametrize("quiet, shown", [(False, ["pass 1"]), (True, [])])
def test_only_hdpmusic_s_own_progress_messages_reach_the_terminal(quiet, shown):
    """Other libraries' INFO notes (matplotlib's 'Substituting symbol ...' while drawing
    the report) stay out; hdpmusic's own show unless quiet."""
    import subprocess
    import sys

    code = ("import logging; from hdpmusic.cli import configure_logging; "
            f"configure_logging({quiet}); "
            "logging.getLogger('matplotlib.mathtext').info('Substituting symbol E'); "
            "logging.getLogger('hdpmusic.model.hdpgmm').info('pass 1')")
    err = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stderr
    assert err.splitlines() == shown
