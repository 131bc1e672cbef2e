"""Account and user admin pages, project deletion and invitations over HTTP, and the
labelling page's keys (in-process, on a real temporary SQLite)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from labella.app import create_app
from labella.config import Settings
from labella.service import auth, projects

CSRF = {"X-Labella-CSRF": "1"}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(Settings(data_dir=tmp_path / "data", worker=False))
    with TestClient(app) as c:
        with app.state.ctx.session() as s:
            auth.create_user(s, "admin", password="correct horse", is_admin=True)
        yield c


def _admin_in(client: TestClient) -> None:
    r = client.post("/login", data={"username": "admin", "password": "correct horse"})
    assert r.status_code == 200


def test_a_login_link_leads_to_setting_a_first_password(client: TestClient) -> None:
    _admin_in(client)
    made = client.post("/api/admin/users", json={"username": "bob"}, headers=CSRF)
    assert made.status_code == 201, made.text
    link = made.json()["path"]
    assert link.startswith("/login?token=")
    assert client.get("/admin/users").status_code == 200
    client.cookies.clear()
    r = client.get(link, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/account")
    page = client.get("/account")
    assert 'id="no-password"' in page.text and "current_password" not in page.text
    bad = client.post("/account", data={"new_password": "long enough 1",
                                        "repeat_password": "long enough 2"})
    assert bad.status_code == 400 and "differ" in bad.text
    ok = client.post("/account", data={"new_password": "long enough 1",
                                       "repeat_password": "long enough 1"})
    assert ok.status_code == 200 and 'id="account-saved"' in ok.text  # still signed in
    assert 'name="current_password"' in ok.text
    assert client.get("/admin/users").status_code == 403  # bob is no site admin
    client.cookies.clear()
    again = client.post("/login", data={"username": "bob", "password": "long enough 1"},
                        follow_redirects=False)
    assert again.status_code == 303


def test_api_password_change_and_admin_only_routes(client: TestClient) -> None:
    _admin_in(client)
    r = client.post("/api/me/password", json={"new_password": "another horse"}, headers=CSRF)
    assert r.status_code == 401 and "current password" in r.json()["detail"]
    client.post("/login", data={"username": "admin", "password": "correct horse"})
    r = client.post("/api/me/password", headers=CSRF,
                    json={"new_password": "another horse", "current_password": "correct horse"})
    assert r.status_code == 204
    client.post("/login", data={"username": "admin", "password": "another horse"})
    users = client.get("/api/admin/users").json()
    assert [u["username"] for u in users] == ["admin"] and users[0]["has_password"]
    bob = client.post("/api/admin/users", json={"username": "bob", "password": "bobs password"},
                      headers=CSRF).json()
    assert bob["path"] is None  # a password was given: no link needed
    link = client.post(f"/api/admin/users/{bob['user_id']}/login-link", headers=CSRF)
    assert link.status_code == 200 and link.json()["path"].startswith("/login?token=")
    client.cookies.clear()
    client.post("/login", data={"username": "bob", "password": "bobs password"})
    assert client.get("/api/admin/users").status_code == 403
    assert client.post("/api/admin/users", json={"username": "eve"}, headers=CSRF).status_code == 403


def test_delete_project_needs_its_name_and_an_admin(client: TestClient) -> None:
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    with ctx.session() as s:
        admin = auth.get_user(s, username="admin")
        p = projects.create_project(s, admin, name="Reviews", task="text", multi_label=False,
                                    labels=["neg", "pos"], featuriser="hashing")
    _admin_in(client)
    listed = client.get("/").text
    assert "no data yet" in listed and f'href="/projects/{p.id}/settings"' in listed
    assert 'id="delete-form"' in client.get(f"/projects/{p.id}/settings").text
    inv = client.post(f"/api/projects/{p.id}/members/invite", headers=CSRF,
                      json={"username": "ann", "role": "annotator"})
    assert inv.status_code == 200 and inv.json()["created"] and inv.json()["login_path"]
    wrong = client.delete(f"/api/projects/{p.id}", params={"confirm": "reviews"}, headers=CSRF)
    assert wrong.status_code == 422 and "exact name" in wrong.json()["detail"]
    client.cookies.clear()
    client.get(inv.json()["login_path"])  # ann signs in with the link
    assert client.delete(f"/api/projects/{p.id}", params={"confirm": "Reviews"},
                         headers=CSRF).status_code == 403
    _admin_in(client)
    r = client.delete(f"/api/projects/{p.id}", params={"confirm": "Reviews"}, headers=CSRF)
    assert r.status_code == 200 and r.json()["name"] == "Reviews"
    assert client.get(f"/api/projects/{p.id}").status_code == 404


def test_label_page_keys_follow_the_labels(client: TestClient) -> None:
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    with ctx.session() as s:
        admin = auth.get_user(s, username="admin")
        digits = projects.create_project(s, admin, name="Digits", task="image", multi_label=False,
                                         labels=[str(d) for d in range(10)], featuriser="pixels")
        many = projects.create_project(s, admin, name="Emotions", task="text", multi_label=True,
                                       labels=[f"emotion{i:02d}" for i in range(28)],
                                       featuriser="hashing",
                                       settings={"hotkeys": {"emotion27": "e"}})
    _admin_in(client)
    page = client.get(f"/projects/{digits.id}/label").text
    assert '<button type="button" data-label="1" data-key="1">' in page
    assert '<button type="button" data-label="0" data-key="0">' in page
    assert 'id="label-filter"' not in page  # ten labels: all on keys
    page = client.get(f"/projects/{many.id}/label").text
    assert 'id="label-filter"' in page
    assert 'data-label="emotion27" data-key="e"' in page
    assert page.count("data-key=") == 11  # e, and the ten number keys
    assert 'value="emotion27=e"' in client.get(f"/projects/{many.id}/settings").text
    bad = client.patch(f"/api/projects/{many.id}", headers=CSRF,
                       json={"settings": {"hotkeys": {"emotion01": "u"}}})
    assert bad.status_code == 422 and "kept for the labelling view" in bad.json()["detail"]
