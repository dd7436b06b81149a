"""Early stopping of a memoized fit on held-out songs (hdpmusic.model.stopping, and
HDPGMM(early_stopping=True))."""

import logging
import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score

from hdpmusic import HDPGMM, Corpus
from hdpmusic.datasets.synthetic import planted_hdp as planted_corpus
from hdpmusic.formats.taskdata import TaskData, write_task
from hdpmusic.model.stopping import (
    AUTO_MIN_GROUPS,
    AUTO_MIN_SONGS,
    CREEP,
    creeping,
    passes_without_improvement,
    stops_early,
    validation_split,
)
from hdpmusic.runtime.errors import DataError, ParameterError
from planted import planted_hdp

SMALL = dict(n_components=12, n_song_components=4, batch_size=20, verbose=False,
             random_state=0, device="cpu")


@pytest.fixture(scope="module")
def songs():
    return planted_hdp(seed=1, n_true=6, d=3, songs=60, frames=(20, 40))[0]


def test_validation_split_partitions_the_songs_reproducibly():
    train, held = validation_split(101, 0.1, seed=3)
    assert len(held) == 11 and len(train) == 90                  # ceil(0.1 * 101)
    assert np.array_equal(np.sort(np.concatenate([train, held])), np.arange(101))
    assert np.all(np.diff(train) > 0) and np.all(np.diff(held) > 0)
    again, held_again = validation_split(101, 0.1, seed=3)
    assert np.array_equal(held, held_again) and np.array_equal(train, again)
    assert not np.array_equal(held, validation_split(101, 0.1, seed=4)[1])


@pytest.mark.parametrize("n_songs, fraction", [(1, 0.1), (0, 0.5), (3, 0.9)])
def test_validation_split_leaves_a_song_on_each_side_or_refuses(n_songs, fraction):
    with pytest.raises(DataError, match="validation_fraction"):
        validation_split(n_songs, fraction, seed=0)
    train, held = validation_split(2, 0.5, seed=0)
    assert len(train) == len(held) == 1


def test_the_rule_waits_for_the_slow_creep():
    tol = 0.05
    limit = CREEP * tol
    assert creeping([0.0, limit], tol) and creeping([1.0, 1.0 - limit / 2], tol)
    assert not creeping([0.0, limit * 1.000001], tol)
    assert not creeping([0.0], tol) and creeping([0.0], 0.0)
    assert creeping([0.0, 100.0], 0.0)                      # tol 0: the ELBO is not asked


def test_validation_split_holds_out_whole_groups():
    groups = np.repeat(np.array([f"track{g}" for g in range(20)]), np.arange(1, 21) % 4 + 1)
    train, held = validation_split(len(groups), 0.1, seed=3, groups=groups)
    assert len(set(groups[held])) == 2                           # ceil(0.1 * 20) groups
    assert not set(groups[held]) & set(groups[train])
    assert np.array_equal(np.sort(np.concatenate([train, held])), np.arange(len(groups)))
    assert np.all(np.diff(train) > 0) and np.all(np.diff(held) > 0)
    again = validation_split(len(groups), 0.1, seed=3, groups=groups)
    assert np.array_equal(again[1], held)
    alone = validation_split(101, 0.1, seed=3, groups=np.arange(101))   # a group a song
    assert all(np.array_equal(a, b) for a, b in zip(alone, validation_split(101, 0.1, 3),
                                                     strict=True))
    with pytest.raises(DataError, match="of the groups and needs at least one left"):
        validation_split(5, 0.1, seed=0, groups=np.zeros(5))


@pytest.mark.parametrize("scores, tol, stale", [
    ([], 0.0, 0),
    ([-5.0], 0.0, 0),
    ([1.0, 2.0, 3.0], 0.0, 0),
    ([3.0, 2.0, 1.0], 0.0, 2),
    ([1.0, 1.05, 1.2], 0.1, 0),        # 1.05 is no improvement, 1.2 beats 1.05 + 0.1
    ([1.0, 1.05, 1.1], 0.1, 2),        # the best rises to 1.05 yet neither counts
    ([1.0, 3.0, 2.0, 3.0, 3.05], 0.1, 3),
    ([2.0, 2.0], 0.0, 0),              # as scikit-learn's: only a lower score is worse
    ([2.0, 2.0], 1e-9, 1),
])
def test_passes_without_improvement_counts_the_last_run(scores, tol, stale):
    assert passes_without_improvement(scores, tol) == stale


