"""Tests of hdpmusic.evaluation.interpretability and `hdpmusic interpret`."""

import numpy as np
import pytest
import scipy.sparse as sp

from hdpmusic.evaluation.interpretability import (
    MIN_SHARE,
    component_load,
    format_table,
    interpret,
    tag_enrichment,
)
from hdpmusic.runtime.errors import DataError, ParameterError

TAGS = ["rock", "guitar", "piano", "classical", "techno", "beat", "vocal", "male"]


def _planted(seed=0, J=400, K=6):
    """Songs dominated by one component; component c → tags PAIRS[c] (mostly), plus noise.

    Component loads are planted unequal: 0 > 2 > 4 > 1 > ... by song counts.
    """
    rng = np.random.default_rng(seed)
    pairs = {0: (0, 1), 2: (2, 3), 4: (4, 5)}          # component → its tags
    probs = np.array([0.35, 0.1, 0.25, 0.05, 0.2, 0.05])
    dom = rng.choice(K, size=J, p=probs)
    R = rng.dirichlet(np.full(K, 0.3), size=J) * 0.3
    R[np.arange(J), dom] += 0.7
    R /= R.sum(1, keepdims=True)
    Y = (rng.random((J, len(TAGS))) < 0.08).astype(float)   # background tags
    Y[:, 6] = rng.random(J) < 0.5                           # a very common tag, no signal
    for c, tags in pairs.items():
        rows = dom == c
        for t in tags:
            Y[rows, t] = rng.random(rows.sum()) < 0.85
    return R, sp.csr_matrix(Y), dom


def test_planted_components_surface_their_tags():
    R, Y, _ = _planted()
    rows = interpret(R, Y, TAGS, top_components=3, top_tags=2)
    assert [r.component for r in rows] == [0, 2, 4]
    assert set(rows[0].tags) == {"rock", "guitar"}
    assert set(rows[1].tags) == {"piano", "classical"}
    assert set(rows[2].tags) == {"techno", "beat"}
    for r in rows:
        assert all(s > 1.5 for s in r.scores)
        assert r.scores == sorted(r.scores, reverse=True)
    assert sum(r.share for r in rows) < 1
    tagged = np.asarray(Y.sum(1)).ravel() > 0          # shares are over tagged songs
    assert rows[0].share == pytest.approx(R[tagged, 0].sum() / R[tagged].sum())
    assert rows[0].load == pytest.approx(R[tagged, 0].sum())


def test_log_odds_agrees_on_planted_tags():
    R, Y, _ = _planted(seed=1)
    rows = interpret(R, Y, TAGS, top_components=3, top_tags=2, method="log_odds")
    assert set(rows[1].tags) == {"piano", "classical"}
    assert all(s > 0 for r in rows for s in r.scores)


def test_enrichment_values_by_hand():
    # 4 songs, 2 components, 2 tags; prior 0 gives the plain ratio
    R = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    Y = np.array([[1, 0], [1, 1], [0, 1], [0, 0]])
    # the untagged last song is dropped
    scores, freq, base = tag_enrichment(R, Y, prior=0.0)
    np.testing.assert_allclose(base, [2 / 3, 2 / 3])
    np.testing.assert_allclose(freq, [[1.0, 0.5], [0.0, 1.0]])
    np.testing.assert_allclose(scores, [[1.5, 0.75], [0.0, 1.5]])
    np.testing.assert_allclose(component_load(R), [2.5, 1.5])
    # smoothing pulls towards 1
    smoothed, _, _ = tag_enrichment(R, Y, prior=2.0)
    assert 1 < smoothed[0, 0] < 1.5 and 0 < smoothed[1, 0] < 1


def test_tag_without_positive_is_never_listed():
    R = np.eye(3)
    Y = sp.csr_matrix(np.array([[1, 0], [1, 0], [1, 0]]))
    rows = interpret(R, Y, ["a", "never"], top_components=3, top_tags=2)
    assert all(r.tags == ["a"] for r in rows)


