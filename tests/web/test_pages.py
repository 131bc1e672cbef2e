"""Pages rendered in-process against a real temporary SQLite: sign-in, projects list, assets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from labella.app import create_app
from labella.config import Settings
from labella.service import auth, projects


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path / "data", worker=False)
    app = create_app(settings)
    with TestClient(app) as c:
        ctx = app.state.ctx
        with ctx.session() as s:
            admin = auth.create_user(s, "admin", password="correct horse", is_admin=True)
            projects.create_project(s, admin, name="Reviews <b>", task="text", multi_label=False,
                                    labels=["neg", "pos"], featuriser="hashing")
        yield c


def test_pages_need_sign_in_and_redirect_back(client: TestClient) -> None:
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    bad = client.post("/login", data={"username": "admin", "password": "nope"})
    assert bad.status_code == 401 and "wrong username or password" in bad.text
    ok = client.post("/login", data={"username": "admin", "password": "correct horse",
                                     "next": "//evil.example/"}, follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/"  # never off-site
    page = client.get("/")
    assert page.status_code == 200 and 'id="projects"' in page.text
    assert "Reviews &lt;b&gt;" in page.text  # escaped


def test_one_time_login_link(client: TestClient) -> None:
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    with ctx.session() as s:
        token = auth.create_login_link(s, auth.get_user(s, username="admin").id)
    assert client.get(f"/login?token={token}", follow_redirects=False).status_code == 303
    assert client.get("/").status_code == 200
    client.cookies.clear()
    assert client.get(f"/login?token={token}").status_code == 401  # used up


def test_cookie_alone_cannot_change_through_the_api(client: TestClient) -> None:
    client.post("/login", data={"username": "admin", "password": "correct horse"})
    body = {"name": "x", "task": "text", "labels": ["a", "b"], "featuriser": "hashing"}
    assert client.post("/api/projects", json=body).status_code == 403
    assert client.post("/api/projects", json=body, headers={"X-Labella-CSRF": "1"}).status_code == 201
    assert client.get("/api/projects").status_code == 200


def test_assets_are_local(client: TestClient) -> None:
    js = client.get("/static/plotly.min.js")
    assert js.status_code == 200 and len(js.content) > 1_000_000
    assert client.get("/static/api.js").status_code == 200
    client.post("/login", data={"username": "admin", "password": "correct horse"})
    html = client.get("/").text
    assert "http://" not in html and "https://" not in html  # no CDN, no network
