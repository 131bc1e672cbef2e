"""The live audit in a project: random picks in the queue, recorded with their labels, an
estimate of labels saved against random sampling in the metrics, and a switch to random
sampling (logged in the project's history) when active learning is losing."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from labella.al import audit
from labella.config import Settings
from labella.service import auth, events, labelling, metrics
from labella.service import refit as refit_module
from labella.service.context import ServiceContext
from labella.service.importing import start_import
from labella.service.loop import AUDIT_REASON
from labella.store.annotations import Annotation
from tests.service.conftest import reviews, wait_jobs, write_csv


def _project(ctx: ServiceContext, admin: auth.UserPublic, make: Callable[..., Any],
             tmp_path: Path, n: int = 300, **settings: Any) -> tuple[int, dict[str, str]]:
    p = make(settings=settings)
    data = reviews(n)
    start_import(ctx, admin, p.id, str(write_csv(tmp_path / "pool.csv",
                                                 [{"text": t, "label": ""} for t, _ in data])))
    wait_jobs(ctx, p.id)
    return p.id, dict(data)


def _label(ctx: ServiceContext, admin: auth.UserPublic, pid: int, truth: dict[str, str],
           n: int) -> list[Any]:
    served = []
    while len(served) < n:
        assert ctx.loops.wait_idle(pid)
        batch = labelling.next_items(ctx, admin, pid, min(10, n - len(served)))
        for it in batch:
            labelling.annotate(ctx, admin, pid, it.id, labels=truth[it.text or ""])
        served += batch
    assert ctx.loops.wait_idle(pid)
    return served


def test_audit_picks_are_served_recorded_and_estimated(
        ctx: ServiceContext, admin: auth.UserPublic, make_text_project: Callable[..., Any],
        tmp_path: Path) -> None:
    pid, truth = _project(ctx, admin, make_text_project, tmp_path)
    served = _label(ctx, admin, pid, truth, 80)
    # the uniformly random first batch is the audit's first sample; after it, about a tenth
    first, rest = served[:10], served[10:]
    assert all(i.reason.strategy == AUDIT_REASON for i in first)
    n_audit_rest = sum(i.reason.strategy == AUDIT_REASON for i in rest)
    assert 1 <= n_audit_rest <= 20, n_audit_rest
    assert all(i.reason.strategy == "margin" for i in rest if i.reason.strategy != AUDIT_REASON)
    with ctx.session() as s:
        flagged = set(s.scalars(select(Annotation.item_id).where(Annotation.audit.is_(True))))
    assert flagged == {i.id for i in served if i.reason.strategy == AUDIT_REASON}
    st = ctx.loops.state(pid)
    assert int(st.audit_rows.sum()) == len(flagged)

    m = metrics.project_metrics(ctx, admin, pid)["audit"]
    assert m["enabled"] and m["history"]
    latest = m["latest"]
    assert latest["n_labels"] >= 70 and latest["n_audit"] == len(flagged)
    if latest["n_audit"] < audit.MIN_AUDIT:  # too few for an interval: it says so
        assert latest["labels_saved"] is None and latest["verdict"] == "unclear"
        assert f"needs {audit.MIN_AUDIT}" in latest["reason"]


def test_the_estimate_has_an_interval_and_a_verdict(
        ctx: ServiceContext, admin: auth.UserPublic, make_text_project: Callable[..., Any],
        tmp_path: Path) -> None:
    pid, truth = _project(ctx, admin, make_text_project, tmp_path, audit_share=0.4)
    _label(ctx, admin, pid, truth, 60)
    latest = metrics.project_metrics(ctx, admin, pid)["audit"]["latest"]
    assert latest["n_audit"] >= audit.MIN_AUDIT
    assert latest["verdict"] in ("winning", "losing", "unclear") and latest["reason"]
    low, mid, high = (latest[k] for k in ("labels_saved_low", "labels_saved",
                                          "labels_saved_high"))
    as_num = [math.inf if v == "inf" else v for v in (low, mid, high)]
    assert as_num[0] <= as_num[1] <= as_num[2]


def test_the_audit_history_survives_a_restart(
        ctx: ServiceContext, admin: auth.UserPublic, make_text_project: Callable[..., Any],
        tmp_path: Path, database_url: str) -> None:
    pid, truth = _project(ctx, admin, make_text_project, tmp_path, n=150, audit_share=0.5)
    _label(ctx, admin, pid, truth, 40)
    before = metrics.project_metrics(ctx, admin, pid)["audit"]
    audit_items = int(ctx.loops.state(pid).audit_rows.sum())
    assert before["latest"] is not None and before["latest"]["labels_saved"] is not None
    ctx.close()
    again = ServiceContext(Settings(data_dir=tmp_path / "data", database_url=database_url))
    again.start()
    try:
        after = metrics.project_metrics(again, admin, pid)["audit"]
        assert after["latest"] == before["latest"] and after["history"] == before["history"]
        assert int(again.loops.state(pid).audit_rows.sum()) == audit_items
    finally:
        again.close()


def test_a_losing_audit_switches_the_project_to_random_and_says_so(
        ctx: ServiceContext, admin: auth.UserPublic, make_text_project: Callable[..., Any],
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The estimator is measured by benchmarks/audit_calibration.py; here it is made to say
    "losing" so that the project's reaction is certain."""
    pid, truth = _project(ctx, admin, make_text_project, tmp_path, n=200)

    def losing(X: Any, y: Any, flags: Any, *, n_pool: int, **kw: Any) -> audit.AuditEstimate:
        n = len(y)
        return audit.AuditEstimate(
            n_labels=n, n_audit=int(flags.sum()), metric="accuracy", level=0.9, score=0.6,
            score_low=0.55, score_high=0.65, random_labels=n / 2, random_labels_low=n / 3,
            random_labels_high=n * 0.8, labels_saved=-n / 2, labels_saved_low=-n * 2 / 3,
            labels_saved_high=-n * 0.2, verdict="losing", reason="random sampling is ahead")

    monkeypatch.setattr(refit_module.audit, "estimate", losing)
    _label(ctx, admin, pid, truth, 10 + 3 * 12)
    with ctx.session() as s:
        from labella.store.projects import Project

        assert s.get(Project, pid).strategy == audit.FALLBACK_STRATEGY  # type: ignore[union-attr]
    st = ctx.loops.state(pid)
    assert st.pipeline.strategy == "random" and st.pipeline.audit_share == 0
    log = events.list_events(ctx, admin, pid)
    assert [e.kind for e in log] == ["strategy_switched"]
    assert "from labella to random" in log[0].message and log[0].data["to"] == "random"
    assert log[0].data["estimate"]["verdict"] == "losing"
    nxt = labelling.next_items(ctx, admin, pid, 3)
    assert all(i.reason.strategy == "random" for i in nxt)
