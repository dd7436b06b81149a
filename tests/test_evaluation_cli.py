"""``hdpmusic evaluate`` end to end on tiny task files."""

import h5py
import numpy as np
import scipy.sparse as sp

from hdpmusic.cli import main
from hdpmusic.evaluation.protocol import read_results
from hdpmusic.formats.representations import Representations
from hdpmusic.formats.taskdata import TaskData, write_task


def write_ids(path, ids):
    with h5py.File(path, "w") as f:
        f.create_dataset("ids", data=np.array(ids, dtype=object),
                         dtype=h5py.string_dtype("utf-8"))


def test_genre_end_to_end(tmp_path, capsys):
    rng = np.random.default_rng(0)
    ids = [f"t{j:03d}.au" for j in range(60)]
    y = np.array(["blues", "metal", "pop"] * 20)
    split = np.array(["train", "train", "train", "valid", "valid", "valid", "test", "test",
                      "test"] * 6 + ["train"] * 6)
    task_path = tmp_path / "gtzan.h5"
    write_ids(task_path, ids)
    write_task(task_path, TaskData(ids, split=split, targets=y))
    good = rng.normal(size=(60, 3)) + 5 * (y[:, None] == np.array(["blues", "metal", "pop"]))
    Representations(ids, good, {"model": "hdpgmm", "kind": "posterior"}).save(
        tmp_path / "a.h5")
    Representations(ids, rng.normal(size=(60, 3)), {"model": "g1"}).save(tmp_path / "b.h5")
    out = tmp_path / "results"
    code = main(["-q", "evaluate", str(task_path), str(tmp_path / "a.h5"),
                 str(tmp_path / "b.h5"), "--runs", "2", "--seed", "4", "--n-iter", "2",
                 "--out", str(out), "--device", "cpu"])
    assert code == 0
    printed = capsys.readouterr().out
    # models by their representation file's name, tasks by kind
    assert "a      genre  f1_macro  2     1.0000 ± 0.0000" in printed
    results = read_results(out)
    assert [(r.model, r.task, r.run) for r in results] == [
        ("a", "genre", 0), ("a", "genre", 1), ("b", "genre", 0), ("b", "genre", 1)]
    named = tmp_path / "named"
    assert main(["-q", "evaluate", str(task_path), str(tmp_path / "a.h5"),
                 str(tmp_path / "b.h5"), "--name", "HDPGMM K=64", "--name", "G1",
                 "--runs", "2", "--n-iter", "2", "--out", str(named),
                 "--device", "cpu"]) == 0
    assert [r.model for r in read_results(named)][::2] == ["HDPGMM K=64", "G1"]
    capsys.readouterr()
    assert main(["-q", "evaluate", str(task_path), str(tmp_path / "a.h5"), "--name", "x",
                 "--name", "y", "--out", str(named)]) == 1
    assert "--name given 2 times for 1" in capsys.readouterr().err
    assert (out / "results.csv").read_text().startswith("model,task,run,score,metric,config")
    # --standardise: auto follows each file (none recorded: standardised), yes/no override
    assert all(r.config["standardise"] is True for r in results)
    Representations(ids, good, {"model": "hdpgmm", "kind": "fisher", "standardise": False}
                    ).save(tmp_path / "f.h5")
    for flag, want in (("auto", False), ("yes", True), ("no", False)):
        where = tmp_path / f"std-{flag}"
        assert main(["-q", "evaluate", str(task_path), str(tmp_path / "f.h5"), "--runs", "1",
                     "--n-iter", "2", "--standardise", flag, "--out", str(where),
                     "--device", "cpu"]) == 0
        assert read_results(where)[0].config["standardise"] is want


def test_recommendation_end_to_end_and_errors(tmp_path, capsys):
    rng = np.random.default_rng(1)
    items = [f"TR{j}" for j in range(30)]
    interaction = sp.csr_matrix(rng.random((50, 30)) < 0.3)
    task_path = tmp_path / "echonest.h5"
    write_task(task_path, TaskData(items, interaction=interaction,
                                   userlist=[f"u{j}" for j in range(50)], itemlist=items))
    Representations(items, rng.normal(size=(30, 4))).save(tmp_path / "reps.h5")
    code = main(["-q", "evaluate", str(task_path), str(tmp_path / "reps.h5"), "--runs", "1",
                 "--keep-consumed", "--out", str(tmp_path / "out")])
    assert code == 0
    result = read_results(tmp_path / "out")[0]
    assert result.model == "reps" and result.metric == "ndcg@500"
    assert result.config["keep_consumed"] is True
    capsys.readouterr()

    Representations(items[1:], rng.normal(size=(29, 4))).save(tmp_path / "short.h5")
    code = main(["-q", "evaluate", str(task_path), str(tmp_path / "short.h5"),
                 "--out", str(tmp_path / "out2")])
    assert code == 1
    err = capsys.readouterr().err    # an example id from each side
    assert "1 of 30 ids have no representation: 'TR0'" in err and "such as 'TR1'" in err
    assert not (tmp_path / "out2").exists()

    code = main(["-q", "evaluate", str(task_path), str(tmp_path / "reps.h5"),
                 "--task", "genre", "--out", str(tmp_path / "out3")])
    assert code == 1
    assert "no genre annotations" in capsys.readouterr().err


