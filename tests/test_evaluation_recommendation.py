"""Item-kNN and nDCG@N against hand-computed values and dense brute force."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from hdpmusic.evaluation.recommendation import (
    KnnGraph,
    UserSplit,
    chance_ndcg,
    evaluate_recommendation,
    knn_graph,
    ndcg_from_hits,
    rank_items,
    split_users,
    user_ndcg,
)
from hdpmusic.runtime.errors import DataError, ParameterError


def log2(x):
    return np.log2(float(x))


# ----------------------------------------------------------------- hand-computed


def test_ndcg_hand_computed():
    hits = np.array([[1, 0, 1, 0, 0],    # 3 relevant, hits at ranks 1 and 3
                     [0, 1, 0, 0, 0],    # 5 relevant (more than the list), hit at rank 2
                     [0, 0, 0, 0, 0]], dtype=bool)
    expected = [(1 / log2(2) + 1 / log2(4)) / (1 / log2(2) + 1 / log2(3) + 1 / log2(4)),
                (1 / log2(3)) / sum(1 / log2(r + 1) for r in range(1, 6)),
                0.0]
    np.testing.assert_allclose(ndcg_from_hits(hits, np.array([3, 5, 1])), expected)
    assert np.isnan(ndcg_from_hits(hits[:1], np.array([0]))[0])


def hand_problem():
    """Five items; the user consumed item 0 and holds out items 2 and 4.

    Item 0's neighbours: 3 (0.9), 2 (0.8), 1 (−0.2), 4 (−0.5), so the scores are
    3: 0.9, 2: 0.8, 0: 0 (consumed), 1: −0.2, 4: −0.5.
    """
    indices = np.array([[3, 2, 1, 4], [0, 2, 3, 4], [0, 1, 3, 4], [0, 1, 2, 4],
                        [0, 1, 2, 3]])
    values = np.array([[0.9, 0.8, -0.2, -0.5]] + [[0.1, 0.1, 0.1, 0.1]] * 4,
                      dtype=np.float32)
    users = UserSplit(np.array([0]), sp.csr_matrix(np.array([[1.0, 0, 0, 0, 0]])),
                      sp.csr_matrix(np.array([[0, 0, 1.0, 0, 1.0]])))
    return KnnGraph(indices, values), users


def test_user_ndcg_hand_computed_and_consumed_exclusion():
    graph, users = hand_problem()
    ideal = 1 / log2(2) + 1 / log2(3)
    # excluded: ranking 3, 2, 1, 4 → hits at ranks 2 and 4
    excluded = user_ndcg(graph, users, 4, top_n=5)
    assert excluded[0] == pytest.approx((1 / log2(3) + 1 / log2(5)) / ideal)
    # kept (the study): ranking 3, 2, 0, 1, 4 → hits at ranks 2 and 5
    kept = user_ndcg(graph, users, 4, top_n=5, keep_consumed=True)
    assert kept[0] == pytest.approx((1 / log2(3) + 1 / log2(6)) / ideal)
    # a list of 3: ranking 3, 2, 1 → one hit at rank 2
    short = user_ndcg(graph, users, 4, top_n=3)
    assert short[0] == pytest.approx((1 / log2(3)) / ideal)
    # k = 2 keeps neighbours 3 and 2 only: ranking 3, 2, then 1 and 4 tied at 0 by index
    assert user_ndcg(graph, users, 2, top_n=5)[0] == pytest.approx(excluded[0])
    with pytest.raises(ParameterError, match="k must be"):
        user_ndcg(graph, users, 5)


def test_rank_items_breaks_ties_by_index():
    scores = torch.tensor([[0.0, 1.0, 0.0, 1.0, 0.0, -1.0],
                           [2.0, 2.0, 2.0, 2.0, 2.0, 2.0]])
    assert rank_items(scores, 4).tolist() == [[1, 3, 0, 2], [0, 1, 2, 3]]
    assert rank_items(scores, 6)[0].tolist() == [1, 3, 0, 2, 4, 5]


# ----------------------------------------------------------------- brute force


def brute_graph(X, k):
    """Dense cosine similarity, self excluded, top-k per row → (indices, values)."""
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    S = Xn @ Xn.T
    np.fill_diagonal(S, -np.inf)
    order = np.argsort(-S, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(S, order, axis=1)


def brute_ndcg(X, train, held, k, top_n, keep_consumed):
    """Dense numpy nDCG@top_n per user with the documented ranking rule."""
    n_items = X.shape[0]
    order, sims = brute_graph(X, k)
    M = np.zeros((n_items, n_items))
    np.put_along_axis(M, order, sims, axis=1)
    scores = (train > 0).astype(float) @ M
    if not keep_consumed:
        scores[train > 0] = -np.inf
    n = min(top_n, n_items)
    out = []
    for u in range(train.shape[0]):
        ranked = np.lexsort((np.arange(n_items), -scores[u]))[:n]
        hits = held[u, ranked] > 0
        dcg = sum(1 / np.log2(r + 2) for r in np.flatnonzero(hits))
        n_rel = min(int((held[u] > 0).sum()), n)
        out.append(dcg / sum(1 / np.log2(r + 2) for r in range(n_rel)))
    return np.array(out)


def random_problem(seed=0, n_items=60, n_users=300, dim=6):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_items, dim))
    taste = rng.normal(size=(n_users, dim))
    logits = taste @ X.T
    counts = rng.integers(1, 5, logits.shape)
    interaction = sp.csr_matrix((logits > np.quantile(logits, 0.85)) * counts)
    return X, interaction


def test_knn_graph_matches_brute_force():
    X, _ = random_problem()
    graph = knn_graph(X, 10, chunk_size=7)
    order, sims = brute_graph(X, 10)
    np.testing.assert_array_equal(graph.indices, order)
    np.testing.assert_allclose(graph.values, sims, atol=1e-6)
    assert not np.any(graph.indices == np.arange(X.shape[0])[:, None])
    dense = graph.to_csr(4).toarray()
    assert (np.count_nonzero(dense, axis=1) == 4).all()
    np.testing.assert_allclose(dense[np.arange(60)[:, None], order[:, :4]], sims[:, :4],
                               atol=1e-6)
    assert knn_graph(X[:5], 512).k == 4


def test_zero_vector_item_has_zero_similarity():
    X = np.array([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    graph = knn_graph(X, 2)
    assert np.isfinite(graph.values).all()
    assert graph.values[1].tolist() == [0.0, 0.0]


@pytest.mark.parametrize(("k", "top_n", "keep_consumed"),
                         [(5, 20, False), (5, 20, True), (30, 500, False), (59, 10, True)])
def test_user_ndcg_matches_brute_force(k, top_n, keep_consumed):
    X, interaction = random_problem(seed=k)
    valid, _ = split_users(interaction, seed=1, valid_frac=0.3, test_frac=0.3)
    graph = knn_graph(X, 59)
    # a small memory bound forces many user chunks
    got = user_ndcg(graph, valid, k, top_n=top_n, keep_consumed=keep_consumed,
                    max_elements=700)
    expected = brute_ndcg(X, valid.train.toarray(), valid.held.toarray(), k, top_n,
                          keep_consumed)
    np.testing.assert_allclose(got, expected, atol=1e-9)


# ----------------------------------------------------------------- user split


def test_split_users():
    _, interaction = random_problem(n_users=400)
    interaction = interaction.tolil()
    interaction[0, :] = 0
    interaction[0, 3] = 7   # a single interaction: never drawn
    interaction = interaction.tocsr()
    valid, test = split_users(interaction, seed=3)
    eligible = np.flatnonzero(np.diff(interaction.indptr) >= 2).size
    assert len(valid) == round(0.1 * eligible) == len(test)
    assert not set(valid.users) & set(test.users)
    assert 0 not in set(valid.users) | set(test.users)
    for part in (valid, test):
        train, held = part.train.toarray(), part.held.toarray()
        original = interaction[part.users].toarray() > 0
        assert ((train > 0) | (held > 0) == original).all()
        assert not ((train > 0) & (held > 0)).any()
        counts = original.sum(1)
        assert (held.sum(1) == np.clip(np.round(0.3 * counts), 1, counts - 1)).all()
    again, _ = split_users(interaction, seed=3)
    assert (again.users == valid.users).all()
    assert (again.held != valid.held).nnz == 0
    other, _ = split_users(interaction, seed=4)
    assert not np.array_equal(other.users, valid.users)
    with pytest.raises(DataError, match="two or more"):
        split_users(sp.csr_matrix(np.eye(5)), seed=0)
    with pytest.raises(ParameterError):
        split_users(interaction, seed=0, holdout_frac=1.0)


def test_evaluate_recommendation_picks_k_on_validation():
    X, interaction = random_problem(seed=2, n_users=400)
    graph = knn_graph(X, 32)
    score, config = evaluate_recommendation(interaction, graph, seed=5, ks=(4, 16, 64),
                                            top_n=10, n_splits=2)
    assert len(config["k"]) == 2 and len(config["split_scores"]) == 2
    for chosen, by_k in zip(config["k"], config["valid_ndcg"], strict=True):
        assert set(by_k) == {4, 16, 32}            # 64 is capped at the graph's 32
        assert by_k[chosen] == max(by_k.values())
    assert score == pytest.approx(np.mean(config["split_scores"]))
    # content features that generated the interactions beat random ones
    random_graph = knn_graph(np.random.default_rng(0).normal(size=X.shape), 32)
    random_score, _ = evaluate_recommendation(interaction, random_graph, seed=5,
                                              ks=(4, 16, 64), top_n=10, n_splits=2)
    assert score > random_score + 0.1
    with pytest.raises(DataError, match="items"):
        evaluate_recommendation(interaction[:, :10], graph)


@pytest.mark.parametrize("keep_consumed", [False, True])
@pytest.mark.parametrize("top_n", [5, 500])
def test_chance_ndcg_matches_random_rankings(keep_consumed, top_n):
    _, interaction = random_problem(seed=5, n_items=40, n_users=200)
    _, test = split_users(interaction, seed=2, valid_frac=0.2, test_frac=0.2)
    expected = chance_ndcg(test, top_n=top_n, keep_consumed=keep_consumed)
    rng = np.random.default_rng(0)
    train, held = test.train.toarray() > 0, test.held.toarray() > 0
    n = min(top_n, train.shape[1])
    draws = 4000
    total = np.zeros(len(test))
    for _ in range(draws):
        scores = rng.random(train.shape)
        if not keep_consumed:
            scores[train] = -np.inf
        order = np.argsort(-scores, axis=1)[:, :n]
        total += ndcg_from_hits(np.take_along_axis(held, order, axis=1), held.sum(1))
    # per-user nDCG lies in [0, 1]: the Monte Carlo mean has SD <= 0.5 / sqrt(draws)
    np.testing.assert_allclose(total / draws, expected, atol=4 * 0.5 / np.sqrt(draws))
    assert expected.mean() < 0.9


def test_rank_items_matches_lexsort_with_many_ties():
    rng = np.random.default_rng(5)
    scores = rng.integers(-2, 3, size=(40, 60)).astype(np.float32)   # ties everywhere
    scores[:20, :50] = 0.0                                            # cut at zero
    expected = np.lexsort((np.tile(np.arange(60), (40, 1)), -scores), axis=1)[:, :7]
    assert rank_items(torch.as_tensor(scores), 7).tolist() == expected.tolist()
