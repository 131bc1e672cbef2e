"""Multi-label strategies: per-label entropy and MMC (Yang et al. 2009)."""

from __future__ import annotations

import numpy as np
import pytest

from labella.al import REGISTRY, Pool
from labella.al.strategies.multilabel import (
    max_binary_entropy,
    mean_binary_entropy,
    mmc_scores,
    predict_label_counts,
)


class FixedHead:
    """A head whose probabilities are looked up by the row id stored in X[:, 0]."""

    multi_label = True

    def __init__(self, proba: np.ndarray) -> None:
        self.proba = proba
        self.n_classes = proba.shape[1]

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.proba[X[:, 0].astype(int)]

    def fit(self, X, y):  # pragma: no cover - never called by strategies
        raise AssertionError("strategies must not refit the caller's head")

    def clone(self):  # pragma: no cover
        return self


def _pool(proba: np.ndarray, labeled: dict[int, list[int]]) -> Pool:
    n, L = proba.shape
    X = np.arange(n, dtype=np.float32).reshape(-1, 1)
    pool = Pool.unlabeled(X, L, multi_label=True)
    idx = np.array(list(labeled))
    return pool.with_labels(idx, np.array(list(labeled.values()), dtype=np.int8))


def test_entropy_aggregates() -> None:
    p = np.array([[0.5, 0.99, 0.99], [0.7, 0.7, 0.7]])
    h = -(p * np.log(p) + (1 - p) * np.log(1 - p))
    np.testing.assert_allclose(mean_binary_entropy(p), h.mean(axis=1))
    np.testing.assert_allclose(max_binary_entropy(p), h.max(axis=1))
    # the two aggregates rank these two items in opposite orders
    assert mean_binary_entropy(p)[1] > mean_binary_entropy(p)[0]
    assert max_binary_entropy(p)[0] > max_binary_entropy(p)[1]


def test_mean_and_max_pick_different_items() -> None:
    proba = np.array([
        [0.9, 0.9, 0.9],   # 0 labelled
        [0.1, 0.1, 0.1],   # 1 labelled
        [0.5, 0.99, 0.99],  # one label at 0.5, others sure: max-entropy favourite
        [0.7, 0.7, 0.7],   # all moderately unsure: mean-entropy favourite
        [0.95, 0.05, 0.95],
    ])
    pool = _pool(proba, {0: [1, 1, 1], 1: [0, 0, 0]})
    head = FixedHead(proba)
    mean_res = REGISTRY.get("ml_mean_entropy").query(pool, 1, head=head, rng=0)
    max_res = REGISTRY.get("ml_max_entropy").query(pool, 1, head=head, rng=0)
    assert mean_res.indices.tolist() == [3]
    assert max_res.indices.tolist() == [2]
    assert max_res.scores[0] == pytest.approx(np.log(2))


def test_mmc_scores_by_hand() -> None:
    p = np.array([[0.9, 0.2, 0.6], [0.9, 0.2, 0.6]])
    # two labels predicted: y = (+1, -1, +1) -> (1 - .9) + .2 + (1 - .6) = 0.7
    # zero labels predicted: y = -1 everywhere -> .9 + .2 + .6 = 1.7
    np.testing.assert_allclose(mmc_scores(p, np.array([2, 0])), [0.7, 1.7])
    np.testing.assert_allclose(mmc_scores(p, np.array([3, 1])), [0.1 + 0.8 + 0.4, 0.1 + 0.2 + 0.6])


def test_label_count_model_learns_cardinality() -> None:
    rng = np.random.default_rng(0)
    rows, counts = [], []
    for _ in range(60):
        k = int(rng.integers(1, 4))
        p = np.concatenate([rng.uniform(0.8, 0.95, k), rng.uniform(0.02, 0.1, 4 - k)])
        rows.append(rng.permutation(p))
        counts.append(k)
    proba = np.array(rows)
    Y = np.zeros((60, 4), dtype=np.int8)
    for i, k in enumerate(counts):
        Y[i, :k] = 1  # which labels does not matter, only how many
    test = np.array([[0.9, 0.05, 0.05, 0.05], [0.9, 0.85, 0.9, 0.05], [0.05, 0.9, 0.05, 0.85]])
    np.testing.assert_array_equal(predict_label_counts(proba, Y, test, C=100.0), [1, 3, 2])


def test_label_count_constant_when_labelled_rows_agree() -> None:
    Y = np.array([[1, 0, 1], [0, 1, 1]], dtype=np.int8)
    out = predict_label_counts(np.full((2, 3), 0.5), Y, np.random.default_rng(0).random((5, 3)))
    np.testing.assert_array_equal(out, [2] * 5)


def test_mmc_query_scores_match_the_formula(multi_pool) -> None:
    pool, head = multi_pool
    res = REGISTRY.get("mmc").query(pool, 10, head=head, rng=0)
    X_lab, Y_lab = pool.labeled_data()
    cand = pool.unlabeled_indices
    proba = head.predict_proba(pool.X[cand])
    want = mmc_scores(proba, predict_label_counts(head.predict_proba(X_lab), Y_lab, proba))
    np.testing.assert_allclose(res.scores, np.sort(want)[::-1][:10])
    assert res.params == {"C": 1.0}


def test_mmc_prefers_items_whose_predicted_set_is_doubtful() -> None:
    proba = np.array([
        [0.95, 0.05, 0.05], [0.9, 0.9, 0.05], [0.05, 0.9, 0.05],  # labelled
        [0.97, 0.03, 0.02],  # confidently one label: little to gain
        [0.55, 0.45, 0.5],   # every label a coin flip
    ])
    pool = _pool(proba, {0: [1, 0, 0], 1: [1, 1, 0], 2: [0, 1, 0]})
    res = REGISTRY.get("mmc").query(pool, 2, head=FixedHead(proba), rng=0)
    assert res.indices.tolist() == [4, 3]
