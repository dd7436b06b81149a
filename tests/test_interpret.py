"""Tests of hdpmusic.interpret and `hdpmusic interpret`."""

import numpy as np
import pytest
import scipy.sparse as sp

from hdpmusic.errors import DataError, ParameterError
from hdpmusic.interpret import component_load, format_table, interpret, tag_enrichment

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


def test_cli_interpret(tmp_path):
    from hdpmusic.cli import main
    from hdpmusic.corpus import Corpus
    from hdpmusic.model.hdpgmm import HDPGMM
    from hdpmusic.taskdata import TaskData, write_task

    rng = np.random.default_rng(0)
    centres = np.array([[-6.0, 0, 0], [6.0, 0, 0]])
    which = rng.integers(0, 2, size=30)
    X = [(rng.normal(size=(25, 3)) + centres[w]).astype(np.float32) for w in which]
    ids = [f"s{j}" for j in range(30)]
    path = tmp_path / "task.h5"
    Corpus.from_arrays(X, ids=ids).save(path)
    Y = np.stack([which == 0, which == 1], axis=1).astype(float)
    write_task(path, TaskData(ids=ids, annotations=sp.csr_matrix(Y), tags=["left", "right"],
                              name="task"))
    model = HDPGMM(n_components=6, n_song_components=3, batch_size=10, max_epochs=2,
                   init_samples=500, local_max_iter=20, device="cpu", verbose=False).fit(X)
    model.save(tmp_path / "m.hdp")
    out = tmp_path / "table.md"
    assert main(["-q", "interpret", str(tmp_path / "m.hdp"), str(path), "--top-components",
                 "2", "--top-tags", "1", "--out", str(out)]) == 0
    lines = out.read_text().strip().splitlines()
    assert len(lines) == 4
    # the two most loaded components split the two clusters: one per tag
    assert {lines[2].split("|")[4].split()[0], lines[3].split("|")[4].split()[0]} == \
        {"left", "right"}
