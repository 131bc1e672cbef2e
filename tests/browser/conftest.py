"""Browser tests: a real Labella server on loopback and Debian's Chromium driven by Playwright.

Skipped when Playwright or a ``chromium`` executable is missing (a user's machine); CI
installs both. Screenshots go to ``screenshots/`` (not committed) for people to look at.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from labella.config import Settings
from labella.service import auth
from labella.service.context import ServiceContext

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PASSWORD = "correct horse battery"

pytestmark = pytest.mark.browser


@dataclass
class LiveServer:
    url: str
    ctx: ServiceContext
    admin: auth.UserPublic
    data_dir: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    import httpx
    import uvicorn

    from labella.app import create_app

    settings = Settings(data_dir=tmp_path / "data")
    ctx = ServiceContext(settings)
    with ctx.session() as s:
        admin = auth.create_user(s, "admin", password=PASSWORD, is_admin=True)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, ctx=ctx), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("the test server did not start")
        time.sleep(0.05)
    try:
        yield LiveServer(url, ctx, admin, settings.data_dir)
    finally:
        server.should_exit = True
        thread.join(15)
        ctx.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("no chromium executable (apt-get install -y chromium)")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    """A signed-in page (as the site admin). Console errors fail the test at teardown."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    pg = context.new_page()
    errors: list[str] = []
    outside: list[str] = []
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("request", lambda r: None if r.url.startswith((live_server.url, "data:", "blob:"))
          else outside.append(r.url))
    sign_in(pg, live_server.url)
    yield pg
    context.close()
    assert not errors, f"errors in the browser console: {errors}"
    assert not outside, f"pages must need nothing beyond the Labella server: {outside}"


def sign_in(pg: Any, url: str, username: str = "admin", password: str = PASSWORD) -> None:
    """Sign in through the form on ``url/login`` and wait for the projects page."""
    pg.goto(f"{url}/login")
    pg.fill("input[name=username]", username)
    pg.fill("input[name=password]", password)
    pg.click("button.primary")
    pg.wait_for_url(f"{url}/")


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
