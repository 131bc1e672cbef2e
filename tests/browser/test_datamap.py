"""The data map (Chromium): the job runs from the page, the points are drawn, a real mouse
lasso selects a region, "queue for me" -> the labelling view serves a lassoed item, and the
data browser shows the region's items."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labella.service.datamap import items_in_region, parse_region
from tests.browser.conftest import LiveServer, screenshot
from tests.browser.test_labelling import _open, _review_project

PLOT_BOX = """() => {
  const gd = document.getElementById('map-plot'), r = gd.getBoundingClientRect(), s = gd._fullLayout._size;
  return { left: r.left + s.l, top: r.top + s.t, width: s.w, height: s.h };
}"""


def test_lasso_on_the_map_queues_and_browses_the_region(page: Any, live_server: LiveServer,
                                                         tmp_path: Path) -> None:
    pid, _truth = _review_project(live_server, tmp_path, n=150)
    page.goto(f"{live_server.url}/projects/{pid}/map")
    # the page starts the map job itself, shows its progress, then draws the points
    page.wait_for_function("() => document.querySelector('#map-note').textContent"
                           ".startsWith('150 items, UMAP')", timeout=120_000)
    assert page.locator("#map-plot .legendtext").count() == 1  # nothing labelled yet
    page.select_option("#colour-by", "split")
    page.wait_for_function("() => document.querySelector('#map-plot .legendtext')"
                           ".textContent.startsWith('pool')")

    # a real mouse lasso around the left half of the plot
    box = page.evaluate(PLOT_BOX)
    left, top, w, h = box["left"], box["top"], box["width"], box["height"]
    corners = [(left + 4, top + 4), (left + w * 0.5, top + 4), (left + w * 0.5, top + h - 4),
               (left + 4, top + h - 4), (left + 4, top + 8)]
    page.mouse.move(*corners[0])
    page.mouse.down()
    for x, y in corners[1:]:
        page.mouse.move(x, y, steps=12)
    page.mouse.up()
    page.wait_for_selector("#selection:not([hidden])")
    href = page.get_attribute("#selection-browse", "href")
    region = href.split("region=", 1)[1]
    from urllib.parse import unquote

    inside = set(items_in_region(live_server.ctx, pid, parse_region(unquote(region))).tolist())
    assert 0 < len(inside) < 150
    assert page.inner_text("#selection-info").startswith(f"{len(inside)} points selected")
    screenshot(page, "data-map-lasso")

    # queue for me: the labelling view serves one of the lassoed items first
    page.click("#selection-queue")
    page.wait_for_selector("#label-now")
    queued = live_server.ctx.loops.pins.get(pid, live_server.admin.id)
    assert queued and set(queued) <= inside
    assert _open(page, live_server, pid) in inside

    # the data browser, filtered by the region: every item inside it
    page.goto(f"{live_server.url}{href}")
    page.wait_for_selector("#region-filter")
    page.wait_for_function("n => document.querySelector('#count').textContent.includes(String(n))",
                           arg=len(inside))
    shown = {int(x) for x in page.eval_on_selector_all(
        "#items tbody tr", "rows => rows.map(r => r.dataset.itemId)")}
    assert shown and shown <= inside