def test_stops_once_the_heldout_density_no_longer_rises(songs):
    """tol = 0 turns the ELBO rule off: the plain fit runs to its cap, the early-stopped
    one ends after two passes in a row without a higher held-out score."""
    params = {**SMALL, "tol": 0.0, "max_epochs": 40}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = HDPGMM(**params).fit(songs)
    stopped = HDPGMM(**params, early_stopping=True, n_iter_no_change=2).fit(songs)
    assert len(plain.passes_) == 40
    assert stopped.converged_ and len(stopped.passes_) < 40
    *held_out, last = stopped.passes_
    scores = [p["validation_score"] for p in held_out]
    best_before = max(scores[:-2])
    assert all(s < best_before for s in scores[-2:])
    assert [p["stopped_early"] for p in held_out] == [False] * (len(scores) - 1) + [True]
    assert last["folded_in"] and "validation_score" not in last


@pytest.mark.filterwarnings("ignore:memoized inference reached max_epochs")
def test_fits_the_kept_songs_only_and_scores_the_held_ones(songs, caplog):
    with caplog.at_level(logging.INFO, logger="hdpmusic"):
        model = HDPGMM(**SMALL, max_epochs=4, early_stopping=True, validation_fraction=0.25,
                       n_iter_no_change=10).fit(songs)
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("pass 4:")]
    assert logged[0].endswith(
        f"held-out log density/frame {model.passes_[-1]['validation_score']:.6g}")
    train, held = validation_split(len(songs), 0.25, seed=SMALL["random_state"])
    corpus = Corpus.from_arrays(songs)
    reference = HDPGMM(**SMALL, max_epochs=4).fit(corpus.subset(train))
    assert model.n_songs_ == len(train) == 45
    for name, value in reference.stats_.tensors().items():
        assert torch.equal(value, model.stats_.tensors()[name]), name
    assert model.passes_[-1]["validation_score"] == pytest.approx(
        reference.score(corpus.subset(held)), abs=1e-12)


def _same_fit(whole: HDPGMM, resumed: HDPGMM) -> None:
    assert resumed.passes_ == [{**p, "seconds": q["seconds"]}
                               for p, q in zip(whole.passes_, resumed.passes_, strict=True)]
    for name, value in whole.stats_.tensors().items():
        assert torch.equal(value, resumed.stats_.tensors()[name]), name


def test_a_resumed_fit_holds_out_the_same_songs(songs, tmp_path):
    params = {**SMALL, "tol": 0.0, "early_stopping": True, "n_iter_no_change": 2,
              "max_epochs": 40}
    whole = HDPGMM(**params).fit(songs)
    path = tmp_path / "part.hdp"
    HDPGMM(**{**params, "max_epochs": 3}).fit(songs, checkpoint=path)
    resumed = HDPGMM.load(path)
    resumed.max_epochs = 40
    _same_fit(whole, resumed.fit(songs, resume=True))


class Killed(Exception):
    pass


