"""Similarity search in the data browser (Chromium): search by meaning, more like this,
bulk label, and queue -> the queued item is the next one the labelling view shows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.browser.conftest import LiveServer, screenshot
from tests.browser.test_labelling import _labels, _open, _review_project


def _hit_ids(page: Any) -> list[int]:
    return [int(x) for x in page.eval_on_selector_all(
        "#similar-table tbody tr", "rows => rows.map(r => r.dataset.itemId)")]


def test_search_label_and_queue_then_the_item_is_served_next(
        page: Any, live_server: LiveServer, tmp_path: Path) -> None:
    pid, _truth = _review_project(live_server, tmp_path, n=200)
    page.goto(f"{live_server.url}/projects/{pid}/data")
    page.wait_for_selector("#items tbody tr")

    # search by meaning
    page.fill("#similar-q", "the battery life is great")
    page.fill("#similar-k", "15")
    page.click("#similar-form button[type=submit]")
    page.wait_for_selector("#similar-table tbody tr")
    hits = _hit_ids(page)
    assert len(hits) == 15 and len(set(hits)) == 15
    assert "Closest to" in page.inner_text("#similar-hint")
    scores = [float(s) for s in page.eval_on_selector_all(
        "#similar-table tbody td.num", "tds => tds.map(t => t.textContent)")]
    assert scores == sorted(scores, reverse=True)

    # label the top two in bulk
    page.eval_on_selector_all("#similar-table input.pick", "cs => cs.forEach(c => c.checked = false)")
    for item_id in hits[:2]:
        page.check(f"#similar-table input.pick[data-item-id='{item_id}']")
    page.select_option("#similar-label", "positive")
    page.click("#similar-apply")
    page.wait_for_function("() => document.querySelector('#similar-status').textContent"
                           ".startsWith('labelled 2')")
    labels = _labels(live_server, pid)
    assert labels[hits[0]] == ["positive"] and labels[hits[1]] == ["positive"]

    # queue the least similar result for myself
    wanted = hits[-1]
    page.eval_on_selector_all("#similar-table input.pick", "cs => cs.forEach(c => c.checked = false)")
    page.check(f"#similar-table input.pick[data-item-id='{wanted}']")
    page.click("#similar-queue")
    page.wait_for_selector("#similar-go", state="visible")
    assert "queued 1" in page.inner_text("#similar-status")

    # more like this, from an item's details
    first = int(page.get_attribute("#items tbody tr", "data-item-id"))
    page.click(f"#items tbody tr[data-item-id='{first}']")
    page.wait_for_selector("#detail:not([hidden])")
    page.click("#more-like-this")
    page.wait_for_function("id => document.querySelector('#similar-hint').textContent"
                           ".startsWith(`More like item ${id}`)", arg=first)
    like = _hit_ids(page)
    assert len(like) == 15 and first not in like
    screenshot(page, "similar-search")

    # the labelling view serves the queued item first
    shown = _open(page, live_server, pid)
    assert shown == wanted
    # its "More like this" opens the data browser's search for the item on screen
    href = page.get_attribute("#more-like-this", "href")
    assert href == f"/projects/{pid}/data?similar={wanted}"
    page.goto(f"{live_server.url}{href}")
    page.wait_for_function("id => document.querySelector('#similar-hint').textContent"
                           ".startsWith(`More like item ${id}`)", arg=wanted)
    assert wanted not in _hit_ids(page) and len(_hit_ids(page)) == 20  # the default k
