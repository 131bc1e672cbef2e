"""Label-error review: the scan job, the suspects list, relabel and confirm."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from labella.service import auth, review
from labella.service.context import ServiceContext
from labella.service.errors import InvalidRequestError, NotFoundError
from labella.service.importing import start_import
from labella.service.labels import current_labels
from labella.store.annotations import Annotation
from labella.store.items import Item
from tests.service.conftest import reviews, wait_jobs, write_csv

FLIP = {"pos": "neg", "neg": "pos"}


def _labelled_project(ctx: ServiceContext, make, tmp_path: Path, admin: auth.UserPublic,  # type: ignore[no-untyped-def]
                      n: int = 160, n_wrong: int = 12) -> tuple[int, dict[int, str], set[int]]:
    """A project whose ``n`` items are all labelled (by the import), ``n_wrong`` of them
    wrongly; returns (project id, true label by item id, ids labelled wrongly)."""
    p = make(strategy="margin")  # plain logistic regression: a quick scan
    data = reviews(n, seed=3)
    wrong_rows = set(range(0, n, n // n_wrong)[:n_wrong])
    rows = [{"text": t, "label": FLIP[lab] if k in wrong_rows else lab}
            for k, (t, lab) in enumerate(data)]
    start_import(ctx, admin, p.id, str(write_csv(tmp_path / "r.csv", rows)))
    wait_jobs(ctx, p.id)
    truth = dict(data)
    wrong_texts = {data[k][0] for k in wrong_rows}
    with ctx.read_session() as s:
        items = list(s.execute(select(Item.id, Item.text).where(Item.project_id == p.id)))
    gold = {i: truth[t] for i, t in items if t is not None}
    wrong = {i for i, t in items if t in wrong_texts}
    assert len(gold) == n and len(wrong) == n_wrong
    return p.id, gold, wrong


def _scan(ctx: ServiceContext, admin: auth.UserPublic, pid: int) -> object:
    job = review.start_scan(ctx, admin, pid)
    info = ctx.jobs.wait(job.id, timeout=120)
    assert info.status == "succeeded", info.error
    return info


def test_scan_finds_wrong_labels_and_answers_leave_the_list(
        ctx: ServiceContext, admin: auth.UserPublic, make_text_project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pid, gold, wrong = _labelled_project(ctx, make_text_project, tmp_path, admin)
    before = review.suspected_errors(ctx, admin, pid)
    assert before.scan_job_id is None and before.items == []  # no scan yet
    _scan(ctx, admin, pid)
    rep = review.suspected_errors(ctx, admin, pid, limit=1000)
    assert rep.n_checked == len(gold) and rep.n_answered == 0
    found = {it.item_id for it in rep.items}
    assert len(found & wrong) >= 0.7 * len(wrong), (len(found & wrong), len(found))
    assert len(found & wrong) >= 0.7 * len(found)  # mostly real errors
    for it in rep.items:
        assert it.given != it.suggested
        if it.item_id in wrong:  # the model's alternative is the true label
            assert it.suggested == [gold[it.item_id]] and it.given == [FLIP[gold[it.item_id]]]
    assert [it.quality for it in rep.items] == sorted(it.quality for it in rep.items)

    # relabel one suspect: a new history row, the loop learns it, it leaves the list
    bad = next(it for it in rep.items if it.item_id in wrong)
    ack = review.review_item(ctx, admin, pid, bad.item_id, action="relabel",
                             labels=gold[bad.item_id])
    assert ack.labels == [gold[bad.item_id]]
    # confirm another: its label stays, with a row saying it was checked
    other = next(it for it in rep.items if it.item_id != bad.item_id)
    review.review_item(ctx, admin, pid, other.item_id, action="confirm")
    with ctx.read_session() as s:
        hist = list(s.scalars(select(Annotation).where(Annotation.item_id == bad.item_id)
                              .order_by(Annotation.id)))
        assert [h.value for h in hist] == [[FLIP[gold[bad.item_id]]], [gold[bad.item_id]]]
        assert hist[-1].meta == {"review": "relabel"}
        cur = current_labels(s, pid, item_ids=[other.item_id])[other.item_id]
        assert cur.labels == other.given
        last = s.get(Annotation, cur.annotation_id)
        assert last is not None and last.meta == {"review": "confirm"}
    st = ctx.loops.state(pid)
    row = st.index.row(bad.item_id)
    assert row is not None and st.label_names[int(st.y[row])] == gold[bad.item_id]
    after = review.suspected_errors(ctx, admin, pid, limit=1000)
    assert after.n_answered == 2
    assert {bad.item_id, other.item_id}.isdisjoint(it.item_id for it in after.items)
    assert len(after.items) == len(rep.items) - 2


def test_review_input_errors(ctx: ServiceContext, admin: auth.UserPublic,
                             make_text_project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pid, gold, _ = _labelled_project(ctx, make_text_project, tmp_path, admin, n=40, n_wrong=2)
    item = next(iter(gold))
    with pytest.raises(InvalidRequestError, match="review action must be one of"):
        review.review_item(ctx, admin, pid, item, action="delete")
    with pytest.raises(InvalidRequestError, match="relabel needs"):
        review.review_item(ctx, admin, pid, item, action="relabel")
    with pytest.raises(InvalidRequestError, match="confirm keeps"):
        review.review_item(ctx, admin, pid, item, action="confirm", labels="pos")
    with pytest.raises(NotFoundError):
        review.review_item(ctx, admin, pid, 10**6, action="confirm")
    with pytest.raises(InvalidRequestError, match="limit must be"):
        review.suspected_errors(ctx, admin, pid, limit=0)
    # a stranger sees no project
    with ctx.session() as s:
        stranger = auth.create_user(s, "stranger", password="another horse")
    with pytest.raises(NotFoundError):
        review.start_scan(ctx, stranger, pid)
    with pytest.raises(NotFoundError):
        review.suspected_errors(ctx, stranger, pid)


def test_scan_with_too_few_labels_fails_clearly(ctx: ServiceContext, admin: auth.UserPublic,
                                                make_text_project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    p = make_text_project()
    data = reviews(30)
    start_import(ctx, admin, p.id, str(write_csv(tmp_path / "r.csv",
                                                 [{"text": t, "label": ""} for t, _ in data])))
    wait_jobs(ctx, p.id)
    job = review.start_scan(ctx, admin, p.id)
    info = ctx.jobs.wait(job.id, timeout=60)
    assert info.status == "failed" and "at least 20 labels" in (info.error or "")
    rep = review.suspected_errors(ctx, admin, p.id)
    assert rep.scan_status == "failed" and rep.items == []
