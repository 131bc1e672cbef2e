"""Sign-in (one-time link or password), sign-out, and the projects list."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from labella.api.deps import SESSION_COOKIE
from labella.errors import LabellaError
from labella.service import auth, projects
from labella.web import router
from labella.web.common import page_user, render


def _safe_next(target: str | None) -> str:
    """Only same-site paths: never redirect to another host."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/"


def _signed_in(request: Request, user_id: int, target: str | None) -> Response:
    resp = RedirectResponse(_safe_next(target), status_code=303)
    signer = request.app.state.signer
    resp.set_cookie(SESSION_COOKIE, signer.dump(user_id), httponly=True, samesite="lax",
                    max_age=signer.max_age)
    return resp


@router.get("/login")
def login_page(request: Request, token: str | None = None, next: str | None = None) -> Response:
    ctx = request.app.state.ctx
    if token:
        try:
            with ctx.session() as s:
                user = auth.redeem_login_link(s, token)
        except LabellaError as exc:
            return render(request, "login.html", user=None, error=str(exc), next=next, status=401)
        return _signed_in(request, user.id, next)
    return render(request, "login.html", user=None, error=None, next=next)


@router.post("/login")
def login(request: Request, username: Annotated[str, Form()], password: Annotated[str, Form()],
          next: Annotated[str | None, Form()] = None) -> Response:
    ctx = request.app.state.ctx
    try:
        with ctx.session() as s:
            user = auth.authenticate_password(s, username, password)
    except LabellaError as exc:
        return render(request, "login.html", user=None, error=str(exc), next=next, status=401)
    return _signed_in(request, user.id, next)


@router.post("/logout")
def logout() -> Response:
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE)
    return resp


@router.get("/")
def home(request: Request, user: Annotated[auth.UserPublic, Depends(page_user)]) -> Any:
    ctx = request.app.state.ctx
    with ctx.session() as s:
        rows = projects.list_projects(s, user)
    return render(request, "projects.html", user=user, projects=rows)
