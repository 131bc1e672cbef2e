"""The dashboard's auto-accept panel: the preview's threshold, measured precision and
interval as the API gives them, then "Accept N items" (confirmed) marks those labels as
model-accepted, in the counts and in the data browser (real Chromium)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from labella.service import auth, auto_accept, labelling, projects
from labella.service.importing import start_import
from labella.service.labels import current_labels
from tests.browser.conftest import LiveServer, screenshot
from tests.service.conftest import reviews, wait_jobs, write_csv

pytestmark = pytest.mark.browser
TIMEOUT = 60_000


def test_auto_accept_with_its_shown_precision(page: Any, live_server: LiveServer,
                                              tmp_path: Path) -> None:
    ctx = live_server.ctx
    with ctx.session() as s:
        admin = auth.get_user(s, username="admin")
        pid = projects.create_project(s, admin, name="easy", task="text", multi_label=False,
                                      labels=["neg", "pos"], featuriser="hashing",
                                      strategy="margin").id
    data = reviews(400, seed=9)
    truth = dict(data)
    start_import(ctx, admin, pid, str(write_csv(tmp_path / "r.csv", [
        {"text": t, "label": lab if i >= 240 else "", "split": "test" if i >= 240 else "train"}
        for i, (t, lab) in enumerate(data)])))
    wait_jobs(ctx, pid)
    for _ in range(4):
        for it in labelling.next_items(ctx, admin, pid, 10):
            labelling.annotate(ctx, admin, pid, it.id, labels=truth[it.text or ""])
        assert ctx.loops.wait_idle(pid, timeout=60)
    pv = auto_accept.preview(ctx, admin, pid, label="pos", target=0.8)
    assert pv.threshold is not None and pv.precision is not None and pv.n_would_accept > 0
    assert pv.low is not None and pv.high is not None

    page.goto(f"{live_server.url}/projects/{pid}")
    page.wait_for_selector("#dashboard[data-loaded=true]")
    page.select_option("#aa-form select[name=label]", "pos")
    page.select_option("#aa-form select[name=target]", "0.8")
    page.click("#aa-preview-button")
    page.wait_for_selector("#aa-accept:not([hidden])", timeout=TIMEOUT)
    assert page.inner_text("#aa-threshold") == f"confidence ≥ {pv.threshold:.3f}"

    def pct(x: float) -> str:
        return f"{100 * x:.1f}%"

    assert page.inner_text("#aa-precision") == (
        f"{pct(pv.precision)} (95 % interval {pct(pv.low)}–{pct(pv.high)}) on "
        f"{pv.n_measured} held-out predictions of pos")
    assert page.inner_text("#aa-count").startswith(f"{pv.n_would_accept} unlabelled item")
    assert f"measured on {pv.n_evaluation} labelled held-out items" in page.inner_text("#aa-message")
    assert page.inner_text("#aa-accept") == f"Accept {pv.n_would_accept} items as pos"
    screenshot(page, "auto-accept-preview")

    dialogs: list[str] = []
    page.once("dialog", lambda d: (dialogs.append(d.message), d.accept()))
    page.click("#aa-accept")
    page.wait_for_selector("#aa-result:has-text('Accepted')", timeout=TIMEOUT)
    assert dialogs and f"Label {pv.n_would_accept} items as pos" in dialogs[0]
    assert page.inner_text("#aa-result").startswith(f"Accepted {pv.n_would_accept} items as pos")
    with ctx.read_session() as s:
        cur = current_labels(s, pid)
    model = [i for i, c in cur.items() if c.source == "model"]
    assert len(model) == pv.n_would_accept and {tuple(cur[i].labels) for i in model} == {("pos",)}
    shown = f"40 labelled by people, {pv.n_would_accept} accepted from the model"
    page.wait_for_selector(f"#stat-sources:has-text('{shown}')", timeout=TIMEOUT)
    screenshot(page, "auto-accept-done")

    # the data browser marks them, and filters them
    page.goto(f"{live_server.url}/projects/{pid}/data?source=model")
    page.wait_for_selector("#items tbody tr")
    assert re.fullmatch(rf"{pv.n_would_accept} items?", page.inner_text("#count"))
    assert page.locator("#items tbody tr .model-accepted").count() == min(pv.n_would_accept, 50)
    page.click(f"#items tbody tr[data-item-id='{model[0]}']")
    page.wait_for_selector("#detail:not([hidden])")
    page.wait_for_selector("#detail-facts:has-text('accepted from the model')", timeout=TIMEOUT)
    assert "accepted the model's pos (auto-accept)" in page.inner_text("#history")
