"""Stream-based selective sampling (fixed and variable thresholds)."""

from __future__ import annotations

import numpy as np
import pytest

from labella.al import REGISTRY
from labella.al.strategies.stream import StreamThreshold, ThresholdRule, normalised_uncertainty


@pytest.mark.parametrize("measure", ["least_confidence", "margin", "entropy"])
def test_normalised_uncertainty_spans_zero_to_one(measure: str) -> None:
    p = np.array([[1 / 3, 1 / 3, 1 / 3], [1.0, 0.0, 0.0], [0.6, 0.3, 0.1]])
    u = normalised_uncertainty(p, measure=measure)
    np.testing.assert_allclose(u[:2], [1.0, 0.0], atol=1e-9)
    assert 0.0 < u[2] < 1.0


def test_normalised_uncertainty_multi_label() -> None:
    u = normalised_uncertainty(np.array([[0.5, 0.5], [0.0, 1.0], [0.5, 1.0]]), multi_label=True)
    np.testing.assert_allclose(u, [1.0, 0.0, 0.5], atol=1e-9)


def test_fixed_rule_does_not_move() -> None:
    s = StreamThreshold(mode="fixed", threshold=0.5)
    assert s.decide(np.array([0.4, 0.35, 0.25])) is True
    assert s.decide(np.array([0.98, 0.01, 0.01])) is False
    assert s.current_threshold == 0.5


def test_variable_rule_tightens_after_query_and_loosens_after_skip() -> None:
    rule = ThresholdRule(mode="variable", threshold=0.5, step=0.1)
    assert rule.decide(0.9)
    assert rule.threshold == pytest.approx(1 - 0.5 * 0.9)  # stricter
    assert not rule.decide(0.1)
    assert rule.threshold == pytest.approx(1 - 0.45 * 1.1)  # looser


def test_variable_keeps_sampling_once_the_model_is_confident() -> None:
    """With every item at uncertainty 0.2 a fixed 0.5 rule never asks; a variable one still does."""
    row = np.array([0.8 + 0.2 / 3, 0.2 / 3, 0.2 / 3])  # least confidence (0.2 - 0.2/3) / (2/3) = 0.2
    assert normalised_uncertainty(row[None])[0] == pytest.approx(0.2)
    fixed = StreamThreshold(mode="fixed", threshold=0.5)
    variable = StreamThreshold(mode="variable", threshold=0.5, step=0.05)
    assert sum(fixed.decide(row) for _ in range(200)) == 0
    asked = sum(variable.decide(row) for _ in range(200))
    assert 10 < asked < 190
    assert variable.current_threshold == pytest.approx(0.2, abs=0.05)  # oscillates around u
    variable.reset()
    assert variable.current_threshold == 0.5


def test_query_takes_stream_order_when_everything_passes(single_pool) -> None:
    pool, head = single_pool
    res = StreamThreshold(mode="fixed", threshold=0.0).query(pool, 5, head=head, rng=7)
    order = np.random.default_rng(7).permutation(pool.unlabeled_indices)
    np.testing.assert_array_equal(res.indices, order[:5])
    assert res.params["n_filled"] == 0 and res.params["n_seen"] == 5


def test_query_fills_with_most_uncertain_when_stream_runs_dry(single_pool) -> None:
    pool, head = single_pool
    res = StreamThreshold(mode="fixed", threshold=1.0).query(pool, 6, head=head, rng=0)
    cand = pool.unlabeled_indices
    u = normalised_uncertainty(head.predict_proba(pool.X[cand]))
    assert res.params["n_filled"] == 6
    assert set(res.indices) == set(cand[np.argsort(-u)[:6]])
    np.testing.assert_allclose(res.scores, np.sort(u)[::-1][:6])


def test_query_records_partial_fill(single_pool) -> None:
    pool, head = single_pool
    cand = pool.unlabeled_indices
    u = normalised_uncertainty(head.predict_proba(pool.X[cand]))
    thr = float(np.sort(u)[-3])  # exactly two items are strictly above
    res = StreamThreshold(mode="fixed", threshold=thr).query(pool, 5, head=head, rng=0)
    assert res.params["n_filled"] == 3
    assert res.params["n_seen"] == len(cand)
    top2 = set(cand[np.argsort(-u)[:2]])
    assert top2 <= set(res.indices)


def test_query_multi_label_scores_are_mean_binary_entropy(multi_pool) -> None:
    pool, head = multi_pool
    res = REGISTRY.get("stream_threshold", mode="variable", threshold=0.3).query(pool, 4, head=head, rng=1)
    want = normalised_uncertainty(head.predict_proba(pool.X[res.indices]), multi_label=True)
    np.testing.assert_allclose(res.scores, want)
    assert res.params["mode"] == "variable" and "final_threshold" in res.params


def test_registered_as_a_stream_strategy() -> None:
    info = REGISTRY.info("stream_threshold")
    assert info.stream and info.single_label and info.multi_label


@pytest.mark.parametrize("kwargs", [{"mode": "adaptive"}, {"threshold": 1.5}, {"step": 0.0},
                                    {"measure": "ratio"}])
def test_bad_parameters_are_clear_errors(kwargs, single_pool) -> None:
    pool, head = single_pool
    with pytest.raises(ValueError):
        StreamThreshold(**kwargs).query(pool, 2, head=head, rng=0)
