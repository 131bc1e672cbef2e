"""The live audit: batch composition and the labels-saved estimate (labella.al.audit)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from labella.al import audit
from labella.al.pipelines import pipeline_for
from labella.al.select import result
from labella.al.types import Pool
from tests.al.conftest import make_blobs


def _ranked(pool: Pool, k: int) -> object:
    idx = pool.unlabeled_indices[:k]
    return result(idx, -np.arange(k, dtype=float), "margin", seed=1)


def test_audit_count_rounds_at_random_to_the_share() -> None:
    rng = np.random.default_rng(0)
    assert audit.audit_count(10, 0.1, rng) == 1
    assert audit.audit_count(20, 0.0, rng) == 0
    ones = [audit.audit_count(1, 0.1, rng) for _ in range(4000)]
    assert 0.08 < np.mean(ones) < 0.12
    with pytest.raises(ValueError, match="audit share"):
        audit.audit_count(10, 1.5, rng)


def test_compose_batch_keeps_the_top_picks_and_adds_uniform_ones() -> None:
    X, y = make_blobs(n=500)
    pool = Pool.unlabeled(X, 3).with_labels(np.arange(20), y[:20])
    ranked = _ranked(pool, 10)
    batch = audit.compose_batch(ranked, pool, share=0.2, rng=np.random.default_rng(3))
    assert len(batch) == 10 and batch.audit.sum() == 2
    assert len(np.unique(batch.indices)) == 10
    assert not np.isin(batch.indices, pool.labeled_indices).any()
    # the strategy's eight best stay, in rank order; the audit picks are outside them
    np.testing.assert_array_equal(batch.indices[~batch.audit], ranked.indices[:8])
    assert not np.isin(batch.indices[batch.audit], ranked.indices[:8]).any()
    assert np.isnan(batch.scores[batch.audit]).all() and not np.isnan(batch.scores[~batch.audit]).any()
    assert batch.params["audit_share"] == 0.2 and batch.params["seed"] == 1


def test_audit_picks_are_uniform_over_the_unlabelled_pool() -> None:
    X, y = make_blobs(n=60)
    pool = Pool.unlabeled(X, 3).with_labels(np.arange(10), y[:10])
    ranked = _ranked(pool, 5)
    rng = np.random.default_rng(0)
    counts = np.zeros(60)
    for _ in range(3000):
        b = audit.compose_batch(ranked, pool, share=0.2, rng=rng)
        counts[b.indices[b.audit]] += 1
    free = np.setdiff1d(np.arange(10, 60), ranked.indices[:4])
    assert counts[:10].sum() == 0 and counts[ranked.indices[:4]].sum() == 0
    assert counts[free].min() > 0.6 * counts[free].mean()  # each free item ~ 3000/46 times


def test_random_batch_is_all_audit() -> None:
    X, _ = make_blobs(n=50)
    b = audit.random_batch(Pool.unlabeled(X, 3), 10, rng=np.random.default_rng(0))
    assert b.audit.all() and len(np.unique(b.indices)) == 10


def test_too_few_audit_labels_give_no_estimate() -> None:
    X, y = make_blobs(n=100)
    flags = np.zeros(100, dtype=bool)
    flags[:5] = True
    est = audit.estimate(X, y, flags, n_pool=1000, n_classes=3)
    assert est.verdict == "unclear" and est.labels_saved is None and "5 audit labels" in est.reason


def _blobs_run(flip: bool) -> audit.AuditEstimate:
    X, y = make_blobs(n=4000, d=32, n_classes=10, seed=3)
    rows = np.random.default_rng(0).choice(4000, 400, replace=False)
    flags = np.zeros(400, dtype=bool)
    flags[:60] = True
    labels = y[rows].copy()
    if flip:  # the non-audit labels teach the model the wrong class
        labels[~flags] = (labels[~flags] + 1) % 10
    head = pipeline_for("labella").make_head(10, False)
    return audit.estimate(X[rows], labels, flags, n_pool=4000, n_classes=10, head=head)


def test_a_model_far_behind_random_is_losing() -> None:
    est = _blobs_run(flip=True)
    assert est.verdict == "losing"
    assert est.score is not None and est.score < 0.3
    assert est.labels_saved_high is not None and est.labels_saved_high < 0
    assert "behind random" in est.reason


def test_a_model_far_ahead_of_random_is_winning_and_deterministic() -> None:
    est = _blobs_run(flip=False)
    assert est.verdict == "winning"
    assert est.labels_saved_low is not None and est.labels_saved_low > 0
    assert est.score_low is not None and est.score_low < est.score <= est.score_high
    assert est == _blobs_run(flip=False)
    d = est.as_dict()
    assert d["verdict"] == "winning" and all(v != math.inf for v in d.values())


def test_multi_label_estimate_uses_micro_f1() -> None:
    from tests.al.conftest import make_multilabel

    X, Y = make_multilabel(n=600, seed=2)
    flags = np.zeros(300, dtype=bool)
    flags[::5] = True
    est = audit.estimate(X[:300], Y[:300], flags, n_pool=600, n_classes=4, multi_label=True)
    assert est.metric == "micro_f1" and est.score is not None and 0 < est.score <= 1
    assert est.labels_saved_low is not None and est.labels_saved_low <= est.labels_saved_high


def test_should_switch_needs_losing_estimates_in_a_row() -> None:
    def e(n: int, verdict: audit.Verdict) -> audit.AuditEstimate:
        return audit.AuditEstimate(n_labels=n, n_audit=n // 10, metric="accuracy", level=0.9,
                                   verdict=verdict)

    assert not audit.should_switch([e(100, "losing"), e(110, "losing")])
    assert audit.should_switch([e(90, "unclear"), e(100, "losing"), e(110, "losing"), e(120, "losing")])
    assert not audit.should_switch([e(100, "losing"), e(110, "unclear"), e(120, "losing")])
    assert not audit.should_switch([e(100, "losing"), e(100, "losing"), e(100, "losing")])
