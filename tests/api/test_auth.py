"""Authentication and roles over HTTP: tokens, passwords, members, admins, every route guarded."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from labella.client import LabellaClientError
from labella.service import auth
from labella.store.users import ApiToken
from tests.api.conftest import ADMIN_PASSWORD, LiveServer, text_project, write_reviews

PUBLIC_API_ROUTES = {("GET", "/api/health"), ("POST", "/api/auth/token")}
"""The only API routes a caller without credentials may use."""


def test_no_token_is_401_with_www_authenticate(server: LiveServer) -> None:
    with server.http() as http:
        r = http.get("/api/projects")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert "token" in r.json()["detail"]


def test_bad_credentials_are_401(server: LiveServer) -> None:
    revoked = server.add_user("leaver")
    with server.ctx.session() as s:
        user = auth.get_user(s, username="leaver")
        for tok in s.scalars(select(ApiToken).where(ApiToken.user_id == user.id)):
            auth.revoke_token(s, tok.id, by=user)
    for header in ("Bearer lbl_not-a-real-token", "Bearer", "Basic YWRtaW46eA==",
                   f"Bearer {server.tokens['admin']}x", f"Bearer {revoked}"):
        with httpx.Client(base_url=server.url, headers={"Authorization": header}) as http:
            r = http.get("/api/me")
        assert r.status_code == 401, header
        assert r.headers["www-authenticate"] == "Bearer"


def test_password_exchange_for_token(server: LiveServer) -> None:
    with server.http() as http:
        wrong = http.post("/api/auth/token", json={"username": "admin", "password": "nope nope"})
        nobody = http.post("/api/auth/token", json={"username": "ghost", "password": "x" * 10})
        ok = http.post("/api/auth/token", json={"username": "admin", "password": ADMIN_PASSWORD,
                                                "name": "laptop"})
    assert wrong.status_code == 401 and nobody.status_code == 401
    assert wrong.json()["detail"] == nobody.json()["detail"]  # does not reveal who exists
    assert ok.status_code == 200
    body = ok.json()
    assert body["username"] == "admin" and body["name"] == "laptop"
    with httpx.Client(base_url=server.url,
                      headers={"Authorization": f"Bearer {body['token']}"}) as http:
        me = http.get("/api/me").json()
    assert me["username"] == "admin" and me["is_admin"] is True


def test_non_member_sees_404_not_403(server: LiveServer, tmp_path: Path) -> None:
    p = text_project(server.client("admin"))
    outsider = server.client("outsider")
    for call in (lambda: outsider.project(p.id), lambda: outsider.request(
            "GET", f"/api/projects/{p.id}/next"), lambda: outsider.request(
            "GET", f"/api/projects/{p.id}/metrics")):
        with pytest.raises(LabellaClientError) as err:
            call()
        assert err.value.status == 404
    # the same answer as for a project that does not exist
    with pytest.raises(LabellaClientError) as missing:
        outsider.project(p.id + 1000)
    assert missing.value.status == 404
    assert outsider.projects() == []


def test_a_missing_project_is_404_for_a_site_admin_too(server: LiveServer) -> None:
    """Site admins are admins of every project that exists; one that does not is a 404 on
    every project route, never a server error."""
    admin = server.http("admin")
    missing = 987654
    try:
        for method, path, body in (
                ("GET", f"/api/projects/{missing}", None),
                ("GET", f"/api/projects/{missing}/next", None),
                ("GET", f"/api/projects/{missing}/metrics", None),
                ("POST", f"/api/projects/{missing}/annotations", {"item_id": 1, "label": "pos"}),
                ("POST", f"/api/projects/{missing}/skip", {"item_id": 1}),
                ("POST", f"/api/projects/{missing}/undo", {}),
                ("GET", f"/api/projects/{missing}/jobs", None)):
            r = admin.request(method, path, json=body)
            assert r.status_code == 404, (method, path, r.status_code, r.text)
    finally:
        admin.close()


def test_annotator_labels_but_cannot_administer(server: LiveServer, tmp_path: Path) -> None:
    admin = server.client("admin")
    p = text_project(admin)
    truth = write_reviews(tmp_path / "reviews.csv", 60)
    p.import_file(tmp_path / "reviews.csv").wait(60)
    p.add_member("annotator")  # default role: annotator
    ann = server.client("annotator")
    mine = ann.project(p.id)
    assert mine.data["role"] == "annotator"
    items = mine.next(n=2)
    assert len(items) == 2
    ack = mine.annotate(items[0].id, label=truth[items[0].text or ""])
    assert ack["n_labeled"] == 1 and not ack["duplicate"]
    forbidden = [
        lambda: mine.update(strategy="margin"),
        lambda: mine.import_file(tmp_path / "reviews.csv"),
        lambda: mine.import_source("catalogue:digits"),
        lambda: mine.retrain(),
        lambda: mine.add_member("outsider"),
    ]
    for call in forbidden:
        with pytest.raises(LabellaClientError) as err:
            call()
        assert err.value.status == 403, err.value
    with server.http("annotator") as http:
        r = http.patch(f"/api/projects/{p.id}", json={"description": "mine now"})
        assert r.status_code == 403
        assert http.delete(f"/api/projects/{p.id}/members/admin").status_code == 403
    assert admin.project(p.id).data["description"] == ""


def test_only_site_admins_create_users(server: LiveServer) -> None:
    body = {"username": "newbie", "password": "long enough password"}
    with server.http("lead") as http:
        r = http.post("/api/users", json=body)
    assert r.status_code == 403
    with server.http("admin") as http:
        r = http.post("/api/users", json=body)
        assert r.status_code == 201
        assert r.json() == {"id": r.json()["id"], "username": "newbie", "is_admin": False,
                            "disabled": False}
        assert http.post("/api/users", json=body).status_code == 409  # the name is taken
        assert http.post("/api/users", json={"username": "x y"}).status_code == 422
    with server.http() as http:
        tok = http.post("/api/auth/token", json={"username": "newbie",
                                                 "password": "long enough password"})
    assert tok.status_code == 200
    server.tokens["newbie"] = tok.json()["token"]
    newbie = server.client("newbie")
    assert newbie.me()["username"] == "newbie"
    with pytest.raises(LabellaClientError) as err:
        newbie.request("POST", "/api/users", json={"username": "another"})
    assert err.value.status == 403


def _api_operations(schema: dict) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    ops = []
    for path, item in schema["paths"].items():
        for method in item:
            if method in ("get", "post", "put", "patch", "delete"):
                ops.append((method.upper(), path))
    return ops


def test_docs_and_openapi(server: LiveServer) -> None:
    with server.http() as http:
        docs = http.get("/docs")
        schema = http.get("/openapi.json")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for expected in ("/api/projects", "/api/projects/{project_id}/next",
                     "/api/projects/{project_id}/annotations", "/api/jobs/{job_id}"):
        assert expected in paths


def test_every_api_route_needs_credentials(server: LiveServer) -> None:
    """Iterates the OpenAPI schema, so a new route without authentication fails here."""
    with server.http() as http:
        schema = http.get("/openapi.json").json()
        ops = [op for op in _api_operations(schema) if op[1].startswith("/api/")]
        project_routes = [op for op in ops if op[1].startswith("/api/projects/{project_id}")]
        assert len(project_routes) >= 15
        checked = []
        for method, path in ops:
            if (method, path) in PUBLIC_API_ROUTES:
                continue
            url = re.sub(r"\{(\w+)\}", lambda m: "someone" if m.group(1) == "username" else "1",
                         path)
            r = http.request(method, url, json={} if method in ("POST", "PUT", "PATCH") else None)
            assert r.status_code == 401, f"{method} {path} answered {r.status_code} without a token"
            assert r.headers.get("www-authenticate") == "Bearer", f"{method} {path}"
            checked.append((method, path))
    assert len(checked) == len(ops) - len(PUBLIC_API_ROUTES & set(ops))
    # the public ones really are public
    with server.http() as http:
        assert http.get("/api/health").json()["status"] == "ok"


def test_disabling_a_user_cuts_off_their_token_and_web_session(server: LiveServer) -> None:
    """On both databases: the user's API token and browser session stop at once."""
    token = server.add_user("leaving")
    with server.ctx.session() as s:
        user = auth.get_user(s, username="leaving")
        auth.set_password(s, user.id, "a long password")
    with httpx.Client(base_url=server.url) as browser:
        r = browser.post("/login", data={"username": "leaving", "password": "a long password"})
        assert r.status_code == 303 and browser.get("/api/me").status_code == 200
        with server.http("leaving") as http:
            assert http.get("/api/me").status_code == 200
            with server.http("admin") as admin:
                r = admin.patch(f"/api/users/{user.id}", json={"disabled": True})
                assert r.status_code == 200 and r.json()["disabled"] is True
            assert http.get("/api/me").status_code == 401
        assert browser.get("/api/me").status_code == 401
        assert browser.get("/", follow_redirects=False).status_code == 303
    assert token  # the token itself is kept, so enabling the user again restores it