def test_a_fit_killed_while_folding_the_heldout_songs_in_resumes_exactly(songs, tmp_path,
                                                                        monkeypatch):
    """54 kept songs in 3 batches of 20 and 6 held out in a fourth: killed after the
    first batch of the last pass, the resumed fit ends as the uninterrupted one."""
    params = {**SMALL, "tol": 0.0, "early_stopping": True, "n_iter_no_change": 2,
              "max_epochs": 40}
    whole = HDPGMM(**params).fit(songs)
    assert whole.n_songs_ == len(songs) and whole.passes_[-1]["folded_in"]
    kill_at = whole.n_steps_ - 3                   # the last pass visits 4 batches
    real_step = HDPGMM._step

    def step(model, *args, **kwargs):
        if model.n_steps_ == kill_at:
            raise Killed
        return real_step(model, *args, **kwargs)
    monkeypatch.setattr(HDPGMM, "_step", step)
    path = tmp_path / "part.hdp"
    with pytest.raises(Killed):
        HDPGMM(**params).fit(songs, checkpoint=path, checkpoint_every=1)
    monkeypatch.setattr(HDPGMM, "_step", real_step)
    resumed = HDPGMM.load(path)
    assert resumed.n_songs_ == len(songs) and resumed.batch_in_epoch_ == 1
    _same_fit(whole, resumed.fit(songs, resume=True))


def test_the_heldout_songs_join_for_a_last_pass_over_every_song(songs):
    """The fit that stopped early is a plain fit of the kept songs for as many passes; one
    pass over every song follows, and the model then describes new songs of the same
    planted truth better than the plain fit does."""
    params = {**SMALL, "tol": 0.0, "max_epochs": 40}
    model = HDPGMM(**params, early_stopping=True, n_iter_no_change=2).fit(songs)
    n_stop = len(model.passes_) - 1
    train, _ = validation_split(len(songs), 0.1, seed=SMALL["random_state"])
    kept = HDPGMM(**{**params, "max_epochs": n_stop}).fit(Corpus.from_arrays(songs).subset(train))
    assert model.passes_[:-1] == [
        {**p, "seconds": q["seconds"], "validation_score": q["validation_score"],
         "stopped_early": q["stopped_early"]}
        for p, q in zip(kept.passes_, model.passes_[:-1], strict=True)]
    assert (model.n_songs_, model.n_frames_) == (60, sum(len(s) for s in songs))
    memo = model.optimiser_.memo
    assert memo.parts.tolist() == [54, 6] and int(memo.songs.sum()) == 60
    assert model.stats_.N.sum().item() == pytest.approx(model.n_frames_, rel=1e-9)
    new = planted_hdp(seed=1, n_true=6, d=3, songs=120, frames=(20, 40))[0][60:]
    assert model.score(new) > kept.score(new)


def test_refuses_online_fits_and_corpora_too_small_to_split(songs):
    with pytest.raises(ParameterError, match="early_stopping applies to algorithm='memoized'"):
        HDPGMM(**SMALL, algorithm="online", early_stopping=True).fit(songs)
    with pytest.raises(DataError, match="validation_fraction"):
        HDPGMM(**SMALL, early_stopping=True).fit(songs[:1])
    with pytest.raises(ParameterError, match="validation_fraction"):
        HDPGMM(**SMALL, early_stopping=True, validation_fraction=1.0).fit(songs)


@pytest.mark.filterwarnings("ignore:memoized inference reached max_epochs")
def test_groups_are_held_out_whole(songs):
    """A fit given groups keeps and scores whole groups: the fit of the kept groups' songs,
    the held-out score that of the other groups' songs."""
    groups = np.repeat(np.arange(20), 3)
    model = HDPGMM(**SMALL, max_epochs=2, early_stopping=True).fit(songs, groups=groups)
    train, held = validation_split(len(songs), 0.1, SMALL["random_state"], groups)
    assert model.n_songs_ == len(train) == 54
    corpus = Corpus.from_arrays(songs)
    reference = HDPGMM(**SMALL, max_epochs=2).fit(corpus.subset(train))
    for name, value in reference.stats_.tensors().items():
        assert torch.equal(value, model.stats_.tensors()[name]), name
    assert model.passes_[-1]["validation_score"] == pytest.approx(
        reference.score(corpus.subset(held)), abs=1e-12)
    with pytest.raises(DataError, match="one label per song: the corpus has 60"):
        HDPGMM(**SMALL, early_stopping=True).fit(songs, groups=groups[:-1])


