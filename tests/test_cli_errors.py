"""What a user gets wrong or runs into, each a one-line error with nothing half-written:
a full disk, an unwritable or folder ``--out``, values no run can use, unusable devices,
damaged inputs (deeply nested JSON, tampered checkpoints), and messages that point at
the right option, file or song."""

import os
import shutil
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest
import torch

from audio_gen import write_tone
from cli_checks import TINY, one_line_error, tiny_fitted
from hdpmusic.cli import main

_Usage = namedtuple("_Usage", "total used free")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A tiny corpus and an HDPGMM fitted on it."""
    root = tmp_path_factory.mktemp("errors")
    corpus, model = tiny_fitted(root)
    return {"corpus": corpus, "model": model}


def full_disk(monkeypatch, free=4096):
    """Every folder reports ``free`` bytes left."""
    monkeypatch.setattr(shutil, "disk_usage", lambda path: _Usage(1 << 30, 1 << 30, free))


def nothing_but(folder, *names):
    """The folder holds exactly these entries (no temporary, no partial output)."""
    assert sorted(os.listdir(folder)) == sorted(names), os.listdir(folder)


def test_fit_on_a_full_disk(files, tmp_path, capsys, monkeypatch):
    """torch reports a short write as a RuntimeError without errno: put down to the disk."""
    def short_write(obj, f, *args, **kwargs):
        Path(f).write_bytes(b"half a model")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos")

    full_disk(monkeypatch)
    monkeypatch.setattr(torch, "save", short_write)
    out = tmp_path / "out" / "m.hdp"
    for options in (TINY, ["--model", "g1"]):
        assert main(["-q", "fit", str(files["corpus"]), "--out", str(out), *options]) == 1
        one_line_error(capsys, f"cannot write {out}: no space left on device (4 KiB free")
        nothing_but(out.parent)


def test_transform_and_extract_on_a_full_disk(files, tmp_path, capsys, monkeypatch):
    """Refused before writing (HDF5 may crash the process after a failed write)."""
    write_tone(tmp_path / "audio" / "a.wav", seconds=0.2)
    assert main(["-q", "extract", str(tmp_path / "audio"), "--out",
                 str(tmp_path / "first.h5"), "--jobs", "1"]) == 0
    full_disk(monkeypatch)
    out = tmp_path / "out" / "r.h5"
    assert main(["-q", "transform", str(files["model"]), str(files["corpus"]), "--out",
                 str(out)]) == 1
    one_line_error(capsys, f"cannot write {out}: it needs about 1.0 MiB and",
                   "has 0.0 MiB free")
    nothing_but(out.parent)
    corpus = tmp_path / "out" / "c.h5"
    assert main(["-q", "extract", str(tmp_path / "audio"), "--out", str(corpus),
                 "--cache", str(tmp_path / "first.h5.cache"), "--jobs", "1"]) == 1
    one_line_error(capsys, f"cannot write {corpus}: it needs about")
    nothing_but(out.parent)


def test_a_write_refused_by_the_file_system_is_one_line(tmp_path):
    from hdpmusic.formats.atomic import atomic_path
    from hdpmusic.runtime.errors import HdpmusicError

    out = tmp_path / "x.txt"
    with pytest.raises(HdpmusicError, match=r"cannot write .*x.txt: Read-only file system"):
        with atomic_path(out) as tmp:
            tmp.write_text("partial")
            raise OSError(30, "Read-only file system")
    with pytest.raises(KeyError):   # not a write failure: kept as it is
        with atomic_path(out):
            raise KeyError("a bug")
    nothing_but(tmp_path)


@pytest.mark.parametrize("verb", ["fit", "fit-g1", "transform", "extract"])
def test_an_out_that_is_a_folder_is_refused_before_any_work(files, tmp_path, capsys, verb):
    folder = tmp_path / "results"
    (folder / "keep").mkdir(parents=True)
    argv = {"fit": ["fit", str(files["corpus"]), *TINY],
            "fit-g1": ["fit", str(files["corpus"]), "--model", "g1"],
            "transform": ["transform", str(files["model"]), str(files["corpus"])],
            "extract": ["extract", str(tmp_path / "nothing")]}[verb]
    assert main(["-q", *argv, "--out", str(folder), "--overwrite"]) == 1
    one_line_error(capsys, f"--out {folder} is a folder; give the path of the file")
    nothing_but(folder, "keep")


@pytest.mark.parametrize("verb", ["transform", "evaluate"])
def test_an_unwritable_output_folder_is_refused_before_any_work(files, tmp_path, capsys,
                                                                verb):
    """A file where the output folder should be (unwritable even for root)."""
    (tmp_path / "file").write_text("in the way")
    out = tmp_path / "file" / "sub"
    argv = {"transform": ["transform", str(files["model"]), str(files["corpus"])],
            "evaluate": ["evaluate", str(files["corpus"]), str(files["corpus"])]}[verb]
    assert main(["-q", *argv, "--out", str(out)]) == 1
    one_line_error(capsys, "is not writable", "choose another path")


@pytest.mark.parametrize("argv, message", [
    (["fit", "C", "--out", "M", "--seed", "-1"], "--seed: expected a whole number from 0 "
                                                 "to 4294967295, got '-1'"),
    (["fit", "C", "--out", "M", "--seed", "1e20"], "got '1e20'"),
    (["fit", "C", "--out", "M", "--seed", str(2**64)], f"got '{2**64}'"),
    (["evaluate", "C", "R", "--out", "O", "--seed", "-1"], "got '-1'"),
    (["evaluate", "C", "R", "--out", "O", "--n-iter", "0"],
     "--n-iter: expected a whole number >= 1, got '0'"),
])
def test_values_no_run_can_use_are_refused_as_typed(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        main([str(tmp_path / a) if a in "CRMO" else a for a in argv])
    assert exit_.value.code == 2 and message in capsys.readouterr().err
    nothing_but(tmp_path)


def test_an_infinite_concentration_is_refused(files, tmp_path, capsys):
    for option in ("--gamma", "--alpha0"):
        with pytest.raises(SystemExit) as exit_:
            main(["-q", "fit", str(files["corpus"]), "--out", str(tmp_path / "m.hdp"),
                  *TINY, option, "inf"])
        assert exit_.value.code == 2
        assert f"{option}: expected a finite number > 0, got 'inf'" in capsys.readouterr().err
    nothing_but(tmp_path)


@pytest.mark.parametrize("device", ["mps", "meta"])
@pytest.mark.parametrize("verb", ["fit", "fit-g1", "transform", "evaluate"])
def test_devices_hdpmusic_cannot_run_on_are_refused(files, tmp_path, capsys, verb, device):
    """``fit --model g1 --device meta`` used to save a model that failed when used."""
    argv = {"fit": ["fit", str(files["corpus"]), *TINY],
            "fit-g1": ["fit", str(files["corpus"]), "--model", "g1"],
            "transform": ["transform", str(files["model"]), str(files["corpus"])],
            "evaluate": ["evaluate", str(files["corpus"]), str(files["corpus"])]}[verb]
    assert main(["-q", *argv, "--out", str(tmp_path / "out"), "--device", device]) == 1
    one_line_error(capsys, f"device {device!r} is not supported: hdpmusic computes on "
                           "'cpu' or 'cuda'")
    nothing_but(tmp_path)


@pytest.mark.parametrize("tensor, value, message", [
    ("stats.N", -5.0, "tensor 'stats.N' holds negative counts (down to -5"),
    ("stats.S1", float("nan"), "tensor 'stats.S1' holds NaN or infinite values"),
])
def test_tampered_checkpoint_tensors_are_refused(files, tmp_path, capsys, tensor, value,
                                                 message):
    payload = torch.load(files["model"], weights_only=True)
    tensors = dict(payload["tensors"])
    tensors[tensor] = tensors[tensor].clone()
    tensors[tensor].view(-1)[0] = value
    tampered = tmp_path / "tampered.hdp"
    torch.save({**payload, "tensors": tensors}, tampered)
    assert main(["-q", "transform", str(tampered), str(files["corpus"]), "--out",
                 str(tmp_path / "r.h5")]) == 1
    one_line_error(capsys, f"{tampered}: {message}", "the file is damaged")
    assert main(["-q", "fit", str(files["corpus"]), "--out", str(tampered), "--resume",
                 *TINY]) == 1
    one_line_error(capsys, message)
    nothing_but(tmp_path, "tampered.hdp")


def test_prepare_table_names_its_own_option_for_the_audio_folder(tmp_path, capsys):
    table = tmp_path / "labels.csv"
    table.write_text("path,label\nmissing.wav,rock\n")
    assert main(["-q", "prepare", "table", "--labels", str(table), "--out",
                 str(tmp_path / "t.h5")]) == 1
    err = one_line_error(capsys, "audio file(s) not found", "pass --root")
    assert "--audio-root" not in err


@pytest.mark.parametrize("given, message", [
    ("corpus", "corpus file {dir} is a folder, not a file; give a corpus .h5 made by "
               "`hdpmusic extract`"),
    ("model", "model file {dir} is a folder, not a file"),
    ("reps", "representation file {dir} is a folder, not a file"),
])
def test_a_folder_given_for_a_file_is_called_a_folder(files, tmp_path, capsys, given,
                                                      message):
    folder = tmp_path / "music"
    folder.mkdir()
    argv = {"corpus": ["fit", str(folder), "--out", str(tmp_path / "m.hdp")],
            "model": ["transform", str(folder), str(files["corpus"]), "--out",
                      str(tmp_path / "r.h5")],
            "reps": ["evaluate", str(files["corpus"]), str(folder), "--out",
                     str(tmp_path / "results")]}[given]
    assert main(["-q", *argv]) == 1
    err = one_line_error(capsys, message.format(dir=folder))
    assert "does not exist" not in err


def test_hear_says_it_takes_a_torch_tensor():
    from hdpmusic.hear import get_scene_embeddings
    from hdpmusic.runtime.errors import DataError

    with pytest.raises(DataError, match=r"a torch.Tensor of shape \(n_sounds, n_samples\), "
                                        r"got a numpy.ndarray \(convert it with "
                                        r"torch.from_numpy\)"):
        get_scene_embeddings(np.zeros((1, 2205), dtype=np.float32), None)
    with pytest.raises(DataError, match=r"got a list"):
        get_scene_embeddings([[0.0] * 10], None)


def test_vq_names_the_songs_with_nan_frames(files, tmp_path, capsys):
    import h5py

    model = tmp_path / "vq.hdp"
    assert main(["-q", "fit", str(files["corpus"]), "--out", str(model), "--model", "vq",
                 "--n-clusters", "2", "--epochs", "1"]) == 0
    capsys.readouterr()
    broken = tmp_path / "nan.h5"
    shutil.copy(files["corpus"], broken)
    with h5py.File(broken, "a") as f:      # song s4: frames 32..39
        f["data"][35, 1] = np.nan
    assert main(["-q", "transform", str(model), str(broken), "--out",
                 str(tmp_path / "r.h5")]) == 1
    err = one_line_error(capsys, "1 song(s) have NaN/inf frames: 's4'")
    assert "'s0'" not in err and "positions" not in err
    assert main(["-q", "fit", str(broken), "--out", str(tmp_path / "v2.hdp"), "--model",
                 "vq", "--n-clusters", "2", "--epochs", "1", "--no-standardize"]) == 1
    one_line_error(capsys, "1 song(s) have NaN/inf frames: 's4'")


def test_extra_columns_of_a_list_file_are_refused(tmp_path, capsys):
    write_tone(tmp_path / "a.wav", seconds=0.2)
    listing = tmp_path / "list.txt"
    listing.write_text("a.wav\tsong-a\trock\n")
    assert main(["-q", "extract", str(listing), "--out", str(tmp_path / "c.h5")]) == 1
    one_line_error(capsys, f"{listing}: line 1 has 3 tab-separated columns",
                   "'path' or 'path<TAB>id'")
    nothing_but(tmp_path, "a.wav", "list.txt")


def test_model_names_cannot_put_formulas_in_results_csv(tmp_path):
    import csv

    import h5py

    from hdpmusic.formats.representations import Representations
    from hdpmusic.formats.taskdata import TaskData, write_task

    ids = [f"s{j}" for j in range(36)]
    y = np.array(["a", "b", "c"] * 12)
    task = tmp_path / "task.h5"
    with h5py.File(task, "w") as f:
        f.create_dataset("ids", data=np.array(ids, dtype=object),
                         dtype=h5py.string_dtype("utf-8"))
    write_task(task, TaskData(ids, split=["train"] * 24 + ["valid"] * 6 + ["test"] * 6,
                              targets=y))
    rng = np.random.default_rng(0)
    names = ['=HYPERLINK("http://x","y")', "+1", "-2", "@SUM(A1)", "plain"]
    reps = []
    for j in range(len(names)):
        reps.append(str(tmp_path / f"r{j}.h5"))
        Representations(ids, rng.normal(size=(36, 2))).save(reps[-1])
    argv = [arg for name in names for arg in ("--name", name)]
    assert main(["-q", "evaluate", str(task), *reps, *argv, "--runs", "1", "--n-iter", "1",
                 "--resamples", "20", "--out", str(tmp_path / "results")]) == 0
    with open(tmp_path / "results" / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [row["model"] for row in rows] == ["'" + n for n in names[:-1]] + ["plain"]
    assert all(float(row["score"]) >= 0 for row in rows)      # numbers stay numbers


def test_deeply_nested_json_in_attributes_is_a_one_line_error(files, tmp_path, capsys):
    """(Last in this module: the RecursionError it used to raise inside h5py could leave
    h5py's lock held.)"""
    import h5py

    from hdpmusic.formats.representations import Representations

    deep = "[" * 100_000 + "]" * 100_000
    corpus = tmp_path / "deep.h5"
    shutil.copy(files["corpus"], corpus)
    with h5py.File(corpus, "a") as f:
        f.attrs["feature_config"] = deep
    assert main(["-q", "fit", str(corpus), "--out", str(tmp_path / "m.hdp"), *TINY]) == 1
    one_line_error(capsys, f"{corpus}: attribute 'feature_config' holds JSON nested too "
                           "deeply to read")
    reps = tmp_path / "reps.h5"
    Representations(["s0", "s1"], np.zeros((2, 3)), {"model": "g1"}).save(reps)
    with h5py.File(reps, "a") as f:
        f.attrs["meta"] = deep
    assert main(["-q", "evaluate", str(corpus), str(reps), "--out",
                 str(tmp_path / "results")]) == 1
    one_line_error(capsys, f"{reps}: its 'meta' attribute is not a JSON object")
    nothing_but(tmp_path, "deep.h5", "reps.h5")


@pytest.mark.parametrize("argv, usage, message", [
    (["fit", "c.h5", "--out", "m.hdp", "--components", "4", "--song-components", "2"],
     "usage: hdpmusic fit ", "hdpmusic fit: error: unrecognized arguments: --components 4 "
     "--song-components 2 (did you mean --n-components, --n-song-components?)"),
    (["prepare", "table", "--labels", "l.csv", "--out", "o.h5", "--jbos", "2", "x"],
     "usage: hdpmusic prepare table ",
     "hdpmusic prepare table: error: unrecognized arguments: --jbos 2 x (did you mean --jobs?)"),
    (["evaluate", "r.h5", "t.h5", "--out", "o", "--tsak", "genre", "extra"],
     "usage: hdpmusic evaluate ",
     "hdpmusic evaluate: error: unrecognized arguments: --tsak genre extra (did you mean "
     "--task?)"),
    (["--quite"], "usage: hdpmusic [", "hdpmusic: error: unrecognized arguments: --quite "
     "(did you mean --quiet?)"),
])
def test_an_unknown_option_is_the_error_of_its_verb(capsys, argv, usage, message):
    """The usage shown is the verb's (not the top-level one), and a mistyped option is
    answered with the options it may have meant."""
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.startswith(usage)
    assert err.rstrip().splitlines()[-1] == message
