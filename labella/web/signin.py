"""Sign-in (one-time link or password), sign-out, and the projects list."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from labella.api.security import TooManyAttemptsError, login_throttle, require_same_origin
from labella.api.sessions import SessionCookies
from labella.config import REQUEST_LIMITS
from labella.errors import LabellaError
from labella.service import accounts, auth, projects
from labella.service.errors import AuthenticationError
from labella.web import router
from labella.web.common import page_user, render


def _safe_next(target: str | None) -> str:
    """Only same-site paths: never redirect to another host."""
    if (target and target.startswith("/") and not target.startswith("//")
            and "\\" not in target and target.isprintable() and len(target) <= 2000):
        return target
    return "/"


def _signed_in(request: Request, user_id: int, target: str | None) -> Response:
    resp = RedirectResponse(_safe_next(target), status_code=303)
    cookies: SessionCookies = request.app.state.cookies
    cookies.sign_in(request, resp, request.app.state.ctx, user_id)
    return resp


def _refused(request: Request, exc: LabellaError, target: str | None, status: int = 401
             ) -> Response:
    resp = render(request, "login.html", user=None, error=str(exc), next=_safe_next(target),
                  status=status)
    if isinstance(exc, TooManyAttemptsError):
        resp.status_code = 429
        resp.headers["Retry-After"] = str(exc.retry_after)
    return resp


@router.get("/login")
def login_page(request: Request, token: str | None = None, next: str | None = None) -> Response:
    ctx = request.app.state.ctx
    if token:
        try:
            with ctx.session() as s:
                user = auth.redeem_login_link(s, token)
        except LabellaError as exc:
            return _refused(request, exc, next)
        with ctx.session() as s:
            first = not accounts.has_password(s, user.id)
        # no password yet (a new user, or one who lost it): the account page sets one
        return _signed_in(request, user.id, f"/account?next={quote(_safe_next(next))}" if first else next)
    return render(request, "login.html", user=None, error=None, next=_safe_next(next))


@router.post("/login")
def login(request: Request,
          username: Annotated[str, Form(max_length=REQUEST_LIMITS.max_username_chars)],
          password: Annotated[str, Form(max_length=REQUEST_LIMITS.max_password_chars)],
          next: Annotated[str | None, Form(max_length=2000)] = None) -> Response:
    ctx = request.app.state.ctx
    try:
        require_same_origin(request)
        with login_throttle(request, username), ctx.session() as s:
            user = auth.authenticate_password(s, username, password)
    except LabellaError as exc:
        status = 401 if isinstance(exc, (AuthenticationError, TooManyAttemptsError)) else 403
        return _refused(request, exc, next, status)
    return _signed_in(request, user.id, next)


@router.post("/logout")
def logout(request: Request) -> Response:
    require_same_origin(request)
    resp = RedirectResponse("/login", status_code=303)
    cookies: SessionCookies = request.app.state.cookies
    cookies.sign_out(request, resp, request.app.state.ctx)
    return resp


@router.get("/")
def home(request: Request, user: Annotated[auth.UserPublic, Depends(page_user)]) -> Any:
    ctx = request.app.state.ctx
    with ctx.session() as s:
        rows = projects.list_projects(s, user)
    return render(request, "projects.html", user=user, projects=rows)
