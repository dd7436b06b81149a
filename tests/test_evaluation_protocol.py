"""Runs, seeds, id alignment, summaries and results files."""

import csv
import json

import numpy as np
import pytest
import scipy.sparse as sp

from hdpmusic.evaluation.protocol import (
    COLUMNS,
    RunResult,
    evaluate,
    format_paired,
    format_summary,
    paired_differences,
    read_results,
    run_seeds,
    split_warnings,
    summarise,
    write_results,
)
from hdpmusic.formats.representations import Representations
from hdpmusic.formats.taskdata import TaskData
from hdpmusic.runtime.errors import DataError, FormatError, ParameterError


def genre_problem(seed=0, n=120):
    """Two genres, separable along the first dimension; two unused 'bad' songs."""
    rng = np.random.default_rng(seed)
    ids = [f"s{j}" for j in range(n)]
    y = np.where(np.arange(n) % 2 == 0, "rock", "jazz")
    split = np.array((["train"] * 3 + ["valid"] + ["test"] * 2) * (n // 6))
    split[:2] = "bad"
    X = rng.normal(size=(n, 3))
    X[:, 0] += np.where(y == "rock", 4.0, -4.0)
    task = TaskData(ids, split=split, targets=y, name="gtzan")
    return task, Representations(ids, np.exp(X), {"model": "g1"})


def test_genre_runs_and_log_option():
    task, reps = genre_problem()
    results = evaluate(task, reps, runs=3, seed=1, n_iter=2, progress=False, log=True)
    assert [r.run for r in results] == [0, 1, 2]
    # tasks are labelled by their kind, not by the task's (file) name
    assert all(r.model == "g1" and r.task == "genre" and r.metric == "f1_macro"
               for r in results)
    assert all(r.score == 1.0 for r in results)    # separable after the log
    seeds = [r.config["seed"] for r in results]
    assert seeds == run_seeds(1, 3) and len(set(seeds)) == 3
    assert results[0].config["log"] is True and results[0].config["split_sizes"]["test"] == 40
    again = evaluate(task, reps, runs=3, seed=1, n_iter=2, progress=False, log=True)
    assert [r.config for r in again] == [r.config for r in results]


def test_bad_songs_need_no_representation_but_scored_songs_do():
    task, reps = genre_problem()
    kept = Representations(reps.ids[2:], reps.X[2:], reps.attrs)   # 'bad' songs missing
    assert len(evaluate(task, kept, runs=1, n_iter=1, progress=False, model="x")) == 1
    partial = Representations(reps.ids[3:], reps.X[3:])
    with pytest.raises(DataError, match="ids have no representation: 's2'.*such as 's3'"):
        evaluate(task, partial, runs=1, n_iter=1, progress=False)


def test_task_checks():
    task, reps = genre_problem()
    with pytest.raises(DataError, match="no tagging annotations"):
        evaluate(task, reps, task_kind="tagging", progress=False)
    with pytest.raises(ParameterError, match="task kind"):
        evaluate(task, reps, task_kind="retrieval", progress=False)
    with pytest.raises(ParameterError, match="runs"):
        evaluate(task, reps, runs=0, progress=False)
    with pytest.raises(ParameterError, match="--resamples must be >= 1; got 0"):
        evaluate(task, reps, n_resamples=0, progress=False)
    no_split = TaskData(task.ids, targets=task.targets)
    with pytest.raises(DataError, match="no 'split'"):
        evaluate(no_split, reps, progress=False)
    nan = Representations(reps.ids, np.where(np.arange(3) == 1, np.nan, reps.X))
    with pytest.raises(DataError, match="NaN"):
        evaluate(task, nan, progress=False)


def test_tagging_selects_tags():
    rng = np.random.default_rng(0)
    ids = [str(j) for j in range(90)]
    X = rng.normal(size=(90, 4))
    noise = rng.normal(scale=0.3, size=(90, 2))
    Y = np.c_[X[:, :2] + noise > [0, 0.5], rng.random(90) < 0.5]
    split = np.array(["train", "valid", "test"] * 30)
    task = TaskData(ids, split=split, annotations=sp.csr_matrix(Y.astype(float)),
                    tags=["a", "b", "c"])
    reps = Representations(ids, X)
    results = evaluate(task, reps, runs=1, n_iter=2, progress=False, tags=["b", "a"],
                       device="cpu")
    assert results[0].metric == "roc_auc_macro"
    assert results[0].config["n_tags_total"] == 2 and results[0].score > 0.85
    with pytest.raises(DataError, match="no tag"):
        evaluate(task, reps, progress=False, tags=["z"])


def test_recommendation_runs_resample_users():
    rng = np.random.default_rng(0)
    items = [f"i{j}" for j in range(40)]
    X = rng.normal(size=(40, 5))
    logits = rng.normal(size=(200, 5)) @ X.T
    interaction = sp.csr_matrix(logits > np.quantile(logits, 0.8))
    task = TaskData(items[::-1], interaction=interaction,
                    userlist=[f"u{j}" for j in range(200)], itemlist=items)
    reps = Representations(items[::-1], X[::-1])      # aligned through the ids
    results = evaluate(task, reps, runs=2, seed=3, progress=False, device="cpu")
    assert [r.metric for r in results] == ["ndcg@500"] * 2
    assert results[0].score != results[1].score
    assert all(0 < r.score <= 1 and r.config["keep_consumed"] is False for r in results)
    # the bootstrap resamples users: each split's test users, nDCG per user
    users = results[0].predictions
    assert results[0].config["resampled"] == "test users"
    assert users.groups.dtype.kind == "i" and sorted(set(users.block)) == [0, 1, 2, 3, 4]
    assert users.score("ndcg@500") == pytest.approx(results[0].score)
    assert users.score("ndcg@500") == pytest.approx(np.mean(results[0].config["split_scores"]))
    kept = evaluate(task, reps, runs=1, seed=3, progress=False, keep_consumed=True)
    assert kept[0].config["keep_consumed"] is True
    eligible = (np.diff(interaction.indptr) >= 2).sum()
    assert kept[0].config["n_test_users"] == round(0.1 * eligible)


def test_summarise_and_format():
    results = [RunResult("a", "t", r, s, "m", {"chance": c})
               for r, (s, c) in enumerate([(0.5, 0.1), (0.7, 0.2), (0.9, 0.3)])]
    results.append(RunResult("b", "t", 0, 0.25, "m"))
    summary = summarise(results)
    # results without predictions (read from a version 1 file) have no CI
    ci = summary[0].pop("ci_low"), summary[0].pop("ci_high")
    assert np.isnan(ci).all()
    assert summary[0] == {"model": "a", "task": "t", "metric": "m", "runs": 3, "fits": 1,
                          "mean": pytest.approx(0.7), "sd": pytest.approx(0.2),
                          "chance": pytest.approx(0.2)}
    assert summary[1]["runs"] == 1 and np.isnan(summary[1]["sd"])
    assert np.isnan(summary[1]["chance"])
    table = format_summary(summary).splitlines()
    assert table[0].split() == ["model", "task", "metric", "runs", "mean", "±", "sd", "95",
                                "%", "CI", "chance"]
    assert table[1].split() == ["a", "t", "m", "3", "0.7000", "±", "0.2000", "0.2000"]
    assert table[2].split() == ["b", "t", "m", "1", "0.2500"]    # one run: no "± nan"


def test_deeply_nested_results_are_a_format_error(tmp_path):
    """A results.json nested past Python's recursion limit is refused in one line."""
    (tmp_path / "results.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(FormatError, match="nested too deeply"):
        read_results(tmp_path)


def test_results_files(tmp_path):
    results = [RunResult("g1", "gtzan", 0, 0.625, "f1_macro", {"C": 0.5, "seed": 7}),
               RunResult("g1", "gtzan", 1, 0.75, "f1_macro", {"C": 2.0, "seed": 8})]
    json_path, csv_path = write_results(results, tmp_path / "out")
    content = json.loads(json_path.read_text())
    assert content["format"] == "hdpmusic-results"
    assert content["results"][1] == {"model": "g1", "task": "gtzan", "run": 1,
                                     "score": 0.75, "metric": "f1_macro",
                                     "config": {"C": 2.0, "seed": 8}}
    with csv_path.open() as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == COLUMNS
    assert rows[0]["score"] == "0.625" and json.loads(rows[0]["config"]) == {"C": 0.5,
                                                                             "seed": 7}
    assert read_results(tmp_path / "out") == results
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["results.csv",
                                                                   "results.json"]
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(FormatError, match="not an hdpmusic results"):
        read_results(tmp_path / "bad.json")


def test_split_warnings_name_unscorable_classes_and_tags():
    task, _ = genre_problem()
    # the problem's valid songs are all jazz; alternate blocks of six give both in each part
    rock = (np.arange(len(task.ids)) // 6) % 2 == 0
    task = TaskData(task.ids, split=task.split, targets=np.where(rock, "rock", "jazz"))
    assert split_warnings(task) == []
    targets = task.targets.copy()
    targets[np.flatnonzero(task.split == "test")[:2]] = ["blues", "metal"]
    only_test, small = split_warnings(TaskData(task.ids, split=task.split, targets=targets))
    assert "2 class(es) appear only in the test split" in only_test
    assert only_test.endswith("blues, metal")
    assert small.startswith("2 class(es) with fewer than 5 test songs: blues, metal: "
                            "scores are noisy")
    split = np.array(["train", "valid", "test"] * 4)
    Y = np.zeros((12, 4))
    Y[::2, 0] = 1                             # in every part: fine
    Y[0, 1] = 1                               # no test positive
    Y[2::3, 2] = 1                            # only in test (and then every test song)
    Y[[2, 5], 3] = 1                          # test positives, none in train or valid
    tagged = TaskData([f"s{j}" for j in range(12)], split=split, annotations=sp.csr_matrix(Y),
                      tags=["rock", "organ", "drone", "choir"])
    absent, unlearned, small = split_warnings(tagged)
    assert absent.startswith("2 tag(s) lack a positive or a negative test song")
    assert absent.endswith("organ, drone")
    assert unlearned.endswith("train or valid: drone, choir")
    assert small.startswith("only 4 test songs (fewer than 30) and 3 tag(s) with fewer "
                            "than 5 test songs: rock, drone, choir")
    assert split_warnings(tagged, tags=["rock"]) == [
        "only 4 test songs (fewer than 30) and 1 tag(s) with fewer than 5 test songs: "
        "rock: scores are noisy (see their 95 % CI); evaluate with --cv K "
        "(cross-validation over all labelled songs)"]
    assert split_warnings(tagged, kind="recommendation") == []


def test_split_warnings_name_classes_missing_from_train_or_valid():
    ids = [f"s{j}" for j in range(120)]
    split = np.array(["train", "train", "valid", "test"] * 30)
    targets = np.repeat(["a", "b", "c"] * 10, 4).astype(object)   # every part
    targets[[0, 4, 8]] = "e"           # train only
    targets[[2, 3, 6, 7]] = "f"        # valid and test: no train song
    targets[[11, 15]] = "g"            # test only (warned as before, not again)
    targets[[1, 19, 23]] = "h"         # train and test: no valid song
    only_test, no_train, no_valid, small = split_warnings(
        TaskData(ids, split=split, targets=targets))
    assert only_test.startswith("1 class(es) appear only in the test split")
    assert only_test.endswith(": g")
    assert no_train.startswith("1 class(es) have test songs but none in train, so the "
                               "validation search over C never fits them")
    assert no_train.endswith(": f")
    assert no_valid.startswith("2 class(es) have no valid songs, so the validation "
                               "search over C cannot score them")
    assert no_valid.endswith(": e, h")
    assert small.startswith("4 class(es) with fewer than 5 test songs: e, f, g, h")
    cv = split_warnings(TaskData(ids, split=split, targets=targets), cv=3)
    assert not any("train" in m or "valid" in m for m in cv)   # every song is scored once


def test_runs_keep_predictions_that_rescore_to_their_score():
    task, reps = genre_problem()
    (genre,) = evaluate(task, reps, runs=1, n_iter=2, progress=False, log=True)
    kept = genre.predictions
    assert len(kept) == 40 and kept.score("f1_macro") == genre.score
    assert genre.config["accuracy"] == kept.score("accuracy") == 1.0
    confusion = genre.config["confusion"]
    assert confusion == {"labels": ["jazz", "rock"], "matrix": [[20, 0], [0, 20]]}
    low, high = genre.config["ci95"]
    assert low <= genre.score <= high and genre.config["resampled"] == "test songs"
    rng = np.random.default_rng(4)
    X = rng.normal(size=(90, 3))
    Y = np.c_[X[:, 0] + rng.normal(scale=0.5, size=90) > 0, rng.random(90) < 0.5]
    tagged = TaskData([str(j) for j in range(90)], split=["train", "valid", "test"] * 30,
                      annotations=sp.csr_matrix(Y.astype(float)), tags=["a", "b"])
    (tags,) = evaluate(tagged, Representations(tagged.ids, X), runs=1, n_iter=2,
                       progress=False, device="cpu")
    assert tags.predictions.score("roc_auc_macro") == pytest.approx(tags.score)
    assert tags.predictions.score("pr_auc_macro") == pytest.approx(tags.config["pr_auc_macro"])
    from sklearn.metrics import average_precision_score

    test = tagged.split == "test"
    assert tags.config["pr_auc_macro"] == pytest.approx(
        average_precision_score(Y[test], tags.predictions.output, average="macro"))


def test_groups_are_the_resampling_units():
    task, reps = genre_problem()
    artists = np.array([f"artist{j // 6}" for j in range(len(task.ids))])
    grouped = TaskData(task.ids, split=task.split, targets=task.targets, groups=artists)
    (run,) = evaluate(grouped, reps, runs=1, n_iter=1, progress=False)
    test = task.split == "test"
    assert run.predictions.groups.tolist() == [f"group:{a}" for a in artists[test]]
    assert run.config["resampled"] == "test songs by group"


def cv_problem(n=90, seed=0):
    """Three genres, two songs per artist, no split."""
    rng = np.random.default_rng(seed)
    ids = [f"s{j}" for j in range(n)]
    y = np.array(["a", "b", "c"])[np.arange(n) // 2 % 3]
    X = rng.normal(size=(n, 3)) + 6 * (y[:, None] == np.array(["a", "b", "c"]))
    task = TaskData(ids, targets=y, groups=[f"artist{j // 2}" for j in range(n)])
    return task, Representations(ids, X, {"model": "g1"})


def test_cross_validation_scores_every_song_once_per_repeat():
    task, reps = cv_problem()
    (run,) = evaluate(task, reps, runs=1, n_iter=2, cv=3, cv_repeats=2, progress=False)
    kept = run.predictions
    assert run.config["cv"] == {"folds": 3, "repeats": 2, "inner_folds": 3}
    assert len(run.config["C"]) == 6 and run.config["n_songs"] == 90
    for block in (0, 1):
        groups = kept.groups[kept.block == block]
        assert sorted(groups) == sorted(f"group:artist{j // 2}" for j in range(90))
    assert run.score == pytest.approx(np.mean(run.config["repeat_scores"])) == 1.0
    assert kept.score("f1_macro") == run.score
    assert np.sum(run.config["confusion"]["matrix"]) == 180       # 90 songs × 2 repeats
    assert run.config["resampled"] == "songs by group"
    with pytest.raises(ParameterError, match="--cv needs K >= 2"):
        evaluate(task, reps, cv=1, progress=False)
    with pytest.raises(DataError, match="no 'split'"):     # no split, no --cv
        evaluate(task, reps, progress=False)


def test_cross_validated_tagging():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 3))
    Y = np.c_[X[:, 0] > 0, X[:, 1] > 0.5]
    task = TaskData([str(j) for j in range(60)], split=["train", "valid", "test", "bad"] * 15,
                    annotations=sp.csr_matrix(Y.astype(float)), tags=["a", "b"])
    (run,) = evaluate(task, Representations(task.ids, X), runs=1, n_iter=2, cv=3,
                      cv_repeats=1, progress=False, device="cpu")
    assert len(run.predictions) == 45                  # 'bad' songs stay out
    assert run.score > 0.9 and run.predictions.score("roc_auc_macro") == pytest.approx(
        run.score)
    assert 0 < run.config["pr_auc_macro"] <= 1


def test_summary_ci_and_paired_differences_of_evaluated_models():
    task, reps = genre_problem()
    noise = Representations(reps.ids, np.random.default_rng(9).normal(size=reps.X.shape),
                            {"model": "noise"})
    results = (evaluate(task, reps, runs=2, n_iter=1, progress=False, log=True)
               + evaluate(task, noise, runs=2, n_iter=1, progress=False))
    good, bad = summarise(results)
    assert good["ci_low"] <= good["mean"] <= good["ci_high"]
    assert bad["ci_low"] <= bad["mean"] <= bad["ci_high"]
    (pair,) = paired_differences(results)
    assert (pair["model_a"], pair["model_b"]) == ("g1", "noise")
    assert pair["difference"] == pytest.approx(good["mean"] - bad["mean"])
    assert 0 < pair["ci_low"] <= pair["ci_high"] and pair["wins_a"] > 0.99
    text = format_paired([pair])
    assert text.splitlines()[0].startswith("paired differences on genre (f1_macro; 1000")
    assert text.splitlines()[2].split()[:3] == ["g1", "noise", f"{pair['difference']:+.4f}"]
    same = paired_differences(results[:2] + [RunResult("copy", r.task, r.run, r.score,
                                                       r.metric, r.config, r.predictions)
                                             for r in results[:2]])
    assert (same[0]["difference"], same[0]["ci_low"], same[0]["ci_high"]) == (0, 0, 0)


def test_results_files_keep_predictions_and_read_version_1(tmp_path):
    task, reps = genre_problem()
    results = evaluate(task, reps, runs=2, n_iter=1, progress=False)
    write_results(results, tmp_path / "out")
    content = json.loads((tmp_path / "out" / "results.json").read_text())
    assert content["format_version"] == 2 and content["predictions"] == "predictions.npz"
    assert [r["predictions"] for r in content["results"]] == ["r0", "r1"]
    (row,) = content["summary"]
    assert [row["ci_low"], row["ci_high"]] == pytest.approx(
        [summarise(results)[0]["ci_low"], summarise(results)[0]["ci_high"]])
    back = read_results(tmp_path / "out")
    assert back == results
    for a, b in zip(back, results, strict=True):
        assert np.array_equal(a.predictions.output, b.predictions.output)
        assert np.array_equal(a.predictions.groups, b.predictions.groups)
    assert summarise(back) == summarise(results)
    old = {"format": "hdpmusic-results", "format_version": 1,
           "results": [{"model": "g1", "task": "genre", "run": 0, "score": 0.5,
                        "metric": "f1_macro", "config": {}}]}
    (tmp_path / "v1.json").write_text(json.dumps(old))
    (v1,) = read_results(tmp_path / "v1.json")
    assert v1.score == 0.5 and v1.predictions is None
    assert np.isnan(summarise([v1])[0]["ci_low"])
    (tmp_path / "out" / "predictions.npz").write_bytes(b"junk")
    with pytest.raises(FormatError, match="cannot read predictions"):
        read_results(tmp_path / "out")


def test_small_split_warnings_name_the_cv_fix():
    ids = [f"s{j}" for j in range(60)]
    split = np.array(["train"] * 40 + ["valid"] * 17 + ["test"] * 3)
    targets = np.array(["a", "b", "c"] * 20)
    task = TaskData(ids, split=split, targets=targets)
    (message,) = split_warnings(task)
    assert message.startswith("only 3 test songs (fewer than 30) and 3 class(es) with fewer "
                              "than 5 test songs: a, b, c")
    assert message.endswith("evaluate with --cv K (cross-validation over all labelled songs)")
    assert split_warnings(task, cv=5) == []            # 60 songs, 20 per class
    (few,) = split_warnings(TaskData(ids[:12], targets=targets[:12]), cv=3)
    assert few.startswith("only 12 labelled songs (fewer than 30) and 3 class(es) with "
                          "fewer than 5 songs") and few.endswith("collect more songs")


def test_standardisation_follows_the_representation_file_unless_asked():
    """A file recording standardise=False (HDPGMM's Fisher kinds) is probed as it is;
    others (no attribute: the study's protocol) are standardised; the argument wins."""
    from hdpmusic.evaluation.classification import evaluate_genre

    task, reps = genre_problem(n=60)
    plain = evaluate(task, reps, runs=1, n_iter=2, progress=False)[0]
    assert plain.config["standardise"] is True
    normalised = Representations(reps.ids, reps.X, {**reps.attrs, "standardise": False})
    as_is = evaluate(task, normalised, runs=1, n_iter=2, progress=False)[0]
    assert as_is.config["standardise"] is False
    rows = task.split != "bad"
    want, _ = evaluate_genre(normalised.X[rows], task.targets[rows], task.split[rows],
                             n_iter=2, seed=as_is.config["seed"], standardise=False)
    assert as_is.score == want
    forced = evaluate(task, normalised, runs=1, n_iter=2, progress=False, standardise=True)
    assert forced[0].config["standardise"] is True


@pytest.mark.parametrize("n_users, warned", [(60, True), (400, False)])
def test_small_user_splits_are_warned_of(n_users, warned):
    """A recommendation task's test users are a tenth of those with two or more
    interactions; fewer than 30 a split make the scores (and their CI) unreliable. The
    count the warning names is the one the evaluation then draws."""
    rng = np.random.default_rng(1)
    items = [f"i{j}" for j in range(30)]
    counts = rng.integers(0, 4, size=(n_users, 30)) * (rng.random((n_users, 30)) < 0.3)
    counts[:5] = 0
    counts[:5, 0] = 1                                 # five users with one item: ineligible
    interaction = sp.csr_matrix(counts)
    task = TaskData(items, interaction=interaction,
                    userlist=[f"u{j}" for j in range(n_users)], itemlist=items)
    eligible = int(((counts > 0).sum(axis=1) >= 2).sum())
    n_test = round(0.1 * eligible)
    said = split_warnings(task)
    assert said == ([f"only {n_test} test user(s) a user split (a tenth of the {eligible} "
                     "users with two or more interactions; fewer than 30): recommendation "
                     "scores are noisy, and their 95 % CI, which resamples those users, too "
                     "narrow to trust; collect more listening data"] if warned else [])
    assert split_warnings(task, kind="genre") == []
    reps = Representations(items, rng.normal(size=(30, 4)))
    run = evaluate(task, reps, runs=1, seed=0, progress=False, device="cpu")[0]
    assert run.config["n_test_users"] == n_test
