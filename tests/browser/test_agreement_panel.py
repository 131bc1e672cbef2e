"""The dashboard's agreement table: two annotators answer the same items differently
(real Chromium)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from labella.service import auth, labelling, projects
from labella.service.importing import start_import
from tests.browser.conftest import LiveServer, screenshot
from tests.service.conftest import reviews, wait_jobs, write_csv

pytestmark = pytest.mark.browser
TIMEOUT = 60_000


def test_two_annotators_disagree_and_the_dashboard_shows_the_table(
        page: Any, live_server: LiveServer, tmp_path: Path) -> None:
    ctx = live_server.ctx
    with ctx.session() as s:
        admin = auth.get_user(s, username="admin")
        pid = projects.create_project(s, admin, name="team", task="text", multi_label=False,
                                      labels=["neg", "pos"], featuriser="hashing").id
        ann = [auth.create_user(s, name) for name in ("ann1", "ann2")]
        for u in ann:
            projects.set_member(s, admin, pid, u.username, "annotator")
    truth = dict(reviews(60))
    start_import(ctx, admin, pid, str(write_csv(tmp_path / "pool.csv",
                                                [{"text": t, "label": ""} for t in truth])))
    wait_jobs(ctx, pid)
    items = labelling.next_items(ctx, ann[0], pid, 4)
    for i, it in enumerate(items):
        right = truth[it.text or ""]
        labelling.annotate(ctx, ann[0], pid, it.id, labels=right)
        wrong = "pos" if right == "neg" else "neg"
        labelling.annotate(ctx, ann[1], pid, it.id, labels=right if i < 3 else wrong)

    page.goto(f"{live_server.url}/projects/{pid}")
    page.wait_for_selector("#dashboard[data-loaded=true]")
    page.wait_for_selector("#agreement-table tbody tr[data-user=ann2]", timeout=TIMEOUT)
    assert re.fullmatch(r"Krippendorff's alpha -?\d\.\d\d", page.inner_text("#agreement-alpha"))
    assert "on 4 item(s)" in page.inner_text("#agreement-n")
    cells = page.locator("#agreement-table tbody tr[data-user=ann1] td").all_inner_texts()
    assert cells[0] == "ann1" and cells[1] == "4" and cells[4] == "4"
    assert cells[3].endswith("%")
    screenshot(page, "agreement-panel")
