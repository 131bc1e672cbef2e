"""The new user's rough edges in Chromium: a 28-label project labelled from the keyboard
(type to filter, Enter toggles), the digits' own keys and sharp tiny images, the user admin
page and setting a first password after a one-time link. Data is made here (no shared
datasets needed)."""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from labella.service import projects
from labella.service.importing import start_import
from labella.store.annotations import Annotation
from tests.browser.conftest import LiveServer, screenshot, sign_in

EMOTIONS = ["admiration", "amusement", "anger", "annoyance", "approval", "caring", "confusion",
            "curiosity", "desire", "disappointment", "disapproval", "disgust", "embarrassment",
            "excitement", "fear", "gratitude", "grief", "joy", "love", "nervousness", "optimism",
            "pride", "realization", "relief", "remorse", "sadness", "surprise", "neutral"]


def _wait_jobs(live: LiveServer, project_id: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = live.ctx.jobs.list(project_id=project_id)
        if jobs and all(j.terminal for j in jobs):
            time.sleep(0.1)
            again = live.ctx.jobs.list(project_id=project_id)
            if len(again) == len(jobs) and all(j.terminal for j in again):
                assert all(j.status == "succeeded" for j in again), again
                return
        time.sleep(0.05)
    raise TimeoutError(f"jobs of project {project_id} did not end")


def _project(live: LiveServer, source: str, *, keep: str = "all", **kw: Any) -> int:
    with live.ctx.session() as s:
        p = projects.create_project(s, live.admin, **kw)
    start_import(live.ctx, live.admin, p.id, source, labels=keep)
    _wait_jobs(live, p.id)
    return p.id


def test_28_labels_by_typing_to_filter(page: Any, live_server: LiveServer, tmp_path: Path) -> None:
    data = tmp_path / "texts.csv"
    with data.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["text"])
        for i in range(12):
            w.writerow([f"message {i}: thanks so much, though I regret saying it {i * 7}"])
    pid = _project(live_server, str(data), name="Emotions", task="text", multi_label=True,
                   labels=EMOTIONS, featuriser="hashing")
    page.goto(f"{live_server.url}/projects/{pid}/label")
    page.wait_for_selector("#item[data-item-id]")
    item_id = int(page.get_attribute("#item", "data-item-id"))
    assert page.locator("#choices button[data-key]").count() == 10  # 1-9 and 0
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "label-filter"
    page.keyboard.type("grat")
    assert page.locator("#choices button[data-label]:visible").count() == 1
    page.keyboard.press("Enter")  # toggles gratitude, empties the box for the next label
    assert page.get_attribute('button[data-label="gratitude"]', "aria-pressed") == "true"
    assert page.input_value("#label-filter") == ""
    assert page.locator("#choices button[data-label]:visible").count() == len(EMOTIONS)
    page.keyboard.type("sorrow")  # matches nothing: Enter does nothing
    assert page.locator("#choices button[data-label]:visible").count() == 0
    page.keyboard.press("Enter")
    page.fill("#label-filter", "")
    page.keyboard.type("rem")
    page.keyboard.press("Enter")  # remorse
    page.keyboard.press("Enter")  # the box is empty: submit
    page.wait_for_function(f"document.querySelector('#item').dataset.itemId !== '{item_id}'")
    page.wait_for_selector("#status[data-state=saved]")
    screenshot(page, "label_28_filter")
    deadline = time.monotonic() + 10
    value = None
    while time.monotonic() < deadline and value is None:
        with live_server.ctx.session() as s:
            value = s.scalar(select(Annotation.value).where(
                Annotation.item_id == item_id, Annotation.action == "label"))
        time.sleep(0.1)
    assert sorted(value or []) == ["gratitude", "remorse"]