def test_components_that_explain_none_of_the_songs_are_not_listed():
    """A model fitted elsewhere may leave most components without responsibility on a
    task's songs (1e-35 of it): their lifts would only echo the prior, so they are left
    out and fewer than ``top_components`` rows come back."""
    R, Y, _ = _planted(K=6)
    R = np.hstack([R, np.full((R.shape[0], 3), 1e-35)])
    R[:, 0] *= 1e-7                                   # share about 1e-7 < MIN_SHARE
    R /= R.sum(1, keepdims=True)
    rows = interpret(R, Y, TAGS, top_components=9, top_tags=2)
    assert sorted(r.component for r in rows) == [1, 2, 3, 4, 5]
    assert all(r.share >= MIN_SHARE for r in rows)
    assert [r.component for r in interpret(R, Y, TAGS, top_components=2)] == [2, 4]


def test_format_table():
    R, Y, _ = _planted()
    rows = interpret(R, Y, TAGS, top_components=2, top_tags=2)
    text = format_table(rows)
    lines = text.strip().splitlines()
    assert len(lines) == 4 and lines[0].startswith("| rank | component")
    assert "| 1 | 0 |" in lines[2] and "rock (" in lines[2]


def test_bad_input():
    with pytest.raises(DataError):
        interpret(np.ones((3, 2)), sp.csr_matrix((4, 2)), ["a", "b"])
    with pytest.raises(DataError):
        interpret(np.ones((3, 2)), sp.csr_matrix(np.ones((3, 2))), ["a"])
    with pytest.raises(ParameterError):
        tag_enrichment(np.ones((3, 2)), np.ones((3, 2)), method="pmi")


