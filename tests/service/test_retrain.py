"""The retrain job stores a model version atomically as far as readers can tell.

Its predictions are written in chunks (a single transaction would hold SQLite's write
lock for seconds at 100 000 items), so the version stays ``writing`` until everything is
stored; readers never see a ``writing`` version, a failed run deletes its own, and a run
killed mid-write leaves one that the next start deletes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from labella.config import Settings
from labella.service import auth, labelling, metrics, training
from labella.service.context import ServiceContext
from labella.service.importing import start_import
from labella.store.models import READY, WRITING, ModelVersion, Prediction
from tests.service.conftest import reviews, wait_jobs, write_csv


def _labelled(ctx: ServiceContext, admin: auth.UserPublic, make: Callable[..., Any],
              tmp_path: Path) -> int:
    p = make()
    data = reviews(80)
    start_import(ctx, admin, p.id, str(write_csv(tmp_path / "pool.csv",
                                                 [{"text": t, "label": ""} for t, _ in data])))
    wait_jobs(ctx, p.id)
    truth = dict(data)
    for it in labelling.next_items(ctx, admin, p.id, 20):
        labelling.annotate(ctx, admin, p.id, it.id, labels=truth[it.text or ""])
    assert ctx.loops.wait_idle(p.id)
    return p.id


def _versions(ctx: ServiceContext, pid: int) -> list[tuple[int, str]]:
    with ctx.session() as s:
        return [tuple(r) for r in s.execute(select(ModelVersion.version, ModelVersion.status)
                                            .where(ModelVersion.project_id == pid))]


def test_a_retrain_that_fails_while_storing_leaves_no_version(
        ctx: ServiceContext, admin: auth.UserPublic, make_text_project: Callable[..., Any],
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pid = _labelled(ctx, admin, make_text_project, tmp_path)
    before = _versions(ctx, pid)

    def broken(head: Any) -> bool:  # runs after the predictions are stored
        raise OSError("disk full")

    monkeypatch.setattr(training, "can_save", broken)
    job = training.start_retrain(ctx, admin, pid)
    info = ctx.jobs.wait(job.id, timeout=60)
    assert info.status == "failed"
    assert _versions(ctx, pid) == before
    with ctx.session() as s:
        assert s.scalar(select(func.count()).select_from(Prediction)) == 0

    monkeypatch.undo()
    ok = ctx.jobs.wait(training.start_retrain(ctx, admin, pid).id, timeout=60)
    assert ok.status == "succeeded"
    version = ok.result["model_version"]
    assert (version, READY) in _versions(ctx, pid)
    with ctx.session() as s:
        assert s.scalar(select(func.count()).select_from(Prediction)) == 80


def test_a_version_left_writing_by_a_dead_job_is_invisible_then_deleted(
        ctx: ServiceContext, admin: auth.UserPublic, make_text_project: Callable[..., Any],
        tmp_path: Path, database_url: str) -> None:
    pid = _labelled(ctx, admin, make_text_project, tmp_path)
    newest = max(v for v, _ in _versions(ctx, pid))
    # what a retrain killed mid-write leaves: its job ended (failed at recovery), its
    # version ``writing`` with some predictions
    job = ctx.jobs.enqueue("retrain", params={"project_id": pid}, project_id=pid, created_by=None)
    ctx.jobs.cancel(job.id)
    with ctx.session() as s:
        mv = ModelVersion(project_id=pid, version=newest + 1, kind="retrain", featuriser_key="k",
                          head="h", head_params={}, strategy="margin", n_labels=20, metrics={},
                          status=WRITING, job_id=job.id)
        s.add(mv)
        s.flush()
        item_ids = ctx.loops.state(pid).index.item_ids[:5].tolist()
        s.add_all(Prediction(model_version_id=mv.id, item_id=i, suggestion=["pos"],
                             confidence=0.9) for i in item_ids)
    m = metrics.project_metrics(ctx, admin, pid)
    assert newest + 1 not in [c["model_version"] for c in m["learning_curve"]]
    ctx.close()
    again = ServiceContext(Settings(data_dir=tmp_path / "data", database_url=database_url))
    again.start(recover_all=True)
    try:
        assert (newest + 1, WRITING) not in _versions(again, pid)
        with again.session() as s:
            assert s.scalar(select(func.count()).select_from(Prediction)) == 0
    finally:
        again.close()
