"""The online labelling loop: next, annotate, skip, undo, leases, refits, metrics."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from labella.service import auth, labelling, metrics, projects
from labella.service.context import ServiceContext
from labella.service.errors import ConflictError, NotFoundError
from labella.service.importing import start_import
from labella.store.annotations import Annotation
from labella.store.items import Item
from labella.store.models import ModelVersion
from tests.service.conftest import reviews, wait_jobs, write_csv


def _project_with_pool(ctx: ServiceContext, make, tmp_path: Path, n: int = 200,  # type: ignore[no-untyped-def]
                       n_test: int = 40, **kw: object) -> tuple[projects.ProjectPublic, dict[str, str]]:
    p = make(**kw)
    data = reviews(n + n_test)
    rows = [{"text": t, "label": lab if i >= n else "", "split": "test" if i >= n else "train"}
            for i, (t, lab) in enumerate(data)]
    admin = _admin(ctx)
    start_import(ctx, admin, p.id, str(write_csv(tmp_path / f"{p.name}.csv", rows)))
    wait_jobs(ctx, p.id)
    return p, dict(data)


def _admin(ctx: ServiceContext) -> auth.UserPublic:
    with ctx.session() as s:
        return auth.get_user(s, username="admin")


def _wait_version(ctx: ServiceContext, pid: int, above: int, timeout: float = 20.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = ctx.loops.state(pid)
        if st.version > above and st.applied_changes == st.labels_changed:
            return st.version
        time.sleep(0.02)
    raise TimeoutError("the refitter did not catch up")


def test_loop_serves_ranked_items_with_suggestions(ctx: ServiceContext, admin: auth.UserPublic,
                                                   make_text_project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    p, truth = _project_with_pool(ctx, make_text_project, tmp_path)
    first = labelling.next_items(ctx, admin, p.id, 10)
    assert len(first) == 10 and len({i.id for i in first}) == 10
    assert all(i.suggestion is None and i.reason.model_version == 0 for i in first)  # cold start
    with ctx.session() as s:
        eval_ids = set(s.scalars(select(Item.id).where(Item.split == "evaluation")))
    assert not eval_ids & {i.id for i in first}
    for it in first:
        ack = labelling.annotate(ctx, admin, p.id, it.id, labels=truth[it.text or ""])
        assert not ack.duplicate
    assert ack.n_labeled == 10
    v = _wait_version(ctx, p.id, 0)
    batch = labelling.next_items(ctx, admin, p.id, 5)
    assert all(b.suggestion in (["neg"], ["pos"]) and b.confidence is not None for b in batch)
    assert all(b.reason.strategy == "margin" and b.reason.model_version == v for b in batch)
    assert not {b.id for b in batch} & {i.id for i in first}  # never a labelled item
    # the most uncertain first: scores are in non-increasing order
    scores = [b.reason.score for b in batch]
    assert scores == sorted(scores, reverse=True)  # type: ignore[type-var]
    for _ in range(6):
        for it in labelling.next_items(ctx, admin, p.id, 10):
            labelling.annotate(ctx, admin, p.id, it.id, labels=truth[it.text or ""])
    _wait_version(ctx, p.id, v)
    m = metrics.project_metrics(ctx, admin, p.id)
    assert m["n_labeled"] == 70 and m["n_evaluation"] == 40 and m["n_evaluation_labeled"] == 40
    assert m["scores"]["source"] == "evaluation" and m["scores"]["accuracy"] > 0.8
    assert m["learning_curve"][-1]["n_labels"] == 70
    assert {"stop", "reason", "criterion"} <= set(m["stop"])
    with ctx.session() as s:  # every refit is a recorded model version
        assert s.scalar(select(func.max(ModelVersion.version))) == m["model_version"]


def test_annotate_is_idempotent_and_validated(ctx: ServiceContext, admin: auth.UserPublic,
                                              make_text_project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    p, _ = _project_with_pool(ctx, make_text_project, tmp_path, n=30, n_test=0)
    it = labelling.next_items(ctx, admin, p.id, 1)[0]
    a = labelling.annotate(ctx, admin, p.id, it.id, labels="pos", request_id="r-1")
    b = labelling.annotate(ctx, admin, p.id, it.id, labels="pos", request_id="r-1")
    assert b.duplicate and b.annotation_id == a.annotation_id and b.n_labeled == 1
    with pytest.raises(ConflictError, match="already used"):
        labelling.annotate(ctx, admin, p.id, it.id + 1, labels="pos", request_id="r-1")
    # the same request id with another label is a client bug: 409 naming both answers,
    # and the first one stands
    with pytest.raises(ConflictError, match=rf"label item {it.id} as pos.*label item {it.id} as neg"):
        labelling.annotate(ctx, admin, p.id, it.id, labels="neg", request_id="r-1")
    assert labelling.get_item(ctx, admin, p.id, it.id).labels == ["pos"]
    with pytest.raises(Exception, match="unknown label"):
        labelling.annotate(ctx, admin, p.id, it.id, labels="meh")
    with pytest.raises(NotFoundError):
        labelling.annotate(ctx, admin, p.id, 10**9, labels="pos")
    with ctx.session() as s:
        assert s.scalar(select(func.count()).select_from(Annotation)) == 1


def test_relabel_undo_and_skip_keep_history(ctx: ServiceContext, admin: auth.UserPublic,
                                            make_text_project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    p, _ = _project_with_pool(ctx, make_text_project, tmp_path, n=30, n_test=0)
    a, b = labelling.next_items(ctx, admin, p.id, 2)
    labelling.annotate(ctx, admin, p.id, a.id, labels="pos")
    labelling.annotate(ctx, admin, p.id, a.id, labels="neg")  # relabel: a new row
    assert labelling.get_item(ctx, admin, p.id, a.id).labels == ["neg"]
    ack = labelling.undo(ctx, admin, p.id)  # undoes the most recent answer (on a)
    assert ack.item_id == a.id and ack.n_labeled == 0
    assert labelling.get_item(ctx, admin, p.id, a.id).labels is None
    hist = [h.action for h in labelling.get_item(ctx, admin, p.id, a.id).history]
    assert hist == ["label", "label", "undo"]  # nothing overwritten
    labelling.skip(ctx, admin, p.id, b.id)
    ids = {i.id for i in labelling.next_items(ctx, admin, p.id, 30)}
    assert len(ids) == 29  # all but the skipped one
    assert b.id not in ids  # skipped: not again for me
    assert a.id in ids  # undone: back in the queue


def test_leases_keep_annotators_apart(ctx: ServiceContext, admin: auth.UserPublic,
                                      make_text_project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    p, _ = _project_with_pool(ctx, make_text_project, tmp_path, n=40, n_test=0)
    with ctx.session() as s:
        ann = auth.create_user(s, "ann", password="password1")
        projects.set_member(s, admin, p.id, "ann", "annotator")
    mine = {i.id for i in labelling.next_items(ctx, admin, p.id, 15)}
    theirs = {i.id for i in labelling.next_items(ctx, ann, p.id, 15)}
    assert len(mine) == 15 and len(theirs) == 15 and not mine & theirs
    again = {i.id for i in labelling.next_items(ctx, ann, p.id, 30)}  # mine to get again
    assert not again & mine and theirs <= again and len(again) == 25


def test_used_up_queue_falls_back_to_the_current_model(ctx: ServiceContext, admin: auth.UserPublic,
                                                      make_text_project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """With the ranked queue used up (the refitter behind), ``next`` ranks the free items by
    the current model's margin, and still keeps out labelled, skipped and leased items."""
    p, truth = _project_with_pool(ctx, make_text_project, tmp_path, n=80, n_test=0)
    for it in labelling.next_items(ctx, admin, p.id, 12):
        labelling.annotate(ctx, admin, p.id, it.id, labels=truth[it.text or ""])
    _wait_version(ctx, p.id, 0)
    with ctx.session() as s:
        ann = auth.create_user(s, "ann", password="password1")
        projects.set_member(s, admin, p.id, "ann", "annotator")
    theirs = {i.id for i in labelling.next_items(ctx, ann, p.id, 10)}
    skipped = labelling.next_items(ctx, admin, p.id, 1)[0].id
    labelling.skip(ctx, admin, p.id, skipped)
    st = ctx.loops.state(p.id)
    ctx.loops.stop()  # no refit from here on: the queue stays used up
    with st.lock:
        st.ranked = None
        proba = st.proba.copy()
        free = [int(r) for r in range(len(st.y)) if not st.is_labeled(r)]
        ids = st.index.ids(free).tolist()
    assert proba is not None
    batch = labelling.next_items(ctx, admin, p.id, 20)
    got = [b.id for b in batch]
    assert all(b.reason.strategy == "margin (queue refilling)" for b in batch)
    assert len(set(got)) == 20 and not set(got) & (theirs | {skipped})
    srt = np.sort(proba[free], axis=1)
    margin = dict(zip(ids, srt[:, -1] - srt[:, -2], strict=True))
    eligible = sorted((i for i in ids if i not in theirs and i != skipped), key=margin.__getitem__)
    assert [round(margin[i], 9) for i in got] == [round(margin[i], 9) for i in eligible[:20]]
    assert [b.reason.score for b in batch] == sorted((b.reason.score for b in batch), reverse=True)  # type: ignore[misc]


