"""Memoized inference and its moves against planted truth, and the online schedule's limits."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score

from hdpmusic import HDPGMM
from hdpmusic.datasets.synthetic import planted_hdp
from hdpmusic.model.memoized import SETTLED_SHARE, MemoizedVI
from hdpmusic.model.moves import COUNTS, merge_candidates, nearest_pairs
from hdpmusic.model.sufficient import Prior, Stats
from hdpmusic.runtime.errors import ParameterError
from planted import planted_hdp as small_planted

#: the issue's benchmark corpus: 20 components in d = 8, geometric corpus weights, 300
#: training songs of 150–300 frames mixing 3–5 components each
HARD = dict(n_components=64, n_song_components=16, batch_size=100, eta0=0.0, verbose=False)


@pytest.fixture(scope="module")
def planted():
    corpus = planted_hdp(seed=0, songs=400)
    return corpus, corpus.songs[:300], corpus.songs[300:], np.concatenate(corpus.labels[300:])


def matched_weights(model, corpus):
    """The model's E[β_k] of the component most of each true component's frames go to."""
    frames, labels = np.concatenate(corpus.songs), np.concatenate(corpus.labels)
    pred = model.predict(frames)
    best = [np.bincount(pred[labels == k], minlength=model.n_components).argmax()
            for k in range(len(corpus.weights))]
    return model.weights_[best]


@pytest.fixture(scope="module")
def memoized_fit(planted):
    _, train, _, _ = planted
    return HDPGMM(**HARD, max_epochs=30).fit(train)


def test_memoized_with_moves_recovers_planted_truth(planted, memoized_fit):
    corpus, _, test, truth = planted
    model = memoized_fit
    assert len(model.passes_) <= 30
    assert adjusted_rand_score(truth, model.predict(np.concatenate(test))) >= 0.95
    assert abs(model.n_active_components_ - 20) <= 2
    assert sum(p["merges"] for p in model.passes_) >= 64 - 22    # K is an upper bound
    # the corpus sticks carry the truth: each component's weight is its share of songs
    np.testing.assert_allclose(matched_weights(model, corpus), corpus.song_shares(),
                               atol=0.02)


def test_weights_need_the_corpus_sticks(planted, monkeypatch):
    """The same check fails when the local step ignores E[log β] (the sticks learn
    nothing then), so the planted test depends on them."""
    import hdpmusic.model.hdpgmm as module

    corpus, train, _, _ = planted
    real = module.HDPGMM._local_params

    def flat_sticks(self):
        lp = real(self)
        lp.log_beta = torch.zeros_like(lp.log_beta)
        return lp

    monkeypatch.setattr(module.HDPGMM, "_local_params", flat_sticks)
    model = HDPGMM(**HARD, max_epochs=10).fit(train)
    err = np.abs(matched_weights(model, corpus) - corpus.song_shares())
    assert err.max() > 0.02


def test_online_paper_schedule_fails_the_same_corpus(planted):
    """What memoized inference fixes: 30 epochs of the paper's schedule (90 updates) keep
    the k-means++ initialisation, and the fit warns about it up front."""
    _, train, test, truth = planted
    with pytest.warns(RuntimeWarning, match="memoized"):
        model = HDPGMM(**HARD, max_epochs=30, algorithm="online").fit(train)
    ari = adjusted_rand_score(truth, model.predict(np.concatenate(test)))
    assert ari < 0.95 or abs(model.n_active_components_ - 20) > 2


def test_memoized_elbo_never_decreases_without_moves_or_splash():
    X, _ = small_planted(seed=3, n_true=6, d=3, songs=90, frames=(20, 50))
    model = HDPGMM(n_components=16, n_song_components=5, batch_size=30, max_epochs=8,
                   moves=False, tol=0.0, dtype="float64", local_tol=1e-9, local_max_iter=300,
                   verbose=False).fit(X)
    elbo = np.array([p["elbo_per_frame"] for p in model.passes_])
    assert len(elbo) == 8
    assert (np.diff(elbo) >= -1e-9 * np.abs(elbo[1:])).all(), elbo
    assert elbo[-1] > elbo[0]


def test_moves_never_lower_the_elbo(monkeypatch):
    """Every accepted reorder or merge raises the exact ELBO of the memoized state; every
    reorder trial scored from the components' known terms equals its ELBO recomputed
    whole, and so does every merge trial, all of a round scored at once: each is checked
    against the trial state built here, one by one, and evaluated from its statistics."""
    X, _ = small_planted(seed=4, n_true=5, d=3, songs=80, frames=(20, 40))
    seen, trials = [], []
    real_end, real_merge = MemoizedVI.end_pass, MemoizedVI._merge

    def checked(self, evaluate, prior, **kwargs):
        def both(stats, own=None):
            fast = evaluate(stats, own)
            if fast.ndim == 0:
                trials.append((float(fast), float(evaluate(stats))))
            return fast

        before = float(evaluate(self.total(kwargs["n_songs"])))
        done = real_end(self, both, prior, **kwargs)
        after = float(evaluate(self.total(kwargs["n_songs"])))
        seen.append((before, after, done["merges"] + done["reordered"]))
        return done

    def merge_checked(self, evaluate, prior, best, own, position, n_songs):
        stats, total = self.total(n_songs), self.components.sum(0)
        lost = self.gaps.sum(0)
        for p, (a, b) in enumerate(torch.sort(position[self.pairs], dim=1).values.tolist()):
            trial = total.clone()
            trial[a] += trial[b]
            trial[b] = 0.0
            trial = trial[torch.argsort(trial[:, COUNTS], descending=True, stable=True)]
            whole = evaluate(Stats.from_parts(trial, stats.alpha, stats.entropy - lost[p]))
            merge_trials.append([float(whole)])
        first_round = []

        def scored(stats, own):
            out = evaluate(stats, own)
            if out.ndim and not first_round:
                first_round.append(out.tolist())
            return out

        result = real_merge(self, scored, prior, best, own, position, n_songs)
        for row, fast in zip(merge_trials[-len(first_round[0]):], first_round[0], strict=True):
            row.append(fast)
        return result

    merge_trials = []
    monkeypatch.setattr(MemoizedVI, "end_pass", checked)
    monkeypatch.setattr(MemoizedVI, "_merge", merge_checked)
    model = HDPGMM(n_components=20, n_song_components=5, batch_size=20, max_epochs=8,
                   verbose=False).fit(X)
    assert sum(n for *_, n in seen) > 0 and model.n_active_components_ < 20
    for before, after, n in seen:
        assert after >= before if n else after == before
    assert len(trials) >= len(seen) and len(merge_trials) > 3 * len(seen)
    fast, whole = np.array(trials).T
    np.testing.assert_allclose(fast, whole, rtol=1e-11)
    whole, fast = np.array(merge_trials).T
    np.testing.assert_allclose(fast, whole, rtol=1e-11)


def memo_from_data(rng, n_batches, K, d, counts):
    """A memoized state whose per-batch statistics are those of real points: component k
    holds ``counts[k]`` slots and a few frames around its own mean in every batch."""
    memo = MemoizedVI(n_batches, K, d, "cpu")
    t64 = dict(dtype=torch.float64)
    for i in range(n_batches):
        x = [rng.normal(3.0 * k, 1.0, size=(int(rng.integers(5, 15)), d)) for k in range(K)]
        memo.components[i] = Stats.from_counts(
            torch.tensor([len(xk) for xk in x], **t64),
            torch.as_tensor(np.stack([xk.sum(0) for xk in x])),
            torch.as_tensor(np.stack([xk.T @ xk for xk in x])), torch.tensor(counts, **t64),
            torch.tensor(0.0, **t64), torch.tensor([len(xk) for xk in x], **t64),
            torch.tensor(0.0, **t64)).per_component()
    memo.scalars[:, 1] = torch.as_tensor(rng.uniform(5, 10, n_batches))
    memo.songs[:] = 5
    return memo


def test_merge_after_reorder_merges_the_tracked_pair():
    """The candidates are numbered as at the start of the pass: when the end of the pass
    first reorders the components by size, the tracked pair's own statistics are merged and
    its own entropy loss is subtracted."""
    rng = np.random.default_rng(0)
    K, d = 4, 2
    memo = memo_from_data(rng, 3, K, d, counts=[1.0, 5.0, 2.0, 8.0])   # size order 3, 1, 2, 0
    memo.pairs = torch.tensor([[0, 2], [1, 3]])
    memo.gaps = torch.as_tensor(rng.uniform(0.1, 0.5, (3, 2)))
    memo.tracked[:] = True
    table, entropy, gaps = memo.components.clone(), memo.scalars[:, 1].clone(), memo.gaps.clone()
    prior = Prior(m0=torch.zeros(d, dtype=torch.float64),
                  W0_inv=torch.eye(d, dtype=torch.float64), lam0=1.0, nu0=d + 2.0, gamma=1.0,
                  alpha0=1.0)
    # scores: the state, the reordered state (kept), both merges at once: (0, 2) kept,
    # as the first that raises the ELBO; (1, 3) scored again on the merged state: rejected
    scores = iter([0.0, 1.0, [2.0, 5.0], [-1.0]])
    done = memo.end_pass(lambda stats, own: torch.tensor(next(scores)), prior, n_songs=15,
                         moves=True, max_pairs=4)
    assert next(scores, None) is None
    assert done == {"merges": 1, "reordered": 1, "count_change": float("inf")}   # 1st pass
    for i in range(3):
        want = [table[i, 0] + table[i, 2], table[i, 1], table[i, 3], torch.zeros_like(table[i, 0])]
        np.testing.assert_allclose(sorted(memo.components[i].tolist()),
                                   sorted(torch.stack(want).tolist()))
    np.testing.assert_allclose(memo.scalars[:, 1], entropy - gaps[:, 0])


def test_count_change_is_the_largest_move_of_a_ranked_share_of_the_slots():
    """Nothing to compare at the first pass; the same counts in another order are no
    change; 0.6 more slots for one component over 3 batches x 16 slots: 0.6 / 48.6."""
    rng = np.random.default_rng(1)
    memo = memo_from_data(rng, 3, 4, 2, counts=[1.0, 5.0, 2.0, 8.0])
    end = dict(evaluate=None, prior=None, n_songs=15, moves=False, max_pairs=0)
    assert memo.end_pass(**end)["count_change"] == float("inf")
    memo.components = memo.components[:, [3, 0, 2, 1]]
    assert memo.end_pass(**end)["count_change"] == 0.0
    memo.components[0, 2, COUNTS] += 0.6
    assert memo.end_pass(**end)["count_change"] == pytest.approx(0.6 / 48.6, rel=1e-12)


def test_merge_candidates_leave_out_components_without_a_frame():
    """A component under one frame sits on the prior: merging it changes nothing, so it
    takes no candidate slot (on planted truth such no-op merges were accepted every pass
    by a rounding gain and crowded out the real ones)."""
    rng = np.random.default_rng(2)
    t64 = dict(dtype=torch.float64)
    N = [12.0, 9.0, 15.0, 0.4, 1e-9]
    x = [rng.normal(2.0 * k, 1.0, size=(max(int(n), 1), 2)) for k, n in enumerate(N)]
    scale = [n / len(xk) for n, xk in zip(N, x, strict=True)]
    stats = Stats.from_counts(
        torch.tensor(N, **t64),
        torch.as_tensor(np.stack([c * xk.sum(0) for c, xk in zip(scale, x, strict=True)])),
        torch.as_tensor(np.stack([c * xk.T @ xk for c, xk in zip(scale, x, strict=True)])),
        torch.tensor([3.0, 2.0, 4.0, 0.1, 0.0], **t64), torch.tensor(0.0, **t64),
        torch.tensor(N, **t64), torch.tensor(0.0, **t64))
    prior = Prior(m0=torch.zeros(2, **t64), W0_inv=torch.eye(2, **t64), lam0=1.0,
                  nu0=4.0, gamma=1.0, alpha0=1.0)
    pairs = merge_candidates(stats, prior, max_pairs=10)
    assert {tuple(p) for p in pairs.tolist()} == {(0, 1), (0, 2), (1, 2)}


def test_fit_capped_before_convergence_warns_and_a_converged_fit_stays_converged():
    X, _ = small_planted(seed=3, n_true=4, d=2, songs=40, frames=(20, 40))
    small = dict(n_components=8, n_song_components=4, batch_size=20, verbose=False)
    with pytest.warns(ConvergenceWarning, match="max_epochs=2"):
        HDPGMM(**small, max_epochs=2).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        HDPGMM(**small, max_epochs=2, tol=0.0).fit(X)            # tol 0: run all passes
        model = HDPGMM(**small, max_epochs=200).fit(X)
    assert model.converged_ and len(model.passes_) < 200
    passes = len(model.passes_)
    model.fit(X, resume=True)                                   # nothing left to do
    assert model.converged_ and len(model.passes_) == passes


def test_tol_is_a_change_per_frame_in_nats_whatever_the_units():
    """The fit stops at the first pass whose ELBO per frame moved by at most ``tol`` nats
    per dimension while no component's share of the slots moved by more than
    SETTLED_SHARE; the same songs in other units (x 1000, no whitening) stop at the same
    pass, their ELBO per frame lower by d log 1000 (the Jacobian: a closed form)."""
    X, _ = small_planted(seed=3, n_true=4, d=2, songs=40, frames=(20, 40))
    small = dict(n_components=8, n_song_components=4, batch_size=20, verbose=False,
                 whiten=None, dtype="float64", tol=5e-4, max_epochs=200)
    fits = [HDPGMM(**small).fit([x.astype(np.float64) * c for x in X]) for c in (1.0, 1e3)]
    for model in fits:
        gains = np.abs(np.diff([p["elbo_per_frame"] for p in model.passes_]))
        shares = np.array([p["count_change"] for p in model.passes_[1:]])
        settled = (gains <= 2 * 5e-4) & (shares <= SETTLED_SHARE)
        assert model.converged_ and settled[-1] and not settled[:-1].any()
    assert len(fits[0].passes_) == len(fits[1].passes_)
    np.testing.assert_allclose(fits[0].passes_[-1]["elbo_per_frame"]
                               - fits[1].passes_[-1]["elbo_per_frame"], 2 * np.log(1e3),
                               rtol=1e-6)


def test_partial_fit_scales_frames_and_statistics_to_the_corpus():
    X, _ = small_planted(seed=5, n_true=4, d=3, songs=20, frames=(20, 40))
    model = HDPGMM(n_components=6, n_song_components=3, eta0=0.0, verbose=False,
                   algorithm="online")
    model.partial_fit(X[:10], corpus_size=40)
    frames = sum(len(x) for x in X[:10])
    assert model.n_frames_ == round(frames * 4)
    assert model.n_songs_ == 40
    # the statistics' frame total is the corpus's, like the ELBO's normaliser
    assert float(model.stats_.N.sum()) == pytest.approx(model.n_frames_, rel=0.02)


def test_partial_fit_is_refused_by_memoized_inference_with_the_remedy():
    X, _ = small_planted(seed=5, n_true=4, d=3, songs=20, frames=(20, 40))
    model = HDPGMM(n_components=6, n_song_components=3, verbose=False)
    with pytest.raises(ParameterError, match=r"algorithm='online'"):
        model.partial_fit(X[:10])
    assert not hasattr(model, "stats_")                       # nothing was initialised


@pytest.mark.parametrize("params, match", [
    ({"tau0": float("inf")}, "tau0"), ({"tau0": 0.0, "kappa": 0.6}, "tau0"),
    ({"max_epochs": 0}, "max_epochs"), ({"algorithm": "sgd"}, "algorithm"),
    ({"tol": -1.0}, "tol"), ({"local_tol": float("nan")}, "local_tol")])
def test_meaningless_parameters_are_refused(params, match):
    X, _ = small_planted(seed=5, n_true=3, d=2, songs=10, frames=(10, 20))
    with pytest.raises(ParameterError, match=match):
        HDPGMM(n_components=4, n_song_components=2, verbose=False, **params).fit(X)


def test_long_online_schedule_does_not_warn():
    X, _ = small_planted(seed=6, n_true=3, d=2, songs=40, frames=(10, 20))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        HDPGMM(n_components=4, n_song_components=2, algorithm="online", batch_size=1,
               tau0=1.0, kappa=0.5, max_epochs=4, verbose=False).fit(X)


def test_nearest_pairs_against_brute_force():
    rng = np.random.default_rng(3)
    n, d = 9, 3
    m = rng.normal(size=(n, d))
    A = rng.normal(size=(n, d, d))
    P = A @ A.transpose(0, 2, 1) + np.eye(d)
    dist = np.array([[(m[b] - m[a]) @ P[a] @ (m[b] - m[a]) + (m[a] - m[b]) @ P[b] @ (m[a] - m[b])
                      for b in range(n)] for a in range(n)])
    np.fill_diagonal(dist, np.inf)
    want = {tuple(sorted((a, int(b)))) for a in range(n) for b in np.argsort(dist[a])[:2]}
    got = nearest_pairs(torch.as_tensor(m), torch.as_tensor(P), 2)
    assert {tuple(p) for p in got.tolist()} == want


def test_pass_records_feed_the_reports_training_plot(memoized_fit):
    from hdpmusic.report import history_series

    series = history_series(memoized_fit.passes_)
    assert series.x_label == "pass" and len(series) == len(memoized_fit.passes_)
    np.testing.assert_allclose(series.objective,
                               [p["elbo_per_frame"] for p in memoized_fit.passes_])
    assert series.counts["active (≥ 0.1 % of the usage)"][-1] == memoized_fit.n_active_components_
    assert 1.0 <= series.counts["effective number"][-1] <= memoized_fit.n_active_components_


def test_songs_added_mid_fit_get_batches_of_their_own():
    """A plan of 54 songs in batches of 20 (3 batches), then 6 more: a fourth batch holds
    exactly the new songs, the first three are unchanged, and the sum is scaled to the 60
    songs until the new batch is visited."""
    rng = np.random.default_rng(0)
    memo = memo_from_data(rng, 3, 4, 2, [4.0, 3.0, 2.0, 1.0])
    before = dict(memo.plan(54, 20, seed=7, epoch=2))
    seen = memo.total(15).N.clone()                  # 3 batches of 5 songs: no scaling
    memo.add_songs(54, 6, 20)
    after = dict(memo.plan(60, 20, seed=7, epoch=2))
    assert sorted(after) == [0, 1, 2, 3]
    assert all(np.array_equal(after[b], before[b]) for b in before)
    assert np.array_equal(np.sort(after[3]), np.arange(54, 60))
    assert memo.parts.tolist() == [54, 6] and not memo.complete
    assert memo.components.shape[0] == memo.gaps.shape[0] == memo.tracked.shape[0] == 4
    assert torch.allclose(memo.total(60).N, seen * 60 / 15)
    restored = MemoizedVI.from_state_tensors(memo.state_tensors(), "cpu")
    assert dict(restored.plan(60, 20, seed=7, epoch=2)).keys() == after.keys()
    assert np.array_equal(dict(restored.plan(60, 20, seed=7, epoch=2))[3], after[3])


def test_a_memo_saved_before_parts_existed_plans_one_part():
    memo = memo_from_data(np.random.default_rng(0), 3, 4, 2, [4.0, 3.0, 2.0, 1.0])
    state = {k: v for k, v in memo.state_tensors().items() if k != "parts"}
    restored = MemoizedVI.from_state_tensors(state, "cpu")
    assert [b.tolist() for _, b in restored.plan(54, 20, seed=1, epoch=0)] == [
        b.tolist() for _, b in memo.plan(54, 20, seed=1, epoch=0)]
    assert len(restored.plan(54, 20, seed=1, epoch=0)) == 3