@pytest.mark.filterwarnings("ignore:memoized inference reached max_epochs")
def test_a_corpus_file_with_groups_has_them_held_out_whole(songs, tmp_path, caplog):
    """Without groups=, a fit on a corpus file (or a subset of one) with a groups column
    holds out whole groups, songs without a group alone, as given those labels; groups=
    the ids holds out single songs; a corpus in memory has none."""
    path = tmp_path / "grouped.h5"
    ids = [f"s{j:02d}" for j in range(60)]
    Corpus.from_arrays(songs, ids=ids).save(path)
    labels = np.array([f"track{j // 3}" if j < 45 else "" for j in range(60)])
    write_task(path, TaskData(ids=ids, groups=labels))
    units = np.array([f"group:{g}" if g else f"song:{i}" for g, i in zip(labels, ids, strict=True)])
    params = {**SMALL, "max_epochs": 1, "early_stopping": True}
    with caplog.at_level(logging.INFO, logger="hdpmusic.model.hdpgmm"):
        by_file = HDPGMM(**params).fit(Corpus.open(path))
    assert "early stopping: 7 of 60 songs held out (3 of 30 groups, whole)" in caplog.text
    given = HDPGMM(**params).fit(songs, groups=units)
    assert by_file.held_out_digest_ == HDPGMM(**params).fit(
        Corpus.open(path), groups=units).held_out_digest_
    assert by_file.n_songs_ == given.n_songs_ == 60 - 3 * 2 - 1   # ceil(0.1 * 30) units
    single = HDPGMM(**params).fit(Corpus.open(path), groups=ids)
    assert single.n_songs_ == 54 and single.held_out_digest_ != by_file.held_out_digest_
    subset = Corpus.open(path).subset(np.arange(30))             # 10 tracks of 3 songs
    assert HDPGMM(**params).fit(subset).n_songs_ == 27
    assert HDPGMM(**params).fit(Corpus.from_arrays(songs, ids=ids)).n_songs_ == 54


