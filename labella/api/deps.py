"""Request dependencies: the service context and the caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from labella.service import auth
from labella.service.context import ServiceContext
from labella.service.errors import AuthenticationError

SESSION_COOKIE = "labella_session"


def get_ctx(request: Request) -> ServiceContext:
    ctx: ServiceContext = request.app.state.ctx
    return ctx


Ctx = Annotated[ServiceContext, Depends(get_ctx)]


def current_user(request: Request, ctx: Ctx) -> auth.UserPublic:
    """The caller from ``Authorization: Bearer <token>`` or the web session cookie."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token:
        with ctx.read_session() as s:
            return auth.user_for_token(s, token.strip())
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie and request.url.path.startswith("/api/") and request.method not in (
            "GET", "HEAD", "OPTIONS") and request.headers.get("x-labella-csrf") != "1":
        # a cookie alone does not authorise a change through the API: the pages send this
        # header, which a cross-site form cannot
        raise AuthenticationError("send the X-Labella-CSRF: 1 header with cookie-authenticated "
                                  "changes")
    if cookie:
        signer = request.app.state.signer
        user_id = signer.load(cookie)
        if user_id is not None:
            with ctx.read_session() as s:
                return auth.get_user(s, user_id=user_id)
    raise AuthenticationError("sign in, or send an API token as 'Authorization: Bearer <token>'")


CurrentUser = Annotated[auth.UserPublic, Depends(current_user)]