def test_evaluate_warns_of_a_class_only_in_test(tmp_path, caplog):
    rng = np.random.default_rng(3)
    ids = [f"s{j}" for j in range(30)]
    split = ["train", "valid", "test"] * 10
    targets = ["rock", "jazz"] * 14 + ["polka", "polka"]      # polka: songs 28 (valid), 29
    targets[28] = "jazz"
    task_path = tmp_path / "gtzan.h5"
    write_ids(task_path, ids)
    write_task(task_path, TaskData(ids, split=split, targets=targets))
    Representations(ids, rng.normal(size=(30, 2)), {"model": "g1"}).save(tmp_path / "g1.h5")
    with caplog.at_level("WARNING"):
        assert main(["-q", "evaluate", str(task_path), str(tmp_path / "g1.h5"), "--runs", "1",
                     "--n-iter", "1", "--out", str(tmp_path / "out")]) == 0
    assert "1 class(es) appear only in the test split" in caplog.text
    assert "polka" in caplog.text


def test_tagging_with_a_tag_list(tmp_path, capsys):
    rng = np.random.default_rng(2)
    ids = [str(j) for j in range(60)]     # the study's integer clip ids, as strings
    X = rng.normal(size=(60, 3))
    Y = np.c_[X[:, 0] + rng.normal(scale=0.5, size=60) > 0, rng.random(60) < 0.4]
    task_path = tmp_path / "mtat.h5"
    write_ids(task_path, ids)
    write_task(task_path, TaskData(ids, split=["train", "valid", "test"] * 20,
                                   annotations=sp.csr_matrix(Y.astype(float)),
                                   tags=["rock", "noise"]))
    Representations(ids, X, {"model": "vq"}).save(tmp_path / "vq.h5")
    (tmp_path / "tags.txt").write_text("rock\n\n")
    code = main(["-q", "evaluate", str(task_path), str(tmp_path / "vq.h5"), "--runs", "1",
                 "--n-iter", "2", "--tags", str(tmp_path / "tags.txt"), "--device", "cpu",
                 "--out", str(tmp_path / "out")])
    assert code == 0
    result = read_results(tmp_path / "out")[0]
    assert result.metric == "roc_auc_macro" and result.config["n_tags_total"] == 1
    assert result.score > 0.8
    out = capsys.readouterr().out
    row = out.splitlines()[1].split()
    # one run: the mean alone, no "± nan"
    low, high = result.config["ci95"]          # one run: the summary's CI is the run's
    assert low < result.score < high
    assert row == ["vq", "tagging", "roc_auc_macro", "1", f"{result.score:.4f}",
                   f"[{low:.4f},", f"{high:.4f}]", "0.5000"]
    assert "nan" not in out


def test_every_kind_of_a_task_file_labelled_by_kind(tmp_path, capsys):
    rng = np.random.default_rng(3)
    ids = [f"s{j}" for j in range(36)]
    y = np.array(["a", "b"] * 18)
    task_path = tmp_path / "my_collection_v2.h5"
    write_ids(task_path, ids)
    write_task(task_path, TaskData(ids, split=["train", "valid", "test"] * 12, targets=y,
                                   interaction=sp.csr_matrix(rng.random((40, 36)) < 0.3),
                                   userlist=[f"u{j}" for j in range(40)], itemlist=ids))
    Representations(ids, rng.normal(size=(36, 3))).save(tmp_path / "hdpgmm_k64.h5")
    assert main(["-q", "evaluate", str(task_path), str(tmp_path / "hdpgmm_k64.h5"),
                 "--runs", "1", "--n-iter", "1", "--n-splits", "2", "--device", "cpu",
                 "--out", str(tmp_path / "out")]) == 0
    results = read_results(tmp_path / "out")
    assert [(r.model, r.task) for r in results] == [("hdpgmm_k64", "genre"),
                                                    ("hdpgmm_k64", "recommendation")]
    assert len(results[1].config["split_scores"]) == 2


