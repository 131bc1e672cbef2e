"""The review mode for suspected label errors (real Chromium): scan, then keep or fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from labella.service import projects
from labella.service.importing import start_import
from labella.service.labels import current_labels
from labella.store.annotations import Annotation
from tests.browser.conftest import LiveServer, screenshot
from tests.service.conftest import reviews, wait_jobs, write_csv

pytestmark = pytest.mark.browser
FLIP = {"pos": "neg", "neg": "pos"}


def _item_id(page: Any) -> int:
    return int(page.get_attribute("#item", "data-item-id"))


def _next(page: Any, before: int) -> None:
    page.wait_for_function(
        "b => { const e = document.querySelector('#item'); return e.hidden || e.dataset.itemId !== b; }",
        arg=str(before))


def test_review_suspected_errors(page: Any, live_server: LiveServer, tmp_path: Path) -> None:
    ctx = live_server.ctx
    with ctx.session() as s:
        p = projects.create_project(s, live_server.admin, name="Noisy", task="text", multi_label=False,
                                    labels=["neg", "pos"], featuriser="hashing",
                                    strategy="margin")
    data = reviews(120, seed=8)
    wrong = {t for t, _ in data[::12]}
    rows = [{"text": t, "label": FLIP[lab] if t in wrong else lab} for t, lab in data]
    start_import(ctx, live_server.admin, p.id, str(write_csv(tmp_path / "r.csv", rows)))
    wait_jobs(ctx, p.id)
    truth = dict(data)

    page.goto(f"{live_server.url}/projects/{p.id}/label")
    page.click("#review-link")
    page.wait_for_selector("#scan-status:has-text('No scan yet')")
    assert page.is_visible("#empty")
    page.click("#scan")
    page.wait_for_selector("#item[data-item-id]", timeout=60_000)
    assert "suspected among 120 labels" in page.inner_text("#scan-status")
    first = _item_id(page)
    text = page.inner_text("#item-text")
    given = page.inner_text("#given")
    alt = page.inner_text("#alternative")
    assert FLIP[truth[text]] in given or truth[text] in given
    assert "%" in alt
    screenshot(page, "review-suspect")
    # Enter takes the model's label: a new history row, the item leaves the list
    suggested = "pos" if "pos" in alt.split("suggests")[-1] else "neg"
    page.keyboard.press("Enter")
    _next(page, str(first))
    with ctx.read_session() as s:
        assert current_labels(s, p.id, item_ids=[first])[first].labels == [suggested]
        last = s.scalars(select(Annotation).where(Annotation.item_id == first)
                         .order_by(Annotation.id.desc())).first()
        assert last is not None and last.meta == {"review": "relabel"}
    # K keeps the label of the next one
    if page.is_visible("#item"):
        second = _item_id(page)
        with ctx.read_session() as s:
            before = current_labels(s, p.id, item_ids=[second])[second]
        page.keyboard.press("k")
        _next(page, str(second))
        with ctx.read_session() as s:
            after = current_labels(s, p.id, item_ids=[second])[second]
        assert after.labels == before.labels and after.annotation_id > before.annotation_id
        assert "2 answered" in page.inner_text("#scan-status") or page.is_visible("#empty")
