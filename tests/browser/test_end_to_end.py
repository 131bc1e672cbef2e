"""End to end in a real browser: a text single-label and an image multi-label project are
created through the wizard from real datasets, 20 items are labelled with the keyboard alone,
undo brings the last item back, the dashboard's charts render, the data browser shows the
history, and an export downloads a file that parses.

The datasets folder is ``$LABELLA_DATASETS`` (default: the nearest ``shared/datasets`` beside the checkout); the tests
skip when it is missing.
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from labella.datafiles import shared_datasets_dir
from tests.browser.conftest import LiveServer, screenshot, sign_in

DATASETS = shared_datasets_dir()
N_LABELS = 20
TIMEOUT = 60_000  # ms, for imports and featurisation on a busy machine


@dataclass
class Dataset:
    path: Path
    labels: list[str]
    truth: dict[str, list[str]]
    """Text (or image file name) -> its true labels, for every row."""
    n_rows: int
    n_test: int
    n_bad: int = 0


def _sentiment_csv(tmp: Path, *, n_pool: int = 240, n_test: int = 60) -> Dataset:
    src = DATASETS / "sentiment_cr" / "data.csv"
    if not src.exists():
        pytest.skip(f"{src} not found (set LABELLA_DATASETS)")
    with src.open(newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["text"].strip()]
    rows = random.Random(0).sample(rows, n_pool + n_test)
    dest = tmp / "reviews.csv"
    with dest.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label", "split"])
        for i, r in enumerate(rows):  # pool rows lose their label; test rows keep it
            w.writerow([r["text"], r["label"] if i < n_test else "", "test" if i < n_test else "train"])
        w.writerow(["a row with a split nobody knows", "", "somewhere"])  # two bad rows,
        w.writerow(["", "", "train"])  # reported by the import while the good ones land
    truth = {" ".join(r["text"].split()): [r["label"]] for r in rows}
    return Dataset(dest, sorted({r["label"] for r in rows}), truth, len(rows), n_test, n_bad=2)


def _tiles_zip(tmp: Path, *, n: int = 200) -> Dataset:
    src = DATASETS / "images_sign_language_digits" / "images"
    if not src.exists():
        pytest.skip(f"{src} not found (set LABELLA_DATASETS)")
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    try:
        from make_tiled_images import make_tiled
    finally:
        sys.path.pop(0)
    # nine digits, so that keys 1-9 reach every label (the labelling view has no key for a tenth)
    nine = tmp / "digits"
    nine.mkdir()
    for d in sorted(p for p in src.iterdir() if p.is_dir())[:9]:
        (nine / d.name).symlink_to(d, target_is_directory=True)
    out = tmp / "tiles"
    tiles = make_tiled(out, n=n, seed=0, source=nine)
    dest = tmp / "tiles.zip"
    with zipfile.ZipFile(dest, "w") as z:
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["filename", "labels", "split"])
        for t in tiles:  # every tile keeps its labels: the wizard lands only the test ones
            w.writerow([t.filename, "|".join(t.labels), t.split])
            z.write(out / t.filename, t.filename)
        z.writestr("labels.csv", buf.getvalue())
    truth = {Path(t.filename).name: t.labels for t in tiles}
    names = {lab for t in tiles for lab in t.labels}
    return Dataset(dest, sorted(names, key=int), truth, len(tiles),
                   sum(t.split == "test" for t in tiles))


# -- steps ----------------------------------------------------------------------------------------


def _wizard(page: Any, server: LiveServer, data: Dataset, *, name: str, task_type: str,
            featuriser: str, shot: str, import_labels: str = "all") -> int:
    """Create a project through the wizard from an uploaded file; returns its id."""
    page.goto(f"{server.url}/")
    page.click("#new-project")
    page.wait_for_url(f"{server.url}/projects/new")
    page.fill("input[name=name]", name)
    page.check(f"input[name=task_type][value='{task_type}']")
    page.click("#next")
    page.set_input_files("input[name=file]", str(data.path))
    assert page.input_value("select[name=import_labels]") == "all"
    page.select_option("select[name=import_labels]", import_labels)
    page.click("#next")
    # the label names are read from the file itself
    page.wait_for_function("() => document.querySelector('#labels-input').value.trim() !== ''")
    assert page.input_value("#labels-input").split("\n") == data.labels
    assert page.locator("#labels-preview .chip").count() == len(data.labels)
    screenshot(page, f"{shot}-wizard-labels")
    page.click("#next")
    assert page.input_value("select[name=strategy]") == "labella"
    assert page.input_value("select[name=head]") == "tuned_logistic_regression"
    assert page.locator("[data-explains=strategy]").inner_text().startswith("Labella's measured default")
    page.select_option("select[name=featuriser]", featuriser)
    assert page.locator("[data-explains=featuriser]").inner_text()
    screenshot(page, f"{shot}-wizard-model")
    page.click("#next")
    assert page.input_value("input[name=batch_size]") == "10"
    screenshot(page, f"{shot}-wizard")
    page.click("#create")
    page.wait_for_selector("#done:not([hidden])", timeout=TIMEOUT)
    counts = page.inner_text("#report-counts")
    assert f"{data.n_rows} items added" in counts
    assert f"{data.n_test} held out" in counts
    if data.n_bad:
        assert f"{data.n_bad} bad rows" in counts
        assert page.locator("#bad-rows tbody tr").count() == data.n_bad
        assert "split" in page.inner_text("#bad-rows tbody")
    else:
        assert "no bad rows" in counts
    assert f"{data.n_test} came with labels" in counts  # the pool is labelled here
    assert page.get_attribute("#job-featurise", "data-status") == "succeeded"
    screenshot(page, f"{shot}-import")
    href = page.get_attribute("#go-dashboard", "href")
    assert href is not None
    return int(href.rsplit("/", 1)[1])


def _metrics(page: Any, server: LiveServer, pid: int) -> dict[str, Any]:
    r = page.request.get(f"{server.url}/api/projects/{pid}/metrics")
    assert r.ok, r.text()
    return dict(r.json())


def _wait_labeled(page: Any, server: LiveServer, pid: int, n: int) -> None:
    """Wait until the server counts ``n`` labels in the pool (answers are sent in the background)."""
    for _ in range(200):
        if _metrics(page, server, pid)["n_labeled"] == n:
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"the server never counted {n} labels; it has "
                         f"{_metrics(page, server, pid)['n_labeled']}")


def _current_item(page: Any) -> str:
    page.wait_for_selector("#item[data-item-id]")
    value = page.get_attribute("#item", "data-item-id")
    assert value
    return str(value)


def _next_item(page: Any, previous: str) -> str:
    page.wait_for_function(
        "prev => { const e = document.querySelector('#item[data-item-id]');"
        " return e && e.dataset.itemId !== prev; }", arg=previous)
    return _current_item(page)


def _truth_of_item(page: Any, server: LiveServer, pid: int, item_id: str, data: Dataset,
                   task: str) -> list[str]:
    if task == "text":
        return data.truth[" ".join(page.inner_text("#item-text").split())]
    r = page.request.get(f"{server.url}/api/projects/{pid}/items/{item_id}")
    return data.truth[Path(r.json()["image_name"]).name]


def _label_with_keyboard(page: Any, server: LiveServer, pid: int, data: Dataset, *,
                         multi: bool, task: str, shot: str) -> list[str]:
    """Label ``N_LABELS`` items with key presses only; returns their ids in order."""
    page.goto(f"{server.url}/projects/{pid}/label")
    keys = [b.get_attribute("data-label") for b in page.locator("#choices button[data-label]").all()]
    assert keys == data.labels
    # each label's key as the page shows it (a label named "1" is on the key 1)
    key_of = {b.get_attribute("data-label"): b.get_attribute("data-key")
              for b in page.locator("#choices button[data-key]").all()}
    assert len(key_of) == len(keys)
    done: list[str] = []
    current = _current_item(page)
    for i in range(N_LABELS):
        truth = _truth_of_item(page, server, pid, current, data, task)
        if multi:
            for name in keys:  # the suggestion starts on: toggle what differs
                on = page.get_attribute(f"#choices button[data-label='{name}']", "aria-pressed") == "true"
                if on != (name in truth):
                    page.keyboard.press(key_of[name])
                    page.wait_for_function(
                        "([n, v]) => document.querySelector(`#choices button[data-label='${n}']`)"
                        ".getAttribute('aria-pressed') === v", arg=[name, str(name in truth).lower()])
            if i == 3:
                screenshot(page, f"{shot}-label")
            page.keyboard.press("Enter")
        else:
            if i == 3:
                screenshot(page, f"{shot}-label")
            page.keyboard.press(key_of[truth[0]])
        done.append(current)
        current = _next_item(page, current)
    _wait_labeled(page, server, pid, N_LABELS)
    # the server commits before its reply reaches the page: wait for the last ack to land
    page.wait_for_function("n => document.querySelector('#progress-labels').textContent.trim() === n",
                           arg=str(N_LABELS), timeout=10_000)
    # undo: the last item comes back and the server's count drops by one
    page.keyboard.press("u")
    page.wait_for_function("id => document.querySelector('#item')?.dataset.itemId === id",
                           arg=done[-1])
    _wait_labeled(page, server, pid, N_LABELS - 1)
    screenshot(page, f"{shot}-undo")
    # label it again, so the project ends with N_LABELS labels
    truth = _truth_of_item(page, server, pid, done[-1], data, task)
    if multi:
        for k, name in enumerate(keys):
            on = page.get_attribute(f"#choices button[data-label='{name}']", "aria-pressed") == "true"
            if on != (name in truth) and k < 9:
                page.keyboard.press(str(k + 1))
        page.keyboard.press("Enter")
    else:
        page.keyboard.press(str(keys.index(truth[0]) + 1))
    _next_item(page, done[-1])
    _wait_labeled(page, server, pid, N_LABELS)
    return done


def _dashboard(page: Any, server: LiveServer, pid: int, *, multi: bool, shot: str) -> None:
    page.locator(f"header a[href='/projects/{pid}']").first.click()  # from the labelling view
    page.wait_for_url(f"{server.url}/projects/{pid}")
    second = "#chart-per-label" if multi else "#chart-confusion"
    for chart in ("#chart-curve", second, "#chart-per-class", "#chart-labels"):
        page.wait_for_selector(f"{chart}.js-plotly-plot .main-svg", timeout=TIMEOUT)
    # with the held-out labels, the model is scored: a learning curve and real per-class numbers
    page.wait_for_function("() => Number(document.querySelector('#chart-curve').dataset.points) >= 1",
                           timeout=TIMEOUT)
    page.wait_for_function(f"() => Number(document.querySelector('{second}').dataset.points) >= 1",
                           timeout=TIMEOUT)
    assert page.inner_text("#stat-labeled") == str(N_LABELS)
    assert re.fullmatch(r"\d+(\.\d)?%", page.inner_text("#stat-score"))
    assert "held-out" in page.inner_text("#stat-source")
    assert page.inner_text("#stop-reason").strip()
    assert page.locator("#per-class-table tbody tr").count() >= 2
    assert page.locator("#job-list .job[data-status=succeeded]").count() >= 2  # import, featurise
    # the live audit's panel: an estimate or, this early, how many audit labels it needs
    page.wait_for_function("() => document.querySelector('#audit-reason').textContent.includes('audit')",
                           timeout=TIMEOUT)
    screenshot(page, f"{shot}-dashboard")


def _data_browser(page: Any, server: LiveServer, pid: int, labeled: list[str], shot: str) -> None:
    page.click("nav.project-nav a[data-tab=data]")
    page.wait_for_selector("#items tbody tr")
    assert page.locator("#items tbody tr").count() == 50  # one page
    page.select_option("select[name=split]", "pool")
    page.select_option("select[name=label]", "__unlabeled__")
    page.wait_for_function("() => document.querySelector('#count').textContent.startsWith('"
                           f"{_metrics(page, server, pid)['n_pool'] - N_LABELS} item')")
    page.select_option("select[name=label]", "")
    page.select_option("select[name=sort]", "confidence")
    page.wait_for_url(re.compile(r".*sort=confidence.*"))
    # open one labelled item: its history says who labelled it
    page.goto(f"{server.url}/projects/{pid}/data?item={labeled[0]}&annotator=admin&split=pool")
    page.wait_for_selector(f"#detail:not([hidden])[data-item-id='{labeled[0]}']")
    page.wait_for_selector("#history tbody tr td")
    assert page.locator("#items tbody tr").count() == N_LABELS
    assert "admin" in page.inner_text("#history")
    assert page.locator("#relabel button[aria-pressed=true]").count() >= 1
    screenshot(page, f"{shot}-data")


def _export(page: Any, server: LiveServer, pid: int, fmt: str, shot: str) -> bytes:
    if "/settings" not in page.url:
        page.click("nav.project-nav a[data-tab=settings]")
        page.wait_for_selector("#settings-form")
    with page.expect_download() as info:
        page.click(f"button[data-export={fmt}]")
    download = info.value
    path = download.path()
    assert path is not None
    page.wait_for_selector("#export-status:has-text('Downloaded')")
    screenshot(page, f"{shot}-settings")
    return Path(path).read_bytes()


# -- the two projects ------------------------------------------------------------------------------


def test_text_single_label_project_end_to_end(page: Any, live_server: LiveServer,
                                              tmp_path: Path) -> None:
    data = _sentiment_csv(tmp_path)
    pid = _wizard(page, live_server, data, name="Customer reviews", task_type="text:single",
                  featuriser="hashing", shot="e2e-text")
    labeled = _label_with_keyboard(page, live_server, pid, data, multi=False, task="text",
                                   shot="e2e-text")
    _dashboard(page, live_server, pid, multi=False, shot="e2e-text")
    _data_browser(page, live_server, pid, labeled, shot="e2e-text")
    body = _export(page, live_server, pid, "csv", shot="e2e-text")
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8"))))
    assert len(rows) == N_LABELS + data.n_test
    assert {r["label"] for r in rows} <= set(data.labels)
    mine = [r for r in rows if r["split"] == "train"]  # the pool; test rows came labelled
    assert len(mine) == N_LABELS
    assert all(r["annotator"] == "admin" for r in mine)
    assert all(data.truth[" ".join(r["text"].split())] == [r["label"]] for r in mine)
    model = zipfile.ZipFile(io.BytesIO(_export(page, live_server, pid, "model", shot="e2e-text")))
    assert {"head.json", "head.npz"} <= {Path(n).name for n in model.namelist()}


def test_image_multi_label_project_end_to_end(page: Any, live_server: LiveServer,
                                              tmp_path: Path) -> None:
    data = _tiles_zip(tmp_path)
    pid = _wizard(page, live_server, data, name="Digit tiles", task_type="image:multi",
                  featuriser="pixels", shot="e2e-image", import_labels="evaluation")
    labeled = _label_with_keyboard(page, live_server, pid, data, multi=True, task="image",
                                   shot="e2e-image")
    _dashboard(page, live_server, pid, multi=True, shot="e2e-image")
    _data_browser(page, live_server, pid, labeled, shot="e2e-image")
    body = _export(page, live_server, pid, "jsonl", shot="e2e-image")
    records = [json.loads(line) for line in body.decode("utf-8").splitlines() if line.strip()]
    assert len(records) == N_LABELS + data.n_test
    mine = [r for r in records if r["split"] == "train"]  # the pool; test rows came labelled
    assert len(mine) == N_LABELS
    for r in mine:
        assert r["annotator"] == "admin"
        assert sorted(r["labels"], key=int) == data.truth[Path(r["image"]).name]
    hf = zipfile.ZipFile(io.BytesIO(_export(page, live_server, pid, "hf", shot="e2e-image")))
    assert any(n.endswith(".parquet") for n in hf.namelist())


def _small_text_project(server: LiveServer, tmp: Path, data: Dataset) -> int:
    """A project made through the service (not the wizard), its import finished."""
    from labella.service import projects
    from labella.service.importing import start_import

    with server.ctx.session() as s:
        p = projects.create_project(s, server.admin, name="Reviews", task="text",
                                    multi_label=False, labels=data.labels, featuriser="hashing")
    start_import(server.ctx, server.admin, p.id, str(data.path))
    for _ in range(600):
        jobs = server.ctx.jobs.list(project_id=p.id)
        if len(jobs) == 2 and all(j.status == "succeeded" for j in jobs):
            return p.id
        assert not any(j.status in ("failed", "cancelled") for j in jobs), jobs
        import time

        time.sleep(0.1)
    raise AssertionError("the import did not finish")


@pytest.fixture
def page_expecting_4xx(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    """Like the ``page`` fixture, but the browser's own log lines for the 4xx answers this test
    provokes are expected; any other console error still fails the test."""

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    expected = re.compile(r"Failed to load resource: the server responded with a status of 4\d\d")
    pg.on("console", lambda m: errors.append(m.text)
          if m.type == "error" and not expected.search(m.text) else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(pg, live_server.url)
    yield pg
    context.close()
    assert not errors, f"errors in the browser console: {errors}"


def test_settings_members_relabel_and_wizard_errors(page_expecting_4xx: Any,
                                                    live_server: LiveServer,
                                                    tmp_path: Path) -> None:
    from labella.service import auth

    page = page_expecting_4xx
    data = _sentiment_csv(tmp_path, n_pool=40, n_test=20)
    pid = _small_text_project(live_server, tmp_path, data)
    with live_server.ctx.session() as s:
        auth.create_user(s, "labeller", password="another horse battery")

    # the dashboard before any pool label: empty charts say why, nothing breaks
    page.goto(f"{live_server.url}/projects/{pid}")
    page.wait_for_selector("#dashboard[data-loaded=true]")
    for chart in ("#chart-curve", "#chart-confusion", "#chart-per-class", "#chart-labels"):
        page.wait_for_selector(f"{chart} .main-svg")
    assert page.inner_text("#stat-labeled") == "0"
    assert "No score yet" in page.inner_text("#chart-curve")
    screenshot(page, "dashboard-cold")

    # settings: an invalid value is reported next to its field; a valid one is saved
    page.goto(f"{live_server.url}/projects/{pid}/settings")
    page.fill("input[name=batch_size]", "0")
    page.click("#settings-save")
    error = page.locator("[data-error-for=batch_size]")
    error.wait_for()
    assert "batch_size must be an integer in 1..1000" in error.inner_text()
    assert page.get_attribute("input[name=batch_size]", "aria-invalid") == "true"
    screenshot(page, "settings-error")
    page.fill("input[name=batch_size]", "5")
    page.fill("input[name=overlap_share]", "1.5")  # several answers per item: the share is 0..1
    page.click("#settings-save")
    share_error = page.locator("[data-error-for=overlap_share]")
    share_error.wait_for()
    assert "overlap_share must be a number in 0..1" in share_error.inner_text()
    page.fill("input[name=overlap_share]", "0.5")
    page.fill("input[name=labels_per_item]", "2")
    page.select_option("select[name=consensus]", "dawid_skene")
    page.select_option("select[name=relabel]", "activelab")
    page.fill("input[name=exploration]", "0.2")
    page.select_option("select[name=strategy]", "entropy")
    assert "entropy" in page.inner_text("[data-explains=strategy]").lower()
    page.click("#settings-save")
    page.wait_for_selector("#settings-status:has-text('Saved')")
    assert error.inner_text() == ""
    saved = page.request.get(f"{live_server.url}/api/projects/{pid}").json()
    assert saved["strategy"] == "entropy"
    assert saved["settings"]["batch_size"] == 5 and saved["settings"]["exploration"] == 0.2
    assert (saved["settings"]["labels_per_item"], saved["settings"]["overlap_share"],
            saved["settings"]["consensus"]) == (2, 0.5, "dawid_skene")
    assert saved["settings"]["relabel"] == "activelab"

    # members: add, change the role, remove (a second click confirms)
    page.fill("#member-form input[name=username]", "labeller")
    page.click("#member-form button")
    row = page.locator("#members tr[data-username=labeller]")
    row.wait_for()
    assert row.locator("select").input_value() == "annotator"
    row.locator("select").select_option("admin")
    page.wait_for_selector("#members-status:has-text('labeller is now an admin')")
    # a username without an account: created, with a one-time sign-in link to pass on
    page.fill("#member-form input[name=username]", "newcomer")
    page.click("#member-form button")
    page.wait_for_selector("#members-status:has-text('/login?token=')")
    page.locator("#members tr[data-username=newcomer]").wait_for()
    page.fill("#member-form input[name=username]", "no spaces allowed")
    page.click("#member-form button")
    page.wait_for_selector("#members-status.error")
    for name in ("labeller", "newcomer"):
        page.locator(f"#members tr[data-username={name}] .member-remove").click()
        page.locator(f"#members tr[data-username={name}] .member-remove").click()
        page.wait_for_selector(f"#members tr[data-username={name}]", state="detached")
    members = page.request.get(f"{live_server.url}/api/projects/{pid}/members").json()
    assert [m["username"] for m in members] == ["admin"]

    # the data browser: search, open an item, relabel it with a click
    page.goto(f"{live_server.url}/projects/{pid}/data?split=pool")
    page.wait_for_selector("#items tbody tr")
    first = page.locator("#items tbody tr").first
    item_id = first.get_attribute("data-item-id")
    words = page.locator("#items tbody tr .clip").first.inner_text().split()
    page.fill("input[name=q]", words[0])
    page.wait_for_url(re.compile(r".*q=.*"))
    first.click()
    page.wait_for_selector(f"#detail[data-item-id='{item_id}'] #relabel button")
    page.click(f"#relabel button[data-label='{data.labels[1]}']")
    page.wait_for_selector("#relabel-status:has-text('saved')")
    assert page.get_attribute(f"#relabel button[data-label='{data.labels[1]}']", "aria-pressed") == "true"
    assert page.locator("#history tbody tr").count() == 1
    assert data.labels[1] in page.locator(f"#items tr[data-item-id='{item_id}']").inner_text()
    screenshot(page, "data-relabel")

    # the wizard: a name already taken sends the user back to the name, with the reason
    page.goto(f"{live_server.url}/projects/new")
    page.fill("input[name=name]", "Reviews")
    page.check("input[name=task_type][value='image:single']")
    page.click("#next")
    page.check("input[name=source_kind][value=catalogue]")
    assert page.is_disabled("#catalogue input[value=imdb]")  # a text set, greyed out
    assert "needs the network" in page.inner_text("#catalogue .option:has(input[value=cifar10])")
    page.check("#catalogue input[value=digits]")
    assert page.input_value("select[name=import_labels]") == "evaluation"  # label the pool here
    screenshot(page, "wizard-catalogue")
    page.click("#next")
    page.wait_for_function("() => document.querySelector('#labels-input').value.split('\\n').length === 10")
    page.click("#next")
    page.click("#next")
    page.click("#create")
    page.wait_for_selector("fieldset[data-step=task]:not([hidden])")
    assert "already exists" in page.inner_text("[data-error-for=name]")
    assert page.evaluate("document.activeElement.name") == "name"
    screenshot(page, "wizard-error")