def small_split_task(tmp_path, n=36):
    rng = np.random.default_rng(5)
    ids = [f"s{j}" for j in range(n)]
    y = np.array(["a", "b", "c"] * (n // 3))
    split = ["train"] * (n - 9) + ["valid"] * 6 + ["test"] * 3
    task_path = tmp_path / "own.h5"
    write_ids(task_path, ids)
    write_task(task_path, TaskData(ids, split=split, targets=y,
                                   groups=[f"artist{j // 2}" for j in range(n)]))
    X = rng.normal(size=(n, 2)) + 4 * (y[:, None] == np.array(["a", "b"]))
    Representations(ids, X).save(tmp_path / "good.h5")
    Representations(ids, rng.normal(size=(n, 2))).save(tmp_path / "noise.h5")
    return task_path


def test_small_test_split_warns_and_cv_replaces_it(tmp_path, caplog, capsys):
    task_path = small_split_task(tmp_path)
    reps = [str(tmp_path / "good.h5"), str(tmp_path / "noise.h5")]
    with caplog.at_level("WARNING"):
        assert main(["-q", "evaluate", str(task_path), *reps, "--runs", "1", "--n-iter",
                     "1", "--resamples", "200", "--out", str(tmp_path / "fixed")]) == 0
    assert "only 3 test songs (fewer than 30)" in caplog.text
    assert "evaluate with --cv K" in caplog.text
    printed = capsys.readouterr().out
    assert "paired differences on genre (f1_macro; 200 paired bootstrap resamples" in printed
    assert printed.splitlines()[6].split()[:2] == ["good", "noise"]
    caplog.clear()
    with caplog.at_level("WARNING"):
        assert main(["-q", "evaluate", str(task_path), *reps, "--cv", "3", "--cv-repeats",
                     "1", "--n-iter", "1", "--resamples", "200",
                     "--out", str(tmp_path / "cv")]) == 0
    assert "test songs" not in caplog.text           # 36 songs, 12 per class: no warning
    results = read_results(tmp_path / "cv")
    assert [r.run for r in results] == [0, 0]        # one run by default with --cv
    assert results[0].config["cv"]["folds"] == 3 and len(results[0].predictions) == 36


def test_existing_results_folder_needs_overwrite(tmp_path, capsys):
    task_path = small_split_task(tmp_path)
    argv = ["-q", "evaluate", str(task_path), str(tmp_path / "good.h5"), "--runs", "1",
            "--n-iter", "1", "--resamples", "50", "--out", str(tmp_path / "out")]
    (tmp_path / "out").mkdir()                       # an empty folder is fine
    assert main(argv) == 0
    first = (tmp_path / "out" / "results.json").read_text()
    capsys.readouterr()
    assert main([*argv, "--seed", "1"]) == 1
    err = capsys.readouterr().err
    assert "exists and is not empty; pass --overwrite" in err and len(err.splitlines()) == 1
    assert (tmp_path / "out" / "results.json").read_text() == first
    assert main([*argv, "--seed", "1", "--overwrite"]) == 0
    assert (tmp_path / "out" / "results.json").read_text() != first


def test_a_representation_of_an_earlier_kind_definition_warns(tmp_path, caplog):
    from hdpmusic.model.kinds import kind_revision, outdated_kind

    assert outdated_kind({"model": "g1", "kind": "fisher"}) is None
    assert outdated_kind({"model": "hdpgmm", "kind": "posterior"}) is None   # still at 1
    now = kind_revision("fisher")
    assert now > 1 and outdated_kind({"model": "hdpgmm", "kind": "fisher",
                                      "revision": now}) is None
    rng = np.random.default_rng(5)
    ids = [f"s{j}" for j in range(30)]
    task_path = tmp_path / "gtzan.h5"
    write_ids(task_path, ids)
    write_task(task_path, TaskData(ids, split=["train", "valid", "test"] * 10,
                                   targets=["rock", "jazz"] * 15))
    X = rng.normal(size=(30, 4))
    Representations(ids, X, {"model": "hdpgmm", "kind": "fisher"}).save(tmp_path / "old.h5")
    Representations(ids, X, {"model": "hdpgmm", "kind": "fisher", "revision": now}).save(
        tmp_path / "new.h5")
    for name, warned in (("old", True), ("new", False)):
        caplog.clear()
        with caplog.at_level("WARNING"):
            assert main(["-q", "evaluate", str(task_path), str(tmp_path / f"{name}.h5"),
                         "--runs", "1", "--n-iter", "1",
                         "--out", str(tmp_path / f"out-{name}")]) == 0
        message = (f"{tmp_path / 'old.h5'}: made by revision 1 of the 'fisher' "
                   f"representation, not today's {now}")
        assert (message in caplog.text) is warned
        assert ("re-create it with `hdpmusic transform`" in caplog.text) is warned
