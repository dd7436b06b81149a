"""Genre protocol: planted representations with known macro F1."""

import numpy as np
import pytest
from sklearn.metrics import f1_score

from hdpmusic.evaluation.classification import chance_macro_f1, evaluate_genre, split_indices
from hdpmusic.runtime.errors import DataError

N_CLASSES = 4


def make_split(n_train, n_valid, n_test):
    return np.array(["train"] * n_train + ["valid"] * n_valid + ["test"] * n_test)


def labels(n, rng):
    return np.array([f"g{c}" for c in rng.integers(0, N_CLASSES, n)])


def test_separable_classes_give_f1_one():
    rng = np.random.default_rng(0)
    split = make_split(120, 40, 80)
    y = labels(split.size, rng)
    codes = np.array([int(label[1:]) for label in y])
    X = rng.normal(scale=0.1, size=(split.size, 6))
    X[np.arange(split.size), codes] += 5.0
    score, config = evaluate_genre(X, y, split, n_iter=4, seed=1)
    assert score == 1.0
    assert config["split_sizes"] == {"train": 120, "valid": 40, "test": 80}
    assert 1e-4 <= config["C"] <= 1e4


def test_random_features_give_chance_f1():
    rng = np.random.default_rng(1)
    n_test = 1000
    split = make_split(800, 200, n_test)
    y = labels(split.size, rng)
    X = rng.normal(size=(split.size, 20))
    score, config = evaluate_genre(X, y, split, n_iter=6, seed=2)
    # macro F1 of uninformed predictions ≈ 1/c with SD ≈ 1/sqrt(n_test · c)
    tolerance = 4.0 / np.sqrt(n_test * N_CLASSES)
    assert abs(score - 1.0 / N_CLASSES) < tolerance
    assert abs(score - config["chance"]) < tolerance


def test_chance_macro_f1_matches_random_guessing():
    rng = np.random.default_rng(4)
    classes = np.array(["a", "b", "c", "d"])
    # imbalanced, and "d" absent from the test labels
    y = rng.choice(classes[:3], size=2000, p=[0.6, 0.3, 0.1])
    guesses = [f1_score(y, rng.choice(classes, size=y.size), average="macro",
                        labels=classes, zero_division=0) for _ in range(200)]
    assert chance_macro_f1(y, classes) == pytest.approx(np.mean(guesses), abs=2e-3)
    balanced = np.repeat(classes, 50)
    assert chance_macro_f1(balanced, classes) == pytest.approx(1 / 4)


def test_seeded_and_search_depends_on_seed():
    rng = np.random.default_rng(2)
    split = make_split(100, 50, 50)
    y = labels(split.size, rng)
    X = rng.normal(size=(split.size, 5)) + (y == "g0")[:, None]
    first = evaluate_genre(X, y, split, n_iter=3, seed=5)
    assert evaluate_genre(X, y, split, n_iter=3, seed=5) == first
    assert evaluate_genre(X, y, split, n_iter=3, seed=6)[1]["C"] != first[1]["C"]


def test_split_indices():
    train, valid, test = split_indices(np.array(["test", "train", "bad", "valid", "train"]))
    assert train.tolist() == [1, 4] and valid.tolist() == [3] and test.tolist() == [0]
    with pytest.raises(DataError, match="no valid"):
        split_indices(np.array(["train", "test"]))


def test_accuracy_and_confusion_beside_macro_f1():
    from sklearn.metrics import accuracy_score, confusion_matrix

    rng = np.random.default_rng(3)
    split = make_split(90, 30, 60)
    y = labels(split.size, rng)
    X = rng.normal(size=(split.size, 4)) + (y == "g1")[:, None]
    score, config, kept = evaluate_genre(X, y, split, n_iter=2, seed=0, predictions=True)
    test = split == "test"
    assert kept.truth.tolist() == y[test].tolist()
    assert score == pytest.approx(f1_score(y[test], kept.output, average="macro"))
    assert config["accuracy"] == pytest.approx(accuracy_score(y[test], kept.output))
    classes = sorted(set(y))
    assert config["confusion"]["labels"] == classes
    assert config["confusion"]["matrix"] == confusion_matrix(y[test], kept.output,
                                                             labels=classes).tolist()


@pytest.mark.parametrize("standardise", [True, False])
def test_probe_with_or_without_standardisation_matches_scikit_learn(standardise):
    """The probe is scikit-learn's logistic regression on the training + validation songs
    at the chosen C, after a StandardScaler or on the vectors as they are: the test
    predictions agree with that pipeline built directly."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(4)
    split = make_split(60, 30, 40)
    y = labels(split.size, rng)
    X = rng.normal(size=(split.size, 6)) * [1, 10, 100, 1, 1, 1] + 0.7 * (y == "g1")[:, None]
    score, config = evaluate_genre(X, y, split, n_iter=3, seed=0, standardise=standardise)
    assert config["standardise"] is standardise
    fit = np.isin(split, ["train", "valid"])
    Z = StandardScaler().fit(X[fit]).transform(X) if standardise else X
    lr = LogisticRegression(C=config["C"], max_iter=20000).fit(Z[fit], y[fit])
    test = split == "test"
    assert score == pytest.approx(f1_score(y[test], lr.predict(Z[test]), average="macro"))


def test_standardisation_wrecks_sparse_normalised_vectors_as_fisher_vectors_are():
    """Planted: L2-normalised vectors whose class lies in a few dense columns, beside many
    columns that are zero but for one song each. Standardised, those columns get unit
    variance and a training song's single entry becomes a large, unshared feature; as
    they are, they stay small and the dense columns carry the class."""
    rng = np.random.default_rng(0)
    split = make_split(40, 20, 40)
    n = split.size
    y = np.where(np.arange(n) % 2 == 0, "a", "b")
    dense = rng.normal(size=(n, 4)) * 0.3 + np.where(y == "a", 1.0, -1.0)[:, None]
    sparse = np.zeros((n, 40 * n))
    for j in range(n):
        cols = rng.choice(sparse.shape[1], size=40, replace=False)
        sparse[j, cols] = rng.normal(size=40) * 0.05
    X = np.hstack([dense, sparse])
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    as_is, _ = evaluate_genre(X, y, split, n_iter=4, seed=0, standardise=False)
    scaled, _ = evaluate_genre(X, y, split, n_iter=4, seed=0, standardise=True)
    assert as_is > 0.95 and scaled < as_is - 0.2