def test_concurrent_annotators_lose_nothing(ctx: ServiceContext, admin: auth.UserPublic,
                                            make_text_project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    p, truth = _project_with_pool(ctx, make_text_project, tmp_path, n=120, n_test=0)
    users = [admin]
    with ctx.session() as s:
        for k in range(3):
            u = auth.create_user(s, f"ann{k}", password="password1")
            projects.set_member(s, admin, p.id, u.username, "annotator")
            users.append(u)
    acks: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(u: auth.UserPublic) -> None:
        try:
            for _ in range(5):
                for it in labelling.next_items(ctx, u, p.id, 5):
                    ack = labelling.annotate(ctx, u, p.id, it.id, labels=truth[it.text or ""],
                                             request_id=f"{u.username}-{it.id}")
                    with lock:
                        acks.append(ack.item_id)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(acks) == 100 and len(set(acks)) == 100  # leases: no item labelled twice
    with ctx.session() as s:
        assert s.scalar(select(func.count()).select_from(Annotation)) == 100
    assert ctx.loops.state(p.id).n_labeled == 100


def test_state_survives_a_restart(tmp_path: Path, database_url: str, make_text_project,  # type: ignore[no-untyped-def]
                                  ctx: ServiceContext, admin: auth.UserPublic) -> None:
    from labella.config import Settings

    p, truth = _project_with_pool(ctx, make_text_project, tmp_path, n=40, n_test=0)
    for it in labelling.next_items(ctx, admin, p.id, 12):
        labelling.annotate(ctx, admin, p.id, it.id, labels=truth[it.text or ""])
    labelling.undo(ctx, admin, p.id)
    v = ctx.loops.state(p.id).version
    ctx.close()
    fresh = ServiceContext(Settings(data_dir=tmp_path / "data", database_url=database_url)).start()
    try:
        st = fresh.loops.state(p.id)
        assert st.n_labeled == 11 and st.version >= v
    finally:
        fresh.close()



def test_metrics_after_a_restart_come_from_the_stored_versions(  # type: ignore[no-untyped-def]
        tmp_path: Path, database_url: str, make_text_project, ctx: ServiceContext,
        admin: auth.UserPublic) -> None:
    from labella.config import Settings

    p, truth = _project_with_pool(ctx, make_text_project, tmp_path, n=60, n_test=20)
    for it in labelling.next_items(ctx, admin, p.id, 15):
        labelling.annotate(ctx, admin, p.id, it.id, labels=truth[it.text or ""])
    _wait_version(ctx, p.id, 0)
    before = metrics.project_metrics(ctx, admin, p.id)
    ctx.close()
    fresh = ServiceContext(Settings(data_dir=tmp_path / "data", database_url=database_url)).start()
    try:
        after = metrics.project_metrics(fresh, admin, p.id)
    finally:
        fresh.close()
    assert after["scores"]["source"] == "evaluation" and after["scores"]["score"] is not None
    assert "confusion_matrix" in after["scores"]  # the full stored evaluation, not just the score
    old = {c["n_labels"]: c["score"] for c in before["learning_curve"]}
    new = {c["n_labels"]: c["score"] for c in after["learning_curve"]}
    assert old and old.keys() <= new.keys()
    assert all(new[n] == old[n] for n in old if n < 15)  # a refit after the restart may redo n=15


def test_data_browser_filters(ctx: ServiceContext, admin: auth.UserPublic, make_text_project,  # type: ignore[no-untyped-def]
                              tmp_path: Path) -> None:
    from labella.service.browse import UNLABELED, list_items

    p, truth = _project_with_pool(ctx, make_text_project, tmp_path, n=60, n_test=20)
    for it in labelling.next_items(ctx, admin, p.id, 20):  # 20: past the plain first batch
        labelling.annotate(ctx, admin, p.id, it.id, labels=truth[it.text or ""])
    _wait_version(ctx, p.id, 0)
    everything = list_items(ctx, admin, p.id, limit=500)
    assert everything.total == 80
    pos = list_items(ctx, admin, p.id, label="pos", limit=500)
    assert pos.total > 0 and all(r.labels == ["pos"] for r in pos.items)
    assert list_items(ctx, admin, p.id, label=UNLABELED).total == 80 - 20 - 20
    assert list_items(ctx, admin, p.id, split="evaluation").total == 20
    # 20 labelled in the loop + 20 evaluation labels imported by admin (imports are attributed
    # to the importing user, with source "import" in the history)
    assert list_items(ctx, admin, p.id, annotator="admin").total == 40
    pred = list_items(ctx, admin, p.id, prediction="neg", limit=500)
    assert pred.total > 0 and all(r.prediction == ["neg"] for r in pred.items)
    sure = list_items(ctx, admin, p.id, min_confidence=0.9, sort="-confidence", limit=500)
    confs = [r.confidence for r in sure.items]
    assert all(c is not None and c >= 0.9 for c in confs) and confs == sorted(confs, reverse=True)  # type: ignore[type-var]
    page2 = list_items(ctx, admin, p.id, offset=10, limit=10)
    assert [r.id for r in page2.items] == [r.id for r in everything.items[10:20]]
    assert list_items(ctx, admin, p.id, q="battery").total == sum(
        "battery" in t for t in truth)


def test_plateau_needs_a_doubling_of_labels() -> None:
    from labella.service.metrics import plateau_points

    curve = [{"n_labels": n, "score": 0.5} for n in range(1, 200)]
    kept = [p["n_labels"] for p in plateau_points(curve)]
    assert kept[0] == 50 and all(b >= a * 1.25 for a, b in itertools.pairwise(kept))
    assert plateau_points(curve[:40]) == []  # under 50 labels: no plateau verdict at all


def test_sgd_head_project_exports_a_loadable_model(ctx: ServiceContext, admin: auth.UserPublic,
                                                   make_text_project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import zipfile

    from labella.al.heads import SGDHead
    from labella.al.serialize import load_head
    from labella.service import exporting

    p, truth = _project_with_pool(ctx, make_text_project, tmp_path, head="sgd")
    for it in labelling.next_items(ctx, admin, p.id, 20):
        labelling.annotate(ctx, admin, p.id, it.id, labels=truth[it.text or ""])
    _wait_version(ctx, p.id, 0)
    path = exporting.export_model(ctx, admin, p.id)
    with zipfile.ZipFile(path) as zf:
        zf.extractall(tmp_path / "model")
    head = load_head(tmp_path / "model")
    assert isinstance(head, SGDHead)
    st = ctx.loops.state(p.id)
    with st.lock:
        live, X = st.head, st.X
    np.testing.assert_array_equal(head.predict_proba(X), live.predict_proba(X))


def test_the_first_refits_predict_as_random_sampling_would(ctx: ServiceContext, admin: auth.UserPublic,
                                                           make_text_project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import zipfile

    from labella.al.serialize import load_head
    from labella.al.tuned import TunedLogisticHead
    from labella.service import exporting

    p, truth = _project_with_pool(ctx, make_text_project, tmp_path, n=120, n_test=0)
    for it in labelling.next_items(ctx, admin, p.id, 10):
        labelling.annotate(ctx, admin, p.id, it.id, labels=truth[it.text or ""])
    _wait_version(ctx, p.id, 0)
    st = ctx.loops.state(p.id)
    with st.lock:
        head, X = st.head, st.X
    # below 20 labels the default head predicts with plain logistic regression (tuned.py)
    # and queries with the class-balanced one; the saved model predicts the same
    assert isinstance(head, TunedLogisticHead) and head.plain_ and head.n_pseudo_ == 0
    assert head.for_queries() is not head
    path = exporting.export_model(ctx, admin, p.id)
    with zipfile.ZipFile(path) as zf:
        zf.extractall(tmp_path / "model")
    np.testing.assert_allclose(load_head(tmp_path / "model").predict_proba(X), head.predict_proba(X))


def test_the_tuned_head_keeps_its_tuning_across_refits(ctx: ServiceContext, admin: auth.UserPublic,
                                                       make_text_project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from labella.al.tuned import TunedLogisticHead

    p, truth = _project_with_pool(ctx, make_text_project, tmp_path, n=120, n_test=0)
    assert p.head == "tuned_logistic_regression"  # the default pipeline's head
    for it in labelling.next_items(ctx, admin, p.id, 24):
        labelling.annotate(ctx, admin, p.id, it.id, labels=truth[it.text or ""])
    v = _wait_version(ctx, p.id, 0)
    st = ctx.loops.state(p.id)
    head = st.head
    assert isinstance(head, TunedLogisticHead) and 20 <= head.tuned_at_ <= 24
    tuned_at, C = head.tuned_at_, head.C_
    it = labelling.next_items(ctx, admin, p.id, 1)[0]
    labelling.annotate(ctx, admin, p.id, it.id, labels=truth[it.text or ""])
    _wait_version(ctx, p.id, v)
    # 25 labels < 1.5 x the last tuning: the refit reused the tuned C instead of re-tuning
    # (a head built from scratch would tune at 25)
    assert isinstance(st.head, TunedLogisticHead) and st.head is not head
    assert (st.head.tuned_at_, st.head.C_) == (tuned_at, C)
