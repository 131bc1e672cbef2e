"""Your account (``/account``: set or change your password) and the site admin's user list
(``/admin/users``: create, disable or enable, make a one-time login link).

The password form posts to the page itself (same-origin checked) and, because a new password
signs the user out of every browser, signs this browser in again with a fresh session. The
user list acts through the REST API from ``static/users.js``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from labella.api.security import require_same_origin
from labella.api.sessions import SessionCookies
from labella.config import REQUEST_LIMITS
from labella.errors import LabellaError
from labella.service import accounts, auth
from labella.service.errors import InvalidRequestError
from labella.web import router
from labella.web.common import page_user, render
from labella.web.signin import _safe_next

Password = Annotated[str, Form(max_length=REQUEST_LIMITS.max_password_chars)]


def _account_page(request: Request, user: auth.UserPublic, *, error: str | None = None,
                  done: bool = False, status: int = 200, next_path: str | None = None) -> Any:
    with request.app.state.ctx.session() as s:
        has = accounts.has_password(s, user.id)
    return render(request, "account.html", user=user, has_password=has, error=error, done=done,
                  next=_safe_next(next_path), min_chars=accounts.MIN_PASSWORD, status=status)


@router.get("/account")
def account_page(request: Request, user: Annotated[auth.UserPublic, Depends(page_user)],
                 next: str | None = None, saved: bool = False) -> Any:
    return _account_page(request, user, next_path=next, done=saved)


@router.post("/account")
def set_password(request: Request, user: Annotated[auth.UserPublic, Depends(page_user)],
                 new_password: Password, repeat_password: Password,
                 current_password: Annotated[str | None, Form(
                     max_length=REQUEST_LIMITS.max_password_chars)] = None,
                 next: Annotated[str | None, Form(max_length=2000)] = None) -> Response:
    try:
        require_same_origin(request)
        if new_password != repeat_password:
            raise InvalidRequestError("the two new passwords differ")
        with request.app.state.ctx.session() as s:
            accounts.change_own_password(s, user, new_password,
                                         current_password=current_password)
    except LabellaError as exc:
        return _account_page(request, user, error=str(exc), status=400, next_path=next)
    # the new password ended every session, this browser's too: start a fresh one
    target = _safe_next(next)
    resp = RedirectResponse("/account?saved=1" if target == "/" else target,
                            status_code=303)
    cookies: SessionCookies = request.app.state.cookies
    cookies.sign_in(request, resp, request.app.state.ctx, user.id)
    return resp


@router.get("/admin/users")
def users_page(request: Request, user: Annotated[auth.UserPublic, Depends(page_user)]) -> Any:
    if not user.is_admin:
        return render(request, "account.html", user=user, has_password=True, done=False,
                      error="Only site admins manage users.", next="/",
                      min_chars=accounts.MIN_PASSWORD, status=403)
    with request.app.state.ctx.session() as s:
        rows = accounts.list_accounts(s, user)
    return render(request, "users.html", user=user, accounts=rows)
