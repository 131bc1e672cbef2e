"""Web sign-in security, in-process against a real temporary SQLite: sessions that end,
throttled sign-ins, security headers, Secure cookies and same-origin checks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from labella.app import create_app
from labella.config import Settings
from labella.service import auth

PASSWORD = "correct horse"
CSRF = {"X-Labella-CSRF": "1"}


def _client(tmp_path: Path, **settings: Any) -> Iterator[TestClient]:
    app = create_app(Settings(data_dir=tmp_path / "data", worker=False, **settings))
    with TestClient(app) as c:
        with app.state.ctx.session() as s:
            auth.create_user(s, "admin", password=PASSWORD, is_admin=True)
            auth.create_user(s, "ann", password=PASSWORD)
        yield c


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    yield from _client(tmp_path, login_limit_per_user="5 per 5 minutes",
                       login_limit_per_address="8 per 5 minutes")


def _sign_in(c: TestClient, username: str = "admin") -> str:
    r = c.post("/login", data={"username": username, "password": PASSWORD},
               follow_redirects=False)
    assert r.status_code == 303, r.text
    return str(c.cookies["labella_session"])


def test_signing_out_ends_the_session_on_the_server(client: TestClient) -> None:
    cookie = _sign_in(client)
    assert client.get("/api/me").status_code == 200
    assert client.post("/logout", follow_redirects=False).status_code == 303
    # the old cookie, replayed (a copy kept by an attacker), no longer works
    client.cookies.set("labella_session", cookie)
    r = client.get("/api/me")
    assert r.status_code == 401 and "sign in again" in r.json()["detail"]
    assert client.get("/", follow_redirects=False).status_code == 303  # pages: back to /login


def test_a_forged_or_tampered_cookie_is_refused(client: TestClient) -> None:
    cookie = _sign_in(client)
    value, _, sig = cookie.rpartition(".")
    flipped = sig[:5] + ("A" if sig[5] != "A" else "B") + sig[6:]
    client.cookies.clear()
    client.cookies.set("labella_session", f"{value}.{flipped}")
    assert client.get("/api/me").status_code == 401
    client.cookies.set("labella_session", "1.9999999999.forged")
    assert client.get("/api/me").status_code == 401


def test_disabling_a_user_ends_their_cookie_and_token_at_once(client: TestClient,
                                                              tmp_path: Path) -> None:
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    with ctx.session() as s:
        ann = auth.get_user(s, username="ann")
        token = auth.create_token(s, ann.id).token
        admin_token = auth.create_token(s, auth.get_user(s, username="admin").id).token
    ann_cookie = _sign_in(client, "ann")
    client.cookies.clear()
    client.cookies.set("labella_session", ann_cookie)
    assert client.get("/api/me").json()["username"] == "ann"
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/me", headers=bearer).status_code == 200
    r = client.patch(f"/api/users/{ann.id}", json={"disabled": True},
                     headers={"Authorization": f"Bearer {admin_token}"})
    assert r.status_code == 200 and r.json()["disabled"] is True
    client.cookies.set("labella_session", ann_cookie)
    assert client.get("/api/me").status_code == 401
    assert client.get("/api/me", headers=bearer).status_code == 401
    bad = client.post("/login", data={"username": "ann", "password": PASSWORD})
    assert bad.status_code == 401
    # enabled again: the token works again, the old session stays ended
    client.patch(f"/api/users/{ann.id}", json={"disabled": False},
                 headers={"Authorization": f"Bearer {admin_token}"})
    assert client.get("/api/me", headers=bearer).status_code == 200
    assert client.get("/api/me").status_code == 401


def test_only_site_admins_disable_and_never_themselves(client: TestClient) -> None:
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    with ctx.session() as s:
        admin = auth.get_user(s, username="admin")
        ann = auth.get_user(s, username="ann")
        ann_token = auth.create_token(s, ann.id).token
        admin_token = auth.create_token(s, admin.id).token
    r = client.patch(f"/api/users/{admin.id}", json={"disabled": True},
                     headers={"Authorization": f"Bearer {ann_token}"})
    assert r.status_code == 403
    r = client.patch(f"/api/users/{admin.id}", json={"disabled": True},
                     headers={"Authorization": f"Bearer {admin_token}"})
    assert r.status_code == 409
    assert client.patch("/api/users/999", json={"disabled": True},
                        headers={"Authorization": f"Bearer {admin_token}"}).status_code == 404


def test_changing_a_password_ends_the_users_sessions(client: TestClient) -> None:
    _sign_in(client, "ann")
    assert client.get("/api/me").status_code == 200
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    with ctx.session() as s:
        auth.set_password(s, auth.get_user(s, username="ann").id, "a new long password")
    assert client.get("/api/me").status_code == 401


def test_wrong_passwords_are_throttled_per_username(client: TestClient) -> None:
    for _ in range(5):
        r = client.post("/login", data={"username": "ann", "password": "wrong one"})
        assert r.status_code == 401
    r = client.post("/login", data={"username": "ann", "password": PASSWORD},
                    follow_redirects=False)
    assert r.status_code == 429  # even the right password, until the window has room
    assert 1 <= int(r.headers["retry-after"]) <= 300
    assert "too many failed sign-ins" in r.text
    token = client.post("/api/auth/token", json={"username": "ann", "password": PASSWORD})
    assert token.status_code == 429 and token.headers["retry-after"]
    assert token.json()["error"] == "TooManyAttemptsError"
    # another user is not locked out by ann's attacker (the address has room left)
    assert client.post("/login", data={"username": "admin", "password": PASSWORD},
                       follow_redirects=False).status_code == 303


def test_wrong_passwords_are_throttled_per_address(client: TestClient) -> None:
    for i in range(8):  # a different (unknown) username each time
        r = client.post("/api/auth/token", json={"username": f"guess{i}", "password": "x" * 9})
        assert r.status_code == 401
    r = client.post("/api/auth/token", json={"username": "admin", "password": PASSWORD})
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1


def test_a_right_password_clears_the_usernames_count(client: TestClient) -> None:
    for _ in range(4):
        client.post("/login", data={"username": "ann", "password": "wrong one"})
    _sign_in(client, "ann")
    for _ in range(4):
        assert client.post("/login", data={"username": "ann",
                                           "password": "wrong one"}).status_code == 401


def test_security_headers_on_pages_api_and_errors(client: TestClient) -> None:
    for path in ("/login", "/api/health", "/api/me", "/static/labella.css", "/no-such-page"):
        r = client.get(path, follow_redirects=False)
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
        assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0], path
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "same-origin"


def test_cookie_flags_secure_automatic_and_forced(tmp_path: Path) -> None:
    for settings, base, secure in (({}, "http://testserver", False),
                                   ({}, "https://testserver", True),
                                   ({"secure_cookies": True}, "http://testserver", True),
                                   ({"secure_cookies": False}, "https://testserver", False)):
        gen = _client(tmp_path / str(len(list(tmp_path.iterdir()))), **settings)
        c = next(gen)
        c.base_url = base  # type: ignore[assignment]
        r = c.post("/login", data={"username": "admin", "password": PASSWORD},
                   follow_redirects=False)
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie
        assert ("secure" in cookie.replace("labella_session", "")) is secure, (settings, base)
        gen.close()


def test_cross_site_posts_are_refused(client: TestClient) -> None:
    evil = {"Origin": "https://evil.example"}
    r = client.post("/login", data={"username": "admin", "password": PASSWORD}, headers=evil,
                    follow_redirects=False)
    assert r.status_code == 403 and "labella_session" not in r.headers.get("set-cookie", "")
    r = client.post("/login", data={"username": "admin", "password": PASSWORD},
                    headers={"Sec-Fetch-Site": "cross-site"}, follow_redirects=False)
    assert r.status_code == 403
    _sign_in(client)
    body = {"name": "x", "task": "text", "labels": ["a", "b"], "featuriser": "hashing"}
    # even with the header the pages send, another origin may not change anything
    r = client.post("/api/projects", json=body, headers={**CSRF, **evil})
    assert r.status_code == 403
    r = client.post("/api/projects", json=body,
                    headers={**CSRF, "Referer": "https://evil.example/page"})
    assert r.status_code == 403
    assert client.post("/logout", headers=evil).status_code == 403
    assert client.get("/api/me").status_code == 200  # still signed in
    # the same origin passes
    same = {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}
    assert client.post("/api/projects", json=body, headers={**CSRF, **same}).status_code == 201
    assert client.post("/logout", headers=same, follow_redirects=False).status_code == 303
