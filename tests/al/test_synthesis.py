"""Behaviour of query synthesis: boundary search."""

from __future__ import annotations

import numpy as np

from labella.al import REGISTRY, Pool, logistic_regression
from labella.al.strategies.synthesis import bisect_boundary, opposite_pairs


class ThresholdHead:
    """Two classes split at ``x0 = t`` (class 1 above)."""

    n_classes = 2
    multi_label = False

    def __init__(self, t: float) -> None:
        self.t = t

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        p1 = 1 / (1 + np.exp(-20 * (X[:, 0] - self.t)))
        return np.column_stack([1 - p1, p1])


def test_opposite_pairs_are_mutual_nearest_neighbours() -> None:
    X = np.array([[0.0, 0], [1, 0], [3, 0], [4, 0], [0, 5]])
    y = np.array([0, 1, 0, 1, 2])
    pairs = opposite_pairs(X, y, np.arange(5))
    got = {(int(i), int(j)) for i, j in pairs[:, :2]}
    # 0-1: items 0<->1 and 2<->3 are mutual; 0-2: 0<->4 only; 1-2: 1<->4 only
    assert got == {(0, 1), (2, 3), (0, 4), (1, 4)}
    assert np.all(np.diff(pairs[:, 4]) <= 0), "widest gap first"


def test_bisection_lands_on_the_heads_boundary() -> None:
    lo, hi = np.array([[-1.0, 0.0]]), np.array([[1.0, 0.0]])
    s = bisect_boundary(lo, hi, np.array([0]), np.array([1]), ThresholdHead(0.3), steps=6)
    assert abs(s[0, 0] - 0.3) <= 2.0 / 2**7
    mid = bisect_boundary(lo, hi, np.array([0]), np.array([1]), ThresholdHead(0.3), steps=0)
    np.testing.assert_allclose(mid, [[0.0, 0.0]])


def _linear_pool(seed: int) -> tuple[Pool, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(1500, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    lab = rng.choice(1500, size=16, replace=False)
    return Pool.unlabeled(X, 2).with_labels(lab, y[lab]), X


def test_boundary_search_picks_closer_to_the_true_boundary_than_random() -> None:
    """Only the synthesised picks count (not the margin fill); true boundary is x0 = 0."""
    ours, rand = [], []
    for seed in range(6):
        pool, X = _linear_pool(seed)
        head = logistic_regression(2, C=10.0).fit(*pool.labeled_data())
        res = REGISTRY.get("boundary_search").query(pool, 8, head=head, rng=seed)
        k = res.params["n_synthesized"]
        assert k >= 1
        ours.extend(np.abs(X[res.indices[:k], 0]))
        rand.extend(np.abs(X[REGISTRY.get("random").query(pool, 8, rng=seed).indices, 0]))
    assert np.mean(ours) < 0.5 * np.mean(rand)


def test_boundary_search_fills_with_margin_when_pairs_run_out() -> None:
    pool, X = _linear_pool(0)
    lab = pool.labeled_indices
    small = Pool.unlabeled(X, 2).with_labels(lab[:2], np.array([0, 1]))  # one pair at most
    head = ThresholdHead(0.0)
    res = REGISTRY.get("boundary_search").query(small, 6, head=head, rng=0)
    k = res.params["n_synthesized"]
    assert k == 1 and res.params["fill"] == "margin"
    assert res.scores[0] > 0 and np.all(res.scores[k:] <= 0)
    assert np.all(np.diff(res.scores[k:]) <= 0)
    assert np.abs(X[res.indices[k:], 0]).max() < 0.1  # margin fill sits at the boundary too


def test_boundary_search_is_single_label_only() -> None:
    assert not REGISTRY.info("boundary_search").multi_label
