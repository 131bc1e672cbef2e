"""A project's loop state replaced while annotators work: nothing they do is lost.

A reload (after an import or a featurisation) reads the database and refits in the
background while the old state keeps serving; annotations, skips and leases made
meanwhile must reach the new state. A settings change is taken in place and never waits
for a refit. The refit of the replacement is held at a gate here, so the window in which
annotators work is certain, not a matter of timing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from labella.service import auth, labelling, metrics, projects
from labella.service import loops as loop_module
from labella.service.context import ServiceContext
from labella.service.importing import start_import
from labella.store.annotations import Annotation
from labella.store.items import Item
from tests.service.conftest import reviews, wait_jobs, write_csv

GATED = "gated-reload"


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[threading.Event, threading.Event]]:
    """``(entered, release)``: a refit on a thread named ``GATED`` or on a job worker's
    thread (an import's featurisation reloads there) signals ``entered`` and waits for
    ``release`` before it runs (the real refit)."""
    entered, release = threading.Event(), threading.Event()
    real = loop_module.refit

    def gated(snap: Any) -> Any:
        name = threading.current_thread().name
        if name == GATED or name.startswith("labella-jobs-"):
            entered.set()
            assert release.wait(30), "the test never opened the gate"
        return real(snap)

    monkeypatch.setattr(loop_module, "refit", gated)
    yield entered, release
    release.set()


def _pool(ctx: ServiceContext, admin: auth.UserPublic, make: Callable[..., Any], tmp_path: Path,
          n: int = 120) -> tuple[projects.ProjectPublic, dict[str, str]]:
    p = make()
    data = reviews(n)
    start_import(ctx, admin, p.id, str(write_csv(tmp_path / "pool.csv",
                                                 [{"text": t, "label": ""} for t, _ in data])))
    wait_jobs(ctx, p.id)
    return p, dict(data)


def _annotator(ctx: ServiceContext, project_id: int, name: str) -> auth.UserPublic:
    with ctx.session() as s:
        u = auth.create_user(s, name, password="pw-" + name * 3)
        auth.set_member(s, project_id, u.id, "annotator")
    return u


def _reload_behind_gate(ctx: ServiceContext, project_id: int,
                        entered: threading.Event) -> threading.Thread:
    t = threading.Thread(target=ctx.loops.reload, args=(project_id,), name=GATED)
    t.start()
    assert entered.wait(30), "the reload never reached its refit"
    return t


def test_annotations_made_during_a_reload_reach_the_new_state(
        ctx: ServiceContext, admin: auth.UserPublic, make_text_project: Callable[..., Any],
        tmp_path: Path, gate: tuple[threading.Event, threading.Event]) -> None:
    p, truth = _pool(ctx, admin, make_text_project, tmp_path, n=110)  # fewer free items than next?n=100
    bob = _annotator(ctx, p.id, "bob")
    first = labelling.next_items(ctx, admin, p.id, 10)
    for it in first:
        labelling.annotate(ctx, admin, p.id, it.id, labels=truth[it.text or ""])
    assert ctx.loops.wait_idle(p.id)
    old = ctx.loops.state(p.id)
    entered, release = gate

    t = _reload_behind_gate(ctx, p.id, entered)
    # meanwhile: labels, a skip, an undo, and items another annotator holds
    during = labelling.next_items(ctx, admin, p.id, 6)
    for it in during[:4]:
        labelling.annotate(ctx, admin, p.id, it.id, labels=truth[it.text or ""])
    labelling.skip(ctx, admin, p.id, during[4].id)
    labelling.undo(ctx, admin, p.id, first[0].id)
    held = {i.id for i in labelling.next_items(ctx, bob, p.id, 5)}
    release.set()
    t.join(30)

    new = ctx.loops.state(p.id)
    assert new is not old and old.successor is new
    with ctx.session() as s:
        in_db = s.scalar(select(func.count(func.distinct(Annotation.item_id))).where(
            Annotation.project_id == p.id, Annotation.action == "label"))
    assert in_db == 14
    assert new.n_labeled == 13 == metrics.project_metrics(ctx, admin, p.id)["n_labeled"]
    served = {i.id for i in labelling.next_items(ctx, admin, p.id, 100)}
    labelled_now = {it.id for it in first[1:]} | {it.id for it in during[:4]}
    assert not served & labelled_now, "an item labelled during the reload was served again"
    assert during[4].id not in served, "a skip made during the reload was forgotten"
    assert first[0].id in served or first[0].id in held, "the undone item is not back in the pool"
    assert not served & held, "items another annotator holds were handed out"
    # annotating after the swap goes to the new state
    after = labelling.annotate(ctx, admin, p.id, first[0].id, labels=truth[first[0].text or ""])
    assert after.n_labeled == 14 == ctx.loops.state(p.id).n_labeled


def test_an_import_during_labelling_loses_no_label(
        ctx: ServiceContext, admin: auth.UserPublic, make_text_project: Callable[..., Any],
        tmp_path: Path, gate: tuple[threading.Event, threading.Event]) -> None:
    """The real path: an import's featurisation job reloads the state."""
    p, truth = _pool(ctx, admin, make_text_project, tmp_path)
    labelling.next_items(ctx, admin, p.id, 1)
    assert ctx.loops.wait_idle(p.id)
    entered, release = gate
    more = reviews(40, seed=7)
    start_import(ctx, admin, p.id, str(write_csv(tmp_path / "more.csv",
                                                 [{"text": t, "label": ""} for t, _ in more])))
    assert entered.wait(60), "the featurisation never reloaded the loop"
    items = labelling.next_items(ctx, admin, p.id, 8)
    for it in items:
        labelling.annotate(ctx, admin, p.id, it.id, labels=truth[it.text or ""])
    release.set()
    wait_jobs(ctx, p.id)
    st = ctx.loops.state(p.id)
    assert st.n_labeled == 8 and len(st.index) == 160
    assert not {i.id for i in items} & {i.id for i in labelling.next_items(ctx, admin, p.id, 100)}


def test_a_settings_change_is_taken_at_once_and_refitted_in_the_background(
        ctx: ServiceContext, admin: auth.UserPublic, make_text_project: Callable[..., Any],
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p, truth = _pool(ctx, admin, make_text_project, tmp_path)
    for it in labelling.next_items(ctx, admin, p.id, 12):
        labelling.annotate(ctx, admin, p.id, it.id, labels=truth[it.text or ""])
    assert ctx.loops.wait_idle(p.id)
    release = threading.Event()
    real = loop_module.refit

    def held(snap: Any) -> Any:  # every refit waits: a request that waited would hang here
        assert release.wait(30)
        return real(snap)

    monkeypatch.setattr(loop_module, "refit", held)
    with ctx.session() as s:
        projects.update_project(s, admin, p.id, strategy="entropy", settings={"batch_size": 5})
    assert ctx.loops.apply_settings(p.id) is True  # returns with the refit still held
    st = ctx.loops.state(p.id)
    assert st.pipeline.strategy == "entropy" and st.settings["batch_size"] == 5
    m = metrics.project_metrics(ctx, admin, p.id)
    assert m["refit_pending"] is True
    items = labelling.next_items(ctx, admin, p.id, 3)  # labelling goes on meanwhile
    assert len(items) == 3
    release.set()
    assert ctx.loops.wait_idle(p.id)
    assert metrics.project_metrics(ctx, admin, p.id)["refit_pending"] is False
    assert labelling.next_items(ctx, admin, p.id, 1)[0].reason.strategy == "entropy"
    with ctx.session() as s:
        assert s.scalar(select(func.count()).select_from(Item)) == 120
