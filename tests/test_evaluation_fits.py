"""Several fits of one model: the summaries' two-level bootstrap (fits, then songs),
against the closed form of the bootstrap of a mean, and the CLI's grouping by name."""

import h5py
import numpy as np
import pytest

from hdpmusic.cli import main
from hdpmusic.cli.evaluate import fit_numbers, model_labels
from hdpmusic.evaluation.predictions import Predictions, bootstrap_records
from hdpmusic.evaluation.protocol import (
    RunResult,
    evaluate,
    format_summary,
    model_distributions,
    paired_differences,
    read_results,
    summarise,
)
from hdpmusic.formats.representations import Representations
from hdpmusic.formats.taskdata import TaskData, write_task
from hdpmusic.runtime.errors import ParameterError

N_SONGS = 4000
SHARES = np.array([0.5, 0.6, 0.7, 0.8, 0.9])      # each fit's share of songs right


def fits_of(model, shares, fit=True):
    """One run per fit; fit k gets the first ``shares[k]`` of the songs right."""
    truth = np.zeros(N_SONGS, dtype=int)
    runs = []
    for k, share in enumerate(shares):
        output = np.where(np.arange(N_SONGS) < share * N_SONGS, 0, 1)
        config = {"fit": k} if fit else {}
        runs.append(RunResult(model, "t", k, float(np.mean(output == truth)), "accuracy",
                              config, Predictions(np.arange(N_SONGS), np.zeros(N_SONGS),
                                                  output, truth)))
    return runs


def test_several_fits_widen_the_interval_as_the_bootstrap_of_a_mean_does():
    """Drawing 5 fits with replacement: SD of their mean = sqrt(var(shares) / 5) (the
    plug-in variance), plus the songs' small part; one fit's songs alone give far less."""
    results = fits_of("m", SHARES)
    samples = model_distributions(results, n_resamples=4000)[("t", "accuracy")]["m"]
    correct = np.arange(N_SONGS)[None, :] < SHARES[:, None] * N_SONGS     # (fits, songs)
    songs_var = np.var(correct.mean(0)) / N_SONGS
    expected = np.sqrt(np.var(SHARES) / len(SHARES) + songs_var)
    assert np.std(samples) == pytest.approx(expected, rel=0.08)
    assert np.mean(samples) == pytest.approx(SHARES.mean(), abs=0.01)
    (row,) = summarise(results, n_resamples=4000)
    assert row["fits"] == 5 and row["runs"] == 5
    assert row["ci_high"] - row["ci_low"] > 0.18                # ≈ 2 × 1.96 × 0.063
    assert "5 of 5 fits" in format_summary([row])
    single = summarise(fits_of("m", SHARES, fit=False), n_resamples=4000)[0]
    assert single["fits"] == 1 and single["ci_high"] - single["ci_low"] < 0.04


def test_one_fit_is_the_one_level_bootstrap_exactly():
    runs = fits_of("m", SHARES[:3], fit=False)
    (samples,) = model_distributions(runs, n_resamples=300, seed=4)[("t", "accuracy")].values()
    stats = bootstrap_records([(r.predictions, r.metric) for r in runs], n_resamples=300,
                              seed=4)
    np.testing.assert_array_equal(samples, np.mean(stats, axis=0))


def test_fits_of_two_models_are_drawn_independently():
    """The same five fits under two names: one fit each would differ by exactly 0 on
    every resample; as fits drawn independently their difference spreads as
    sqrt(2 var / 5)."""
    results = fits_of("a", SHARES) + fits_of("b", SHARES)
    (pair,) = paired_differences(results, n_resamples=4000)
    assert pair["difference"] == 0
    half_width = (pair["ci_high"] - pair["ci_low"]) / 2
    assert half_width == pytest.approx(1.96 * np.sqrt(2 * np.var(SHARES) / 5), rel=0.15)


def test_a_models_draws_of_its_fits_do_not_move_when_models_are_added():
    alone = model_distributions(fits_of("b", SHARES), n_resamples=500)[("t", "accuracy")]
    both = model_distributions(fits_of("a", SHARES[::-1]) + fits_of("b", SHARES),
                               n_resamples=500)[("t", "accuracy")]
    np.testing.assert_array_equal(both["b"], alone["b"])
    assert not np.array_equal(both["a"], both["b"])


def genre_task(n=60):
    ids = [f"s{j}" for j in range(n)]
    y = np.array(["rock", "jazz", "pop"] * (n // 3))
    split = np.array(["train"] * 4 + ["valid"] + ["test"])[np.arange(n) % 6]
    return ids, y, TaskData(ids, split=split, targets=y, name="g")


def test_evaluate_records_the_fit_and_numbers_its_runs_after_the_earlier_fits():
    ids, _, task = genre_task()
    reps = Representations(ids, np.random.default_rng(0).normal(size=(60, 3)))
    results = evaluate(task, reps, runs=2, n_iter=1, progress=False, fit=1)
    assert [(r.run, r.config["fit"]) for r in results] == [(2, 1), (3, 1)]
    assert "fit" not in evaluate(task, reps, runs=1, n_iter=1, progress=False)[0].config
    with pytest.raises(ParameterError, match="fit must be >= 0"):
        evaluate(task, reps, runs=1, n_iter=1, progress=False, fit=-1)


def test_files_given_one_name_are_fits_of_one_model(tmp_path, capsys):
    assert fit_numbers(["a", "b", "a", "a"]) == [0, None, 1, 2]
    assert model_labels(["x.h5", "y.h5"], ["m", "m"]) == ["m", "m"]
    with pytest.raises(ParameterError, match="model names repeat"):
        model_labels(["a/x.h5", "a/x.h5"])
    ids, y, task = genre_task()
    path = tmp_path / "task.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("ids", data=np.array(ids, dtype=object),
                         dtype=h5py.string_dtype("utf-8"))
    write_task(path, task)
    rng = np.random.default_rng(1)
    files = []
    for seed in range(3):
        files.append(str(tmp_path / f"fit{seed}.h5"))
        Representations(ids, rng.normal(size=(60, 3))
                        + (seed + 1) * (y[:, None] == np.array(["rock", "jazz", "pop"]))
                        ).save(files[-1])
    out = tmp_path / "results"
    assert main(["-q", "evaluate", str(path), *files, "--name", "hdp", "--name", "hdp",
                 "--name", "hdp", "--runs", "2", "--n-iter", "1", "--resamples", "50",
                 "--out", str(out), "--device", "cpu"]) == 0
    assert "6 of 3 fits" in capsys.readouterr().out
    assert [(r.model, r.run, r.config["fit"]) for r in read_results(out)] == [
        ("hdp", run, run // 2) for run in range(6)]
