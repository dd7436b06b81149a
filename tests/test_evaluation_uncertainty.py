"""Bootstrap statistics against direct references: scikit-learn on resampled songs,
NumPy percentile loops, coverage on planted data with a known true score."""

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, average_precision_score, f1_score, roc_auc_score

from hdpmusic.evaluation import predictions as predictions_module
from hdpmusic.evaluation.predictions import (
    Predictions,
    bootstrap_records,
    concatenate,
    load_predictions,
    save_predictions,
)
from hdpmusic.evaluation.uncertainty import (
    paired_difference,
    percentile_interval,
    resample_counts,
    weighted_accuracy,
    weighted_macro_ap,
    weighted_macro_auc,
    weighted_macro_f1,
    weighted_mean,
)


def counts_of(n, n_resamples=40, seed=0):
    return np.concatenate(list(resample_counts(n, n_resamples, seed, chunk_size=7)))


def resampled_rows(counts):
    """The drawn rows of each resample, as a loop over resamples would take them."""
    return [np.repeat(np.arange(counts.shape[1]), row) for row in counts]


def test_resample_counts_draw_units_with_replacement():
    counts = counts_of(50, 2000, seed=3)
    assert counts.shape == (2000, 50) and (counts.sum(axis=1) == 50).all()
    # each unit's count is Binomial(50, 1/50): mean 1, variance 1 - 1/50
    assert counts.mean() == pytest.approx(1.0)
    assert counts.var() == pytest.approx(1 - 1 / 50, rel=0.05)
    again = np.concatenate(list(resample_counts(50, 2000, 3)))
    assert np.array_equal(np.concatenate(list(resample_counts(50, 2000, 3))), again)
    assert not np.array_equal(np.concatenate(list(resample_counts(50, 2000, 4))), again)


def test_label_metrics_match_scikit_learn_on_resampled_songs():
    rng = np.random.default_rng(0)
    y = rng.choice(["a", "b", "c", "d"], size=30, p=[0.5, 0.3, 0.15, 0.05])
    pred = np.where(rng.random(30) < 0.6, y, rng.choice(["a", "b", "c", "e"], size=30))
    counts = counts_of(30)
    f1, acc = weighted_macro_f1(counts, y, pred), weighted_accuracy(counts, y, pred)
    for b, rows in enumerate(resampled_rows(counts)):
        assert f1[b] == pytest.approx(f1_score(y[rows], pred[rows], average="macro"))
        assert acc[b] == pytest.approx(accuracy_score(y[rows], pred[rows]))


def test_ranking_metrics_match_scikit_learn_on_resampled_songs():
    rng = np.random.default_rng(1)
    Y = rng.random((25, 4)) < [0.5, 0.2, 0.08, 0.5]
    scores = np.round(rng.normal(size=(25, 4)) + Y, 1)     # rounded: tied scores
    counts = counts_of(25)
    auc, ap = weighted_macro_auc(counts, Y, scores), weighted_macro_ap(counts, Y, scores)
    for b, rows in enumerate(resampled_rows(counts)):
        Yb, Sb = Y[rows], scores[rows]
        positives = Yb.sum(axis=0)
        scored = (positives > 0) & (positives < len(rows))
        assert auc[b] == pytest.approx(roc_auc_score(Yb[:, scored], Sb[:, scored],
                                                     average="macro"))
        assert ap[b] == pytest.approx(average_precision_score(Yb[:, scored], Sb[:, scored],
                                                              average="macro"))


def test_weighted_mean_and_undefined_resamples():
    values = np.array([0.1, 0.5, 0.9])
    counts = counts_of(3)
    expected = [values[rows].mean() for rows in resampled_rows(counts)]
    assert weighted_mean(counts, values) == pytest.approx(expected)
    assert np.isnan(weighted_mean(np.zeros((1, 3)), values)).all()
    one_class = np.zeros((2, 1), dtype=bool)
    assert np.isnan(weighted_macro_auc(np.ones((1, 2)), one_class, np.ones((2, 1)))).all()


def test_percentile_interval_is_the_loop_percentile():
    rng = np.random.default_rng(2)
    x = rng.exponential(size=40)
    counts = counts_of(40, 500, seed=9)
    loop = np.array([x[rows].mean() for rows in resampled_rows(counts)])
    low, high = percentile_interval(weighted_mean(counts, x))
    assert (low, high) == pytest.approx((np.percentile(loop, 2.5), np.percentile(loop, 97.5)))
    assert percentile_interval(np.r_[loop, np.nan]) == (low, high)    # NaN left out
    assert np.isnan(percentile_interval(np.array([np.nan]))).all()


def genre_run(y, correct, groups, block=0):
    """Predictions whose correct songs are planted: a wrong song is predicted 'other'."""
    return Predictions(groups, np.full(y.size, block), np.where(correct, y, "other"), y)