@pytest.mark.parametrize("labels", ["tags", "genres"])
def test_cli_interpret(tmp_path, labels, capsys):
    """The components named by a task's tags, or by its genres where it has no tags; a
    corpus with neither is a one-line error."""
    from hdpmusic.cli import main
    from hdpmusic.formats.corpus import Corpus
    from hdpmusic.formats.taskdata import TaskData, write_task
    from hdpmusic.model.hdpgmm import HDPGMM

    rng = np.random.default_rng(0)
    centres = np.array([[-6.0, 0, 0], [6.0, 0, 0]])
    which = rng.integers(0, 2, size=30)
    X = [(rng.normal(size=(25, 3)) + centres[w]).astype(np.float32) for w in which]
    ids = [f"s{j}" for j in range(30)]
    path = tmp_path / "task.h5"
    Corpus.from_arrays(X, ids=ids).save(path)
    plain = tmp_path / "plain.h5"
    Corpus.from_arrays(X, ids=ids).save(plain)
    Y = np.stack([which == 0, which == 1], axis=1).astype(float)
    write_task(path, TaskData(ids=ids, annotations=sp.csr_matrix(Y), tags=["left", "right"],
                              name="task") if labels == "tags" else
               TaskData(ids=ids, targets=np.where(which == 0, "left", "right"), name="task"))
    model = HDPGMM(n_components=6, n_song_components=3, batch_size=10, max_epochs=2,
                   init_samples=500, local_max_iter=20, device="cpu", verbose=False).fit(X)
    model.save(tmp_path / "m.hdp")
    out = tmp_path / "table.md"
    assert main(["-q", "interpret", str(tmp_path / "m.hdp"), str(path), "--top-components",
                 "6", "--top-tags", "1", "--out", str(out)]) == 0
    lines = out.read_text().strip().splitlines()
    assert f"| top {labels} (lift) |" in lines[0]
    rows = [line.split("|") for line in lines[2:]]
    assert [int(r[1]) for r in rows] == list(range(1, len(rows) + 1))
    # every component that holds frames is enriched for the tag of the side its mean lies on
    loaded = [(int(r[2]), r[4].split()[0]) for r in rows if float(r[3].strip(" %")) > 5]
    assert {tag for _, tag in loaded} == {"left", "right"}
    for k, tag in loaded:
        assert tag == ("left" if model.means_[k, 0] < 0 else "right"), (k, tag)
    capsys.readouterr()
    assert main(["-q", "interpret", str(tmp_path / "m.hdp"), str(plain)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "has neither tag nor genre annotations" in err


# ------------------------------------------------------------------ exemplars
def test_best_windows_matches_brute_force():
    from hdpmusic.evaluation.interpretability import best_windows

    rng = np.random.default_rng(1)
    p = rng.random((40, 3))
    starts, means = best_windows(p, 7)
    for c in range(3):
        brute = [p[s:s + 7, c].mean() for s in range(40 - 7 + 1)]
        assert starts[c] == int(np.argmax(brute))
        assert means[c] == pytest.approx(max(brute))
    # a song shorter than the window is one window
    starts, means = best_windows(p[:5], 7)
    np.testing.assert_array_equal(starts, 0)
    np.testing.assert_allclose(means, p[:5].mean(0))


def _proba(frames):
    """A fixed 'model': responsibilities from a softmax of the first two features."""
    z = np.stack([frames[:, 0], frames[:, 1], np.zeros(len(frames))], axis=1) * 2.0
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_scan_exemplars_closed_forms():
    from hdpmusic.evaluation.interpretability import scan_exemplars
    from hdpmusic.formats.corpus import Corpus

    rng = np.random.default_rng(2)
    songs = [rng.normal(size=(int(rng.integers(3, 30)), 4)).astype(np.float32)
             for _ in range(9)]
    songs[4] = rng.normal(size=(25, 4)).astype(np.float32)
    songs[4][10:16, 1] += 6.0              # planted: component 1 peaks in song 4, 10..15
    corpus = Corpus.from_arrays(songs)
    scanned = np.array([0, 2, 4, 5, 8])
    found = scan_exemplars(_proba, corpus, [1, 0], scanned, width=6, batch_songs=2)
    frames = np.concatenate([songs[j] for j in scanned]).astype(np.float64)
    p = _proba(frames)[:, [1, 0]]
    np.testing.assert_allclose(found.profiles, (p.T @ frames) / p.sum(0)[:, None],
                               rtol=1e-6)
    np.testing.assert_allclose(found.mass, p.sum(0), rtol=1e-6)
    np.testing.assert_allclose(found.frame_mean, frames.mean(0), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(found.frame_sd, frames.std(0), rtol=1e-5)
    np.testing.assert_allclose(found.zscores(),
                               (found.profiles - frames.mean(0)) / frames.std(0), rtol=1e-5)
    assert (found.n_songs, found.n_frames) == (5, len(frames))
    assert (found.song[0], found.start[0], found.stop[0]) == (4, 10, 16)
    # brute force over every window of every scanned song, for component 0
    best = max((_proba(songs[j].astype(np.float64))[s:s + 6, 0].mean(), j, s)
               for j in scanned for s in range(max(1, len(songs[j]) - 5)))
    assert found.strength[1] == pytest.approx(best[0])
    assert (found.song[1], found.start[1]) == (best[1], best[2])


def test_scan_songs_and_top_songs():
    from hdpmusic.evaluation.interpretability import scan_songs, top_songs

    R, _, _ = _planted(J=400)
    np.testing.assert_array_equal(scan_songs(R, [0], max_songs=400), np.arange(400))
    chosen = scan_songs(R, [0, 2], max_songs=50, per_component=10, seed=3)
    assert 50 <= len(chosen) <= 70 and np.all(np.diff(chosen) > 0)
    for k in (0, 2):
        idx, values = top_songs(R, k, 10)
        assert set(idx) <= set(chosen)
        np.testing.assert_array_equal(values, np.sort(R[:, k])[::-1][:10])


def test_task_labels_tags_or_genres():
    from hdpmusic.evaluation.interpretability import task_labels
    from hdpmusic.formats.taskdata import TaskData

    genres = TaskData(["a", "b", "c"], targets=np.array(["rock", "jazz", "rock"]))
    Y, names, kind = task_labels(genres)
    assert kind == "genres" and names == ["jazz", "rock"]
    np.testing.assert_array_equal(Y.toarray(), [[0, 1], [1, 0], [0, 1]])
    tags = TaskData(["a", "b"], annotations=sp.csr_matrix([[1, 0], [1, 1]]), tags=["x", "y"])
    assert task_labels(tags)[1:] == (["x", "y"], "tags")
    assert task_labels(TaskData(["a"])) is None