@pytest.mark.filterwarnings("ignore:memoized inference reached max_epochs")
def test_a_fit_resumed_with_other_groups_is_refused(songs, tmp_path):
    """Groups that hold out other songs (here as many) would silently continue another
    split: the saved digest of the held-out songs refuses them."""
    path = tmp_path / "part.hdp"
    params = {**SMALL, "max_epochs": 1, "early_stopping": True}
    HDPGMM(**params).fit(songs, groups=np.arange(60) // 3, checkpoint=path)
    resumed = HDPGMM.load(path)
    assert resumed.held_out_digest_ is not None
    resumed.max_epochs = 2
    with pytest.raises(DataError, match="would hold out other songs than it started with"):
        resumed.fit(songs, groups=(np.arange(60) + 1) // 3 % 20, resume=True)
    resumed.fit(songs, groups=np.arange(60) // 3, resume=True)
    assert len(resumed.passes_) == 2


@pytest.mark.filterwarnings("ignore:online inference will make")
def test_auto_holds_songs_out_of_memoized_fits_from_a_hundred_songs(tmp_path):
    """The default, "auto": a memoized fit of AUTO_MIN_SONGS songs holds a tenth out (a
    fit capped before it stops says they have not joined yet), one song fewer is fitted
    whole, and an online fit never holds songs out."""
    assert [stops_early("auto", n) for n in (AUTO_MIN_SONGS - 1, AUTO_MIN_SONGS)] == [
        False, True]
    assert stops_early(True, 2) and not stops_early(False, 10**6)
    many = planted_hdp(seed=2, n_true=4, d=3, songs=AUTO_MIN_SONGS, frames=(10, 20))[0]
    params = {**SMALL, "max_epochs": 2}
    with pytest.warns(ConvergenceWarning, match="held-out songs' density stopped rising"):
        model = HDPGMM(**params).fit(many)
    assert model.early_stopping == "auto" and model.early_stopping_
    assert model.n_songs_ == AUTO_MIN_SONGS * 9 // 10
    assert all(np.isfinite(p["validation_score"]) for p in model.passes_)
    model.save(tmp_path / "m.hdp")
    assert HDPGMM.load(tmp_path / "m.hdp").early_stopping_
    with pytest.warns(ConvergenceWarning) as caught:
        few = HDPGMM(**params).fit(many[:-1])
    assert "held-out" not in str(caught[0].message)
    assert not few.early_stopping_ and few.n_songs_ == AUTO_MIN_SONGS - 1
    assert not any("validation_score" in p for p in few.passes_)
    # in groups: on from AUTO_MIN_GROUPS of them (two held out), whole groups held out
    assert [stops_early("auto", AUTO_MIN_SONGS, n) for n in (AUTO_MIN_GROUPS - 1,
                                                              AUTO_MIN_GROUPS)] == [False, True]
    assert not stops_early("auto", AUTO_MIN_SONGS - 1, AUTO_MIN_SONGS - 1)
    size = -(-AUTO_MIN_SONGS // (AUTO_MIN_GROUPS - 1))       # songs a group: too few groups
    with pytest.warns(ConvergenceWarning):
        few_groups = HDPGMM(**params).fit(many, groups=np.arange(AUTO_MIN_SONGS) // size)
    assert not few_groups.early_stopping_ and few_groups.n_songs_ == AUTO_MIN_SONGS
    size = AUTO_MIN_SONGS // AUTO_MIN_GROUPS
    with pytest.warns(ConvergenceWarning):
        grouped = HDPGMM(**params).fit(many, groups=np.arange(AUTO_MIN_SONGS) // size)
    assert grouped.early_stopping_
    assert grouped.n_songs_ == AUTO_MIN_SONGS - 2 * size    # two whole groups held out
    online = HDPGMM(**params, algorithm="online").fit(many)
    assert not online.early_stopping_ and online.n_songs_ == AUTO_MIN_SONGS


@pytest.mark.filterwarnings("ignore:memoized inference reached max_epochs")
def test_each_rank_scores_its_share_of_the_heldout_songs(songs, monkeypatch):
    """Under torch.distributed the held-out songs are split over the ranks (more ranks
    than songs included) and the ranks' sums add up to the one-process score."""
    model = HDPGMM(**SMALL, max_epochs=1).fit(songs)
    held = Corpus.from_arrays(songs[:7])
    assert model._validation_score(held) == pytest.approx(model.score(held), abs=1e-12)
    monkeypatch.setattr("hdpmusic.model.hdpgmm.all_reduce_sum", lambda total: total)
    jacobian = model._log_jacobian()
    shares = []
    for rank in range(10):
        monkeypatch.setattr("hdpmusic.model.hdpgmm.world", lambda r=rank: (r, 10))
        shares.append(model._validation_score(held) - jacobian)
    assert shares.count(0.0) == 3
    assert sum(shares) + jacobian == pytest.approx(model.score(held), rel=1e-12)


@pytest.mark.parametrize("moves", [True, False])
def test_does_not_stop_a_fit_that_is_still_finding_planted_structure(moves):
    """The planted benchmark's corpus (20 components in d = 8, 300 training songs), with
    the default early stopping: the fit is not cut before the components found are the
    planted ones. With moves the held-out density keeps rising until the ELBO rule ends
    the fit; without them it dips in the first passes while the ELBO still rises fast,
    and only the CREEP gate keeps the rule from stopping there (it did after 11 passes,
    at an adjusted Rand index of 0.92)."""
    corpus = planted_corpus(seed=0, songs=400)
    train, test = corpus.songs[:300], corpus.songs[300:]
    model = HDPGMM(n_components=64, n_song_components=16, batch_size=100, eta0=0.0,
                   verbose=False, max_epochs=30, moves=moves).fit(train)
    assert model.early_stopping_ and model.converged_
    assert not model.passes_[-2]["stopped_early"]
    assert model.passes_[-1]["folded_in"] and model.n_songs_ == 300
    if moves:
        assert abs(model.n_active_components_ - 20) <= 2
    truth = np.concatenate(corpus.labels[300:])
    assert adjusted_rand_score(truth, model.predict(np.concatenate(test))) >= 0.95
