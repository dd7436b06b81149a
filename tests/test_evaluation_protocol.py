"""Runs, seeds, id alignment, summaries and results files."""

import csv
import json

import numpy as np
import pytest
import scipy.sparse as sp

from hdpmusic.errors import DataError, FormatError, ParameterError
from hdpmusic.evaluation.protocol import (
    COLUMNS,
    RunResult,
    evaluate,
    format_summary,
    read_results,
    run_seeds,
    split_warnings,
    summarise,
    write_results,
)
from hdpmusic.representations import Representations
from hdpmusic.taskdata import TaskData


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
    assert summary[0] == {"model": "a", "task": "t", "metric": "m", "runs": 3,
                          "mean": pytest.approx(0.7), "sd": pytest.approx(0.2),
                          "chance": pytest.approx(0.2)}
    assert summary[1]["runs"] == 1 and np.isnan(summary[1]["sd"])
    assert np.isnan(summary[1]["chance"])
    table = format_summary(summary).splitlines()
    assert table[0].split() == ["model", "task", "metric", "runs", "mean", "±", "sd", "95",
                                "%", "CI", "chance"]
    assert table[1].split() == ["a", "t", "m", "3", "0.7000", "±", "0.2000", "0.2000"]
    assert table[2].split() == ["b", "t", "m", "1", "0.2500"]    # one run: no "± nan"


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
