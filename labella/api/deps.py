"""Request dependencies: the service context and the caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from labella.api.security import SAFE_METHODS, require_same_origin
from labella.api.sessions import SESSION_COOKIE, SessionCookies
from labella.service import auth
from labella.service.context import ServiceContext
from labella.service.errors import AuthenticationError, PermissionDeniedError

__all__ = ["SESSION_COOKIE", "Ctx", "CurrentUser", "current_user", "get_ctx"]

CSRF_HEADER = "x-labella-csrf"


def get_ctx(request: Request) -> ServiceContext:
    ctx: ServiceContext = request.app.state.ctx
    return ctx


Ctx = Annotated[ServiceContext, Depends(get_ctx)]


def current_user(request: Request, ctx: Ctx) -> auth.UserPublic:
    """The caller from ``Authorization: Bearer <token>`` or the web session cookie.

    Both are checked against the database on every request: a revoked token, an ended
    session and a disabled user are refused at once. A change made with the cookie
    must come from this server's own pages (same origin, and through the API with the
    ``X-Labella-CSRF`` header, which a cross-site form cannot send).
    """
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        with ctx.read_session() as s:
            return auth.user_for_token(s, token.strip())
    cookies: SessionCookies = request.app.state.cookies
    if request.cookies.get(SESSION_COOKIE) and request.method not in SAFE_METHODS:
        require_same_origin(request)
        if request.url.path.startswith("/api/") and request.headers.get(CSRF_HEADER) != "1":
            raise PermissionDeniedError("send the X-Labella-CSRF: 1 header with "
                                        "cookie-authenticated changes")
    user = cookies.user(request, ctx)
    if user is not None:
        return user
    raise AuthenticationError("sign in, or send an API token as 'Authorization: Bearer <token>'")


CurrentUser = Annotated[auth.UserPublic, Depends(current_user)]
