"""The browser signs in and sees the projects list, with no request leaving the server."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import LiveServer, screenshot


def test_sign_in_and_projects_list(page: Any, live_server: LiveServer) -> None:
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(f"{live_server.url}/")
    assert page.locator("h1").inner_text() == "Projects"
    screenshot(page, "projects-empty")
    assert all(u.startswith(live_server.url) for u in requests), requests