def test_digits_keys_match_their_names_and_tiny_images_stay_sharp(
        page: Any, live_server: LiveServer) -> None:
    pid = _project(live_server, "catalogue:digits", keep="evaluation", name="Digits", task="image",
                   multi_label=False, labels=[str(d) for d in range(10)], featuriser="pixels")
    page.goto(f"{live_server.url}/projects/{pid}/label")
    page.wait_for_selector("#item[data-item-id] img")
    page.wait_for_selector("#item-image[data-native]")
    assert page.get_attribute("#item-image", "data-native")== "32 × 32 px (shown enlarged)"  # the catalogue stores the digits at 32x32
    assert page.evaluate("getComputedStyle(document.querySelector('#item-image img'))"
                         ".imageRendering") == "pixelated"
    item_id = int(page.get_attribute("#item", "data-item-id"))
    page.keyboard.press("1")
    page.wait_for_selector("#status[data-state=saved]")
    screenshot(page, "label_digits")
    deadline = time.monotonic() + 10
    value = None
    while time.monotonic() < deadline and value is None:
        with live_server.ctx.session() as s:
            value = s.scalar(select(Annotation.value).where(
                Annotation.item_id == item_id, Annotation.action == "label"))
        time.sleep(0.1)
    assert value == ["1"]  # key 1 labels "1", not "0"


def test_admin_creates_a_user_who_sets_a_password(browser: Any, page: Any,
                                                  live_server: LiveServer) -> None:
    page.goto(f"{live_server.url}/admin/users")
    page.fill("#user-form input[name=username]", "bob")
    page.click("#user-form button.primary")
    page.wait_for_selector("#login-link-box:not([hidden])")
    link = page.input_value("#login-link")
    assert link.startswith(f"{live_server.url}/login?token=")
    assert page.locator('#user-table tr[data-username="bob"]').count() == 1
    screenshot(page, "admin_users")

    other = browser.new_context()
    bob = other.new_page()
    errors: list[str] = []
    bob.on("pageerror", lambda e: errors.append(str(e)))
    bob.goto(link)
    bob.wait_for_url(f"{live_server.url}/account**")
    assert bob.locator("#no-password").is_visible()
    bob.fill("input[name=new_password]", "bobs new password")
    bob.fill("input[name=repeat_password]", "bobs new password")
    bob.click("#password-form button.primary")
    bob.wait_for_selector("#account-saved")
    screenshot(bob, "account_password")
    bob.click("header form button")  # sign out
    sign_in(bob, live_server.url, "bob", "bobs new password")
    other.close()
    assert not errors

    # the admin disables bob: his password stops working
    page.goto(f"{live_server.url}/admin/users")
    page.click('#user-table tr[data-username="bob"] .user-toggle')
    page.wait_for_selector('#user-table tr[data-username="bob"][data-disabled="true"]')
    third = browser.new_context().new_page()
    third.goto(f"{live_server.url}/login")
    third.fill("input[name=username]", "bob")
    third.fill("input[name=password]", "bobs new password")
    third.click("button.primary")
    assert "wrong username or password" in third.inner_text("main")
    third.context.close()


def test_wizard_refuses_a_long_name_and_reads_label_lists_right(
        page: Any, live_server: LiveServer) -> None:
    page.goto(f"{live_server.url}/projects/new")
    long_name = "x" * 10_240
    page.fill("input[name=name]", long_name)
    assert len(page.input_value("input[name=name]")) == 10_240  # nothing cut silently
    page.click("#next")
    error = page.inner_text('[data-error-for="name"]')
    assert "at most 200 characters" in error and "10,240" in error
    assert page.get_attribute("input[name=name]", "aria-invalid") == "true"
    got = page.evaluate("""async () => {
        const m = await import('/static/wizard.js');
        return [m.parseLabels('a,b,c\\nd'), m.parseLabels(' x , y ,, x '),
                m.caseClashes(m.parseLabels('Cat\\ndog\\ncat'))];
    }""")
    assert got == [["a", "b", "c", "d"], ["x", "y"], [["Cat", "cat"]]]
