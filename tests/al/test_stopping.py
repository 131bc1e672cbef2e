"""Stopping criteria and the combined recommendation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from labella.al.stopping import (
    KEEP,
    StopRecommendation,
    budget,
    cohen_kappa,
    overall_uncertainty,
    plateau,
    recommend,
    stabilizing_predictions,
)


@pytest.mark.parametrize("seed", range(5))
def test_kappa_matches_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 4, 200)
    b = np.where(rng.random(200) < 0.7, a, rng.integers(0, 4, 200))
    assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b))


def test_kappa_multi_label_counts_each_label_decision() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 2, (50, 3))
    b = a.copy()
    b[:5, 0] ^= 1
    assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a.ravel(), b.ravel()))


def test_kappa_of_identical_constant_predictions_is_one() -> None:
    assert cohen_kappa(np.zeros(10), np.zeros(10)) == 1.0


def _rounds(changes: list[int], n: int = 100, seed: int = 0) -> list[np.ndarray]:
    """Predictions on a stop set; round i flips changes[i] items of the previous round."""
    rng = np.random.default_rng(seed)
    preds = [rng.integers(0, 3, n)]
    for c in changes:
        p = preds[-1].copy()
        p[:c] = (p[:c] + 1) % 3
        preds.append(p)
    return preds


def test_stabilizing_predictions_fires_after_k_stable_rounds() -> None:
    rec = stabilizing_predictions(_rounds([20, 0, 0, 0]), threshold=0.99, k=3)
    assert rec.stop and rec.criterion == "stabilizing_predictions"
    assert rec.details["streak"] == 3


def test_stabilizing_predictions_waits_while_models_change() -> None:
    rec = stabilizing_predictions(_rounds([0, 0, 20]), threshold=0.99, k=3)
    assert not rec.stop
    assert rec.details["streak"] == 0
    assert "0/3" in rec.reason
    rec = stabilizing_predictions(_rounds([20, 0, 0]), threshold=0.99, k=3)
    assert not rec.stop and "2/3" in rec.reason


def test_stabilizing_predictions_average_mode() -> None:
    preds = _rounds([1, 0, 0])  # kappas ~0.985, 1, 1: the mean passes, not each one
    assert not stabilizing_predictions(preds, threshold=0.99, k=3).stop
    rec = stabilizing_predictions(preds, threshold=0.99, k=3, average=True)
    assert rec.stop and rec.details["mean_kappa"] >= 0.99


def test_stabilizing_needs_two_rounds() -> None:
    rec = stabilizing_predictions([np.zeros(5)], k=1)
    assert not rec.stop and "no two rounds" in rec.reason


def test_overall_uncertainty_max_and_mean() -> None:
    u = np.array([0.01, 0.02, 0.3])
    assert not overall_uncertainty(u, threshold=0.1).stop
    rec = overall_uncertainty(u, threshold=0.2, aggregate="mean")
    assert rec.stop and rec.details["value"] == pytest.approx(u.mean())
    assert overall_uncertainty(np.array([]), threshold=0.1).stop
    with pytest.raises(ValueError):
        overall_uncertainty(u, aggregate="median")


def test_plateau() -> None:
    labels = [10, 20, 30, 40, 50, 60]
    rising = [0.5, 0.6, 0.7, 0.75, 0.8, 0.85]
    flat = [0.5, 0.7, 0.80, 0.801, 0.799, 0.802]
    assert not plateau(labels, rising, window=3, epsilon=0.005).stop
    rec = plateau(labels, flat, window=3, epsilon=0.005)
    assert rec.stop and rec.details["gain"] == pytest.approx(0.002)
    assert not plateau(labels[:3], flat[:3], window=3).stop  # too few points
    with pytest.raises(ValueError):
        plateau([1, 2], [0.5], window=1)


def test_budget() -> None:
    assert budget(100, 100).stop
    rec = budget(40, 100)
    assert not rec.stop and "60 of 100" in rec.reason


def test_recommend_returns_the_first_criterion_that_fires() -> None:
    rec = recommend(labels_used=120, label_budget=100, pool_uncertainty=np.zeros(5))
    assert rec.stop and rec.criterion == "budget"
    rec = recommend(labels_used=20, label_budget=100, pool_uncertainty=np.zeros(5),
                    curve_labels=[1, 2, 3, 4], curve_scores=[0.1, 0.2, 0.3, 0.4])
    assert rec.stop and rec.criterion == "overall_uncertainty"


def test_recommend_keep_labelling_says_how_far_each_criterion_is() -> None:
    rec = recommend(
        labels_used=20, label_budget=100,
        predictions=_rounds([20, 0]),
        pool_uncertainty=np.array([0.5, 0.1]),
        curve_labels=[10, 20, 30, 40], curve_scores=[0.5, 0.6, 0.7, 0.8],
    )
    assert isinstance(rec, StopRecommendation)
    assert not rec.stop and rec.criterion == KEEP
    for name in ("budget", "stabilizing_predictions", "overall_uncertainty", "plateau"):
        assert name in rec.reason and name in rec.details
    assert "80 of 100 labels left" in rec.reason
    json.dumps(rec.details)  # JSON-safe


def test_recommend_with_nothing_enabled() -> None:
    rec = recommend()
    assert not rec.stop and rec.criterion == KEEP and "no stopping criterion" in rec.reason
