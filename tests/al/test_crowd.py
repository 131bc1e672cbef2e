"""Simulated noisy teams and the three labelling policies."""

from __future__ import annotations

import numpy as np
import pytest

from labella.al.crowd import POLICIES, answer, draw_accuracies, run_crowd_curve
from labella.errors import DataError


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, 500)
    X = (np.eye(3)[y] * 1.5 + rng.normal(0, 1, (500, 3))).astype(np.float32)
    return X, y


def test_annotators_err_at_their_rate() -> None:
    rng = np.random.default_rng(0)
    acc = draw_accuracies(3, 0.2, rng)
    assert acc.shape == (3,) and ((acc >= 0.7) & (acc <= 0.9)).all()
    answers = np.array([answer(1, 0.8, 4, rng) for _ in range(4000)])
    assert abs((answers == 1).mean() - 0.8) < 0.03
    assert set(answers[answers != 1]) == {0, 2, 3}
    with pytest.raises(DataError, match="noise"):
        draw_accuracies(3, 1.5, rng)


@pytest.mark.parametrize("policy", POLICIES)
def test_policies_spend_the_budget_and_relabel_as_promised(policy: str) -> None:
    X, y = _data()
    acc = np.array([0.8, 0.75, 0.85])
    c = run_crowd_curve(X[:400], y[:400], X[400:], y[400:], n_classes=3, policy=policy,
                        accuracy=acc, budget=120, batch_size=20, initial=20, seed=0)
    assert c.labels == [20, 40, 60, 80, 100, 120]
    assert all(0.0 <= s <= 1.0 for s in c.scores)
    assert c.scores[-1] > 0.6  # it learns from noisy consensus
    if policy == "always_new":
        assert c.relabels == 0
    elif policy == "fixed_k":
        assert c.relabels == 60  # every item's second answer
    else:
        assert 2 <= c.relabels < 120  # at least the first batch's overlap (10 % of 20)


def test_relabel_vs_new_asks_for_second_opinions_when_answers_are_noisy() -> None:
    X, y = _data(1)
    noisy = np.array([0.55, 0.6, 0.5])
    c = run_crowd_curve(X[:400], y[:400], X[400:], y[400:], n_classes=3, policy="relabel_vs_new",
                        accuracy=noisy, budget=200, batch_size=20, initial=20, seed=0)
    assert c.relabels > 0


def test_bad_policy_and_team() -> None:
    X, y = _data()
    with pytest.raises(DataError, match="unknown policy"):
        run_crowd_curve(X, y, X, y, n_classes=3, policy="best", accuracy=np.ones(3), budget=10,
                        batch_size=5, initial=5, seed=0)
    with pytest.raises(DataError, match="needs 2 annotators"):
        run_crowd_curve(X, y, X, y, n_classes=3, policy="fixed_k", accuracy=np.ones(1),
                        budget=10, batch_size=5, initial=5, seed=0)
