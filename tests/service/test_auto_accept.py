"""Auto-accept: the preview (difficulty bands, a threshold with its precision), accepting
as model-accepted labels kept out of evaluation, and undoing a batch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from labella.al.calibration import Calibrator
from labella.service import agreement, auth, auto_accept, browse, labelling, metrics, refit
from labella.service.context import ServiceContext
from labella.service.errors import (
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from labella.service.importing import start_import
from labella.service.labels import current_labels
from labella.store.annotations import Annotation
from tests.service.conftest import reviews, wait_jobs, write_csv


def test_preview(ctx: ServiceContext, admin: auth.UserPublic, make_text_project,  # type: ignore[no-untyped-def]
                 tmp_path: Path) -> None:
    p = make_text_project(strategy="margin")
    data = reviews(400, seed=9)
    rows = [{"text": t, "label": lab if i >= 240 else "", "split": "test" if i >= 240 else "train"}
            for i, (t, lab) in enumerate(data)]
    start_import(ctx, admin, p.id, str(write_csv(tmp_path / "r.csv", rows)))
    wait_jobs(ctx, p.id)
    truth = dict(data)
    with pytest.raises(InvalidRequestError, match="no model yet"):
        auto_accept.preview(ctx, admin, p.id, label="pos")
    for _ in range(4):
        for it in labelling.next_items(ctx, admin, p.id, 10):
            labelling.annotate(ctx, admin, p.id, it.id, labels=truth[it.text or ""])
        assert ctx.loops.wait_idle(p.id, timeout=60)
    pv = auto_accept.preview(ctx, admin, p.id, label="pos", target=0.8)
    assert sum(pv.difficulty.values()) == 240 - 40
    assert pv.n_evaluation == 160
    assert pv.threshold is not None and pv.low is not None and pv.precision is not None
    assert pv.precision >= pv.low >= 0.8 and pv.n_measured >= 10
    # the items it would accept: suggestions of "pos" at or above the threshold
    st = ctx.loops.state(p.id)
    unl = np.flatnonzero(np.asarray(st.y) < 0)
    q = st.calibrator.apply(st.proba[unl]) if st.calibrator else st.proba[unl]
    sel = (q.argmax(1) == st.label_names.index("pos")) & (q.max(1) >= pv.threshold)
    assert int(sel.sum()) == pv.n_would_accept
    ids = st.index.ids(unl[sel]).tolist()
    with ctx.read_session() as s:
        from labella.store.items import Item

        texts = [s.get(Item, i).text for i in ids]  # type: ignore[union-attr]
    if texts:
        assert np.mean([truth[t or ""] == "pos" for t in texts]) >= 0.8
    with pytest.raises(InvalidRequestError, match="unknown label"):
        auto_accept.preview(ctx, admin, p.id, label="maybe")
    with pytest.raises(InvalidRequestError, match="target precision"):
        auto_accept.preview(ctx, admin, p.id, label="pos", target=1.0)


def _project_with_model(ctx: ServiceContext, admin: auth.UserPublic, make_text_project,  # type: ignore[no-untyped-def]
                        tmp_path: Path) -> tuple[int, dict[str, str]]:
    """240 pool items (40 labelled by the admin), 160 labelled evaluation items."""
    p = make_text_project(strategy="margin")
    data = reviews(400, seed=9)
    rows = [{"text": t, "label": lab if i >= 240 else "", "split": "test" if i >= 240 else "train"}
            for i, (t, lab) in enumerate(data)]
    start_import(ctx, admin, p.id, str(write_csv(tmp_path / "r.csv", rows)))
    wait_jobs(ctx, p.id)
    truth = dict(data)
    for _ in range(4):
        for it in labelling.next_items(ctx, admin, p.id, 10):
            labelling.annotate(ctx, admin, p.id, it.id, labels=truth[it.text or ""])
        assert ctx.loops.wait_idle(p.id, timeout=60)
    return p.id, truth


def test_accept_marks_model_labels_keeps_them_out_of_evaluation_and_undoes(  # type: ignore[no-untyped-def]
        ctx: ServiceContext, admin: auth.UserPublic, make_text_project, tmp_path: Path) -> None:
    pid, _ = _project_with_model(ctx, admin, make_text_project, tmp_path)
    pv = auto_accept.preview(ctx, admin, pid, label="pos", target=0.8)
    assert pv.threshold is not None and pv.n_would_accept > 0
    res = auto_accept.accept(ctx, admin, pid, label="pos", target=0.8, threshold=pv.threshold)
    assert res.accepted == pv.n_would_accept and res.batch is not None
    assert res.low >= 0.8 and res.n_measured == pv.n_measured and res.n_labeled == 40 + res.accepted
    with ctx.read_session() as s:
        rows = list(s.scalars(select(Annotation).where(Annotation.source == "model")))
        got = {(a.action, a.user_id, tuple(a.value or [])) for a in rows}
        rec, accepted_ids = rows[0].meta["auto_accept"], sorted(a.item_id for a in rows)
        cur = current_labels(s, pid)
    assert len(rows) == res.accepted and got == {("label", admin.id, ("pos",))}
    assert rec["threshold"] == pv.threshold and rec["target"] == 0.8
    assert rec["model_version"] == pv.model_version and rec["precision"] == pv.precision
    assert all(cur[i].source == "model" for i in accepted_ids)
    assert sum(c.source == "human" for c in cur.values()) == 40

    # kept apart: counts, the data browser, the item detail, agreement, a reload
    m = metrics.project_metrics(ctx, admin, pid)
    assert (m["n_labeled_by_people"], m["n_model_accepted"]) == (40, res.accepted)
    page = browse.list_items(ctx, admin, pid, source="model", limit=500)
    assert page.total == res.accepted and {r.source for r in page.items} == {"model"}
    assert browse.list_items(ctx, admin, pid, source="human", limit=500).total == 40
    assert labelling.get_item(ctx, admin, pid, accepted_ids[0]).label_source == "model"
    me = agreement.project_agreement(ctx, admin, pid)["annotators"]
    # the 40 labels people gave; imported and model-accepted labels are left out
    assert [(a["username"], a["labels"]) for a in me] == [("admin", 40)]
    n_unlabelled = 240 - 40 - res.accepted
    bands = {b: browse.list_items(ctx, admin, pid, difficulty=b, limit=500) for b in
             ("easy", "medium", "hard")}
    assert sum(pg.total for pg in bands.values()) == n_unlabelled
    assert all(r.difficulty == b and r.labels is None for b, pg in bands.items() for r in pg.items)
    ctx.loops.reload(pid)
    assert ctx.loops.state(pid).n_model_accepted == res.accepted

    # undo the batch: a label the admin gave by hand since stands
    mine = accepted_ids[0]
    labelling.annotate(ctx, admin, pid, mine, labels="neg")
    out = auto_accept.undo_batch(ctx, admin, pid, res.batch)
    assert out["retracted"] == res.accepted - 1 and out["n_labeled"] == 41
    with ctx.read_session() as s:
        cur = current_labels(s, pid)
    assert cur[mine].labels == ["neg"] and cur[mine].source == "human"
    assert not any(c.source == "model" for c in cur.values())
    assert ctx.loops.state(pid).n_model_accepted == 0
    assert auto_accept.undo_batch(ctx, admin, pid, res.batch)["retracted"] == 0
    with pytest.raises(NotFoundError):
        auto_accept.undo_batch(ctx, admin, pid, "nosuchbatch")


def test_accept_refuses_a_threshold_that_misses_the_target_and_non_admins(  # type: ignore[no-untyped-def]
        ctx: ServiceContext, admin: auth.UserPublic, make_text_project, tmp_path: Path) -> None:
    pid, _ = _project_with_model(ctx, admin, make_text_project, tmp_path)
    pv = auto_accept.preview(ctx, admin, pid, label="pos", target=0.8)
    assert pv.threshold is not None
    with ctx.session() as s:
        ann = auth.create_user(s, "ann", password="correct horse")
        auth.set_member(s, pid, ann.id, "annotator")
    assert auto_accept.preview(ctx, ann, pid, label="pos", target=0.8) == pv  # may look
    with pytest.raises(PermissionDeniedError):
        auto_accept.accept(ctx, ann, pid, label="pos", target=0.8, threshold=pv.threshold)
    # a threshold that was never shown: suggestions of "pos" at confidence >= 0.01 are far
    # from 99 % precise
    with pytest.raises(ConflictError, match="preview again"):
        auto_accept.accept(ctx, admin, pid, label="pos", target=0.99, threshold=0.01)
    # the model changed since the preview: a refit brought a far flatter calibration, so
    # no held-out prediction reaches the shown threshold any more
    st = ctx.loops.state(pid)
    with st.lock:
        kept, st.calibrator = st.calibrator, Calibrator(1e4, False, 160, None, None)
    with pytest.raises(ConflictError, match="0 of 0 evaluation predictions"):
        auto_accept.accept(ctx, admin, pid, label="pos", target=0.8, threshold=pv.threshold)
    with st.lock:
        st.calibrator = kept
    for kw, match in (({"label": "maybe"}, "unknown label"), ({"target": 1.0}, "target"),
                      ({"threshold": 0.0}, "threshold")):
        args = {"label": "pos", "target": 0.8, "threshold": pv.threshold, **kw}
        with pytest.raises(InvalidRequestError, match=match):
            auto_accept.accept(ctx, admin, pid, **args)  # type: ignore[arg-type]
    with ctx.read_session() as s:
        assert s.scalar(select(Annotation.id).where(Annotation.source == "model")) is None
    # the shown threshold under the model that showed it: accepted
    assert auto_accept.accept(ctx, admin, pid, label="pos", target=0.8,
                              threshold=pv.threshold).accepted == pv.n_would_accept


def test_the_head_is_fitted_and_evaluated_on_people_s_labels_only(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    from labella.al.pipelines import DEFAULT_STRATEGY, pipeline_for

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    y = np.full(200, -1, dtype=np.int64)
    y[:120] = (X[:120, 0] > 0).astype(np.int64)
    model = np.zeros(200, dtype=bool)
    model[60:120] = True  # 60 labels accepted from the model, 60 from people
    snap = refit.Snapshot(
        X=X, y=y, X_eval=X[:0], y_eval=y[:0], n_classes=2, multi_label=False,
        label_names=["a", "b"], pipeline=pipeline_for(DEFAULT_STRATEGY), queue_size=10,
        stop_rows=np.zeros(0, dtype=np.int64), labels_changed=1, want_cv=True, seed=0,
        audit_rows=np.zeros(200, dtype=bool), model_rows=model)
    res = refit.refit(snap)
    assert res.n_labels == 60  # fitted on people's labels
    assert res.metrics["source"] == "cross_validation" and res.metrics["n_items"] == 60
    assert res.calibrator is not None and res.calibrator.n_fit == 60
    assert not set(res.rows.tolist()) & set(range(120))  # accepted items are not queried
    seen: dict[str, int] = {}

    def spy(X: np.ndarray, y: np.ndarray, flags: np.ndarray, **kw: object) -> object:
        seen["audit"] = len(y)
        raise RuntimeError("stop here")

    monkeypatch.setattr(refit.audit, "estimate", spy)
    with pytest.raises(RuntimeError, match="stop here"):
        refit.refit(replace(snap, want_audit=True))
    assert seen["audit"] == 60
