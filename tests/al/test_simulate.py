from __future__ import annotations

import numpy as np
import pytest

from labella.al.pipelines import DEFAULT_STRATEGY, PIPELINES, Pipeline, pipeline_for
from labella.al.simulate import checkpoints, run_curve, simulate
from labella.errors import DataError, UnknownNameError
from tests.al.conftest import make_blobs, make_multilabel


def _split(X, y, n_test=100):
    return X[n_test:], y[n_test:], X[:n_test], y[:n_test]


def test_checkpoints_follow_initial_and_batch() -> None:
    assert checkpoints(initial=10, batch_size=20, budget=75, n_pool=1000) == [10, 30, 50, 70]
    assert checkpoints(initial=5, batch_size=5, budget=1000, n_pool=12) == [5, 10]
    with pytest.raises(DataError, match="initial"):
        checkpoints(initial=50, batch_size=5, budget=20, n_pool=100)


def test_run_curve_labels_grow_and_learning_happens() -> None:
    X, y = make_blobs(n=500, n_classes=3, seed=1)
    curve = run_curve(*_split(X, y), n_classes=3, multi_label=False, pipeline=Pipeline("margin"),
                      budget=60, batch_size=10, initial=10, seed=0)
    assert curve.labels == [10, 20, 30, 40, 50, 60]
    assert len(curve.scores) == 6
    assert curve.scores[-1] > 0.6  # blobs are learnable; chance is 1/3


def test_same_seed_same_curve_and_random_start_shared() -> None:
    X, y = make_blobs(n=400, seed=2)
    kw = dict(n_classes=3, multi_label=False, budget=40, batch_size=10, initial=10)
    a = run_curve(*_split(X, y), pipeline=PIPELINES["random"], seed=3, **kw)
    b = run_curve(*_split(X, y), pipeline=PIPELINES["random"], seed=3, **kw)
    assert a.scores == b.scores


def test_simulate_writes_the_contract_shape() -> None:
    X, y = make_blobs(n=400, seed=4)
    calls = []
    res = simulate(*_split(X, y), n_classes=3, multi_label=False,
                   pipelines={DEFAULT_STRATEGY: pipeline_for(DEFAULT_STRATEGY), "random": pipeline_for("random")},
                   budget=50, batch_size=10, initial=10, seeds=2, progress=lambda d, t: calls.append((d, t)))
    assert res["metric"] == "accuracy" and res["n_pool"] == 300 and res["n_test"] == 100
    assert 0.0 < res["full_score"] <= 1.0
    for name in (DEFAULT_STRATEGY, "random"):
        s = res["strategies"][name]
        assert s["labels"] == [10, 20, 30, 40, 50]
        assert len(s["scores"]) == 2 and all(len(c) == 5 for c in s["scores"])
        np.testing.assert_allclose(s["mean"], np.mean(s["scores"], axis=0))
        lt = s["labels_to_95"]
        assert lt is None or s["mean"][s["labels"].index(lt)] >= 0.95 * res["full_score"]
    assert calls[-1][0] == calls[-1][1] == 2 * 2 * 5


def test_simulate_multi_label_uses_micro_f1() -> None:
    X, Y = make_multilabel(n=300, seed=5)
    res = simulate(*_split(X, Y), n_classes=4, multi_label=True,
                   pipelines={"ml_mean_entropy": pipeline_for("ml_mean_entropy"), "random": pipeline_for("random")},
                   budget=40, batch_size=10, initial=10, seeds=1)
    assert res["metric"] == "micro_f1"
    assert all(0.0 <= v <= 1.0 for v in res["strategies"]["random"]["mean"])


def test_unknown_strategy_lists_known_names() -> None:
    with pytest.raises(UnknownNameError, match="margin"):
        pipeline_for("nope")


def test_default_pipeline_mixes_audit_picks_and_estimates_along_the_run() -> None:
    X, y = make_blobs(n=1200, n_classes=3, seed=7)
    pipe = pipeline_for(DEFAULT_STRATEGY)
    assert pipe.audit_share > 0
    curve = run_curve(*_split(X, y, n_test=200), n_classes=3, multi_label=False, pipeline=pipe,
                      budget=150, batch_size=10, initial=10, seed=0)
    flags = np.asarray(curve.audit_flags)
    assert len(curve.rows) == 150 and len(set(curve.rows)) == 150
    assert flags[:10].all()  # a random first batch is an audit sample
    assert flags[10:].sum() == pytest.approx(14, abs=6)  # ~1 in 10 later picks
    assert curve.audit and curve.audit[-1].n_labels == 150
    assert [e.n_labels for e in curve.audit] == sorted({e.n_labels for e in curve.audit})
    plain = run_curve(*_split(X, y, n_test=200), n_classes=3, multi_label=False,
                      pipeline=pipeline_for("random"), budget=40, batch_size=10, initial=10, seed=0)
    assert plain.audit == [] and not any(plain.audit_flags[10:])  # only its random first batch


def test_simulate_reports_the_audit_next_to_the_truth() -> None:
    X, y = make_blobs(n=900, seed=8)
    res = simulate(*_split(X, y, n_test=150), n_classes=3, multi_label=False,
                   pipelines={DEFAULT_STRATEGY: pipeline_for(DEFAULT_STRATEGY),
                              "random": pipeline_for("random")},
                   budget=200, batch_size=20, initial=10, seeds=2)
    d = res["strategies"][DEFAULT_STRATEGY]
    assert len(d["audit"]) == 2 and d["switched_at"] == [None, None]
    first, last = d["audit"][0][0], d["audit"][0][-1]
    assert first["covered"] is None and first["labels_saved"] is None  # too few audit labels
    assert last["n_labels"] == 190 and last["true_score"] == d["scores"][0][-1]
    assert last["n_audit"] >= 20 and last["covered"] is not None
    cov = d["audit_coverage"]
    assert cov["runs"] == 2 and 0 <= cov["runs_covered"] <= 2
    assert "audit" not in res["strategies"]["random"]


def test_a_run_switches_to_random_when_the_audit_says_losing(monkeypatch: pytest.MonkeyPatch) -> None:
    from labella.al import audit

    real = audit.estimate

    def always_losing(*args: object, **kw: object) -> audit.AuditEstimate:
        e = real(*args, **kw)  # type: ignore[arg-type]
        return audit.AuditEstimate(n_labels=e.n_labels, n_audit=e.n_audit, metric=e.metric,
                                   level=e.level, verdict="losing")

    monkeypatch.setattr(audit, "estimate", always_losing)
    X, y = make_blobs(n=800, seed=9)
    curve = run_curve(*_split(X, y), n_classes=3, multi_label=False,
                      pipeline=pipeline_for(DEFAULT_STRATEGY), budget=120, batch_size=10,
                      initial=10, seed=0)
    assert curve.switched_at is not None and curve.switched_at < 120
    assert len(curve.audit) >= 3
