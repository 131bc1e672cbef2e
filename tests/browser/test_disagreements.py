"""The reviewer resolves the annotators' disagreements in the review queue and freezes a
dataset version; the dashboard shows the agreement table (real Chromium)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from labella.service import auth, labelling, projects
from labella.service.importing import start_import
from labella.service.labels import current_labels
from tests.browser.conftest import PASSWORD, LiveServer, screenshot, sign_in
from tests.service.conftest import reviews, wait_jobs, write_csv

pytestmark = pytest.mark.browser
TIMEOUT = 60_000


def test_reviewer_resolves_disagreements_in_the_queue(page: Any, live_server: LiveServer,
                                                      tmp_path: Path) -> None:
    ctx = live_server.ctx
    with ctx.session() as s:
        admin = auth.get_user(s, username="admin")
        pid = projects.create_project(s, admin, name="team", task="text", multi_label=False,
                                      labels=["neg", "pos"], featuriser="hashing").id
        ann = [auth.create_user(s, name) for name in ("ann1", "ann2")]
        for u in ann:
            projects.set_member(s, admin, pid, u.username, "annotator")
        auth.create_user(s, "rev", password=PASSWORD)
        projects.set_member(s, admin, pid, "rev", "reviewer")
    truth = dict(reviews(60))
    start_import(ctx, admin, pid, str(write_csv(tmp_path / "pool.csv",
                                                [{"text": t, "label": ""} for t in truth])))
    wait_jobs(ctx, pid)
    items = [it.id for it in labelling.next_items(ctx, ann[0], pid, 3)]
    for item_id, a, b in zip(items, ["neg", "neg", "pos"], ["pos", "neg", "neg"], strict=True):
        labelling.annotate(ctx, ann[0], pid, item_id, labels=a)
        labelling.annotate(ctx, ann[1], pid, item_id, labels=b)
    disputed = [items[0], items[2]]

    page.context.clear_cookies()
    sign_in(page, live_server.url, "rev")
    page.goto(f"{live_server.url}/projects/{pid}")
    page.wait_for_selector("#dashboard[data-loaded=true]")
    page.wait_for_selector("#agreement-table tbody tr[data-user=ann2]", timeout=TIMEOUT)
    cells = page.locator("#agreement-table tbody tr[data-user=ann1] td").all_inner_texts()
    assert cells[0] == "ann1" and cells[1] == "3" and cells[4] == "3"
    page.click("#review-disagreements")

    page.wait_for_selector("#item:not([hidden])", timeout=TIMEOUT)
    assert "2 to review" in page.inner_text("#queue-status")
    assert page.get_attribute("#item", "data-item-id") == str(disputed[0])
    assert page.locator("#answers-list li").all_text_contents() == ["ann1 neg", "ann2 pos"]
    assert "neg" in page.inner_text("#majority")  # a tie goes to the first label
    page.keyboard.press("2")  # the reviewer picks pos
    page.wait_for_selector(f"#item[data-item-id='{disputed[1]}']", timeout=TIMEOUT)
    page.click("#choices button[data-label=pos]")
    page.wait_for_selector("#empty:not([hidden])", timeout=TIMEOUT)
    assert "0 to review · 2 reviewed" in page.inner_text("#queue-status")
    with ctx.read_session() as s:
        cur = current_labels(s, pid, item_ids=items)
    assert [cur[i].labels for i in items] == [["pos"], ["neg"], ["pos"]]
    assert {cur[i].user_id for i in disputed} == {auth.get_user(s, username="rev").id}

    page.goto(f"{live_server.url}/projects/{pid}")
    page.fill("#freeze-form input[name=name]", "reviewed-1")
    page.click("#freeze-form button")
    page.wait_for_selector("#versions-table tr[data-version=reviewed-1] td.since:text('unchanged')",
                           timeout=TIMEOUT)
    row = page.locator("#versions-table tr[data-version=reviewed-1] td").all_inner_texts()
    assert row[1] == "3" and row[2] == "neg 1, pos 2"
    screenshot(page, "disagreements-reviewed")