def coverage(rng, n_sets, n_groups, size, p, *, by_group):
    """Share of planted test sets whose accuracy CI holds the true accuracy ``p``; the
    songs of a group are all right or all wrong."""
    hits = 0
    for _ in range(n_sets):
        right = np.repeat(rng.random(n_groups) < p, size)
        groups = np.repeat(np.arange(n_groups), size) if by_group else np.arange(right.size)
        run = genre_run(np.full(right.size, "a"), right, groups)
        (samples,) = bootstrap_records([(run, "accuracy")], n_resamples=400,
                                       seed=int(rng.integers(1 << 31)))
        low, high = percentile_interval(samples)
        hits += low <= p <= high
    return hits / n_sets


def test_ci_covers_a_known_true_accuracy():
    rng = np.random.default_rng(5)
    # 200 test sets; the binomial SD of a 95 % coverage estimate is 1.5 %
    assert 0.90 <= coverage(rng, 200, 150, 1, 0.7, by_group=False) <= 0.99


def test_resampling_whole_groups_keeps_the_coverage_songs_would_lose():
    rng = np.random.default_rng(6)
    # groups of 6 songs that are right or wrong together: 40 independent units, not 240
    assert 0.88 <= coverage(rng, 150, 40, 6, 0.7, by_group=True) <= 0.99
    assert coverage(rng, 150, 40, 6, 0.7, by_group=False) < 0.75


def test_group_resampling_keeps_groups_whole(monkeypatch):
    seen = []
    monkeypatch.setitem(predictions_module.METRIC_FUNCTIONS, "spy",
                        lambda w, p: seen.append((w, p.groups)) or w.sum(axis=1) * 1.0)
    groups = np.array(["x", "y", "x", "z", "y", "x", "w"])
    run = Predictions(groups, np.zeros(7), np.zeros(7))
    (sizes,) = bootstrap_records([(run, "spy")], n_resamples=300, seed=1)
    weights, order = np.concatenate([w for w, _ in seen]), seen[0][1]
    for g in set(groups):
        members = weights[:, order == g]
        assert (members == members[:, :1]).all(), g      # a group is drawn whole
    # 4 groups drawn 4 times per resample: songs per resample = Σ draws × group size
    draws = weights[:, [list(order).index(g) for g in "xyzw"]]
    assert (draws.sum(axis=1) == 4).all()
    assert np.array_equal(sizes, draws @ np.array([3, 2, 1, 1]))


def test_paired_difference_of_a_model_with_itself_is_zero():
    rng = np.random.default_rng(7)
    y = rng.choice(["a", "b"], size=50)
    run = genre_run(y, rng.random(50) < 0.7, np.arange(50))
    a, b = bootstrap_records([(run, "f1_macro"), (run, "f1_macro")], n_resamples=200)
    assert np.array_equal(a, b)
    assert paired_difference(a, b) == {"low": 0.0, "high": 0.0, "wins_a": 0.0, "wins_b": 0.0}


def test_paired_resamples_are_shared_and_win_shares_count():
    rng = np.random.default_rng(8)
    y = rng.choice(["a", "b"], size=200)
    truth = rng.random(200)
    good = genre_run(y, truth < 0.8, np.arange(200))
    bad = genre_run(y, truth < 0.6, np.arange(200))        # right only where good is
    a, b = bootstrap_records([(good, "accuracy"), (bad, "accuracy")], n_resamples=300)
    diff = paired_difference(a, b)
    assert diff["wins_a"] == 1.0 and diff["wins_b"] == 0.0
    loop = a - b
    assert (diff["low"], diff["high"]) == pytest.approx(
        (np.percentile(loop, 2.5), np.percentile(loop, 97.5)))
    # the same draws apply to both: b's resampled accuracy never exceeds a's
    assert (a >= b).all()


def test_blocks_average_and_score_is_the_plain_metric():
    y = np.array(["a", "b", "a", "b"])
    first = genre_run(y, np.array([1, 1, 0, 1], bool), ["s0", "s1", "s2", "s3"], block=0)
    second = genre_run(y, np.array([1, 0, 0, 0], bool), ["s0", "s1", "s2", "s3"], block=1)
    both = concatenate([first, second])
    assert both.score("accuracy") == pytest.approx((0.75 + 0.25) / 2)
    assert both.score("f1_macro") == pytest.approx(
        (f1_score(y, first.output, average="macro")
         + f1_score(y, second.output, average="macro")) / 2)


def test_predictions_file_round_trip(tmp_path):
    runs = {"r0": Predictions(np.array(["song:a", "group:b"]), [0, 0], ["x", "y"],
                              np.array(["x", "x"], dtype=object)),
            "r1": Predictions(np.array([4, 9]), [0, 1], [0.25, 0.5])}
    save_predictions(runs, tmp_path / "p.npz")
    back = load_predictions(tmp_path / "p.npz")
    assert set(back) == {"r0", "r1"} and back["r1"].truth is None
    for key, run in runs.items():
        for name in ("groups", "block", "output"):
            assert np.array_equal(getattr(back[key], name), getattr(run, name))
    assert back["r0"].truth.tolist() == ["x", "x"]
