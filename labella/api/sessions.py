"""Web sign-in sessions: a server-side record per signed-in browser, named by a signed cookie.

The cookie holds a random secret, signed with itsdangerous (HMAC over the data
directory's key, with a timestamp) so a forged or stale cookie is refused before
any database look-up; the secret's SHA-256 names a ``web_sessions`` row
(:mod:`labella.service.auth`), which signing out, disabling the user or changing
their password deletes. The cookie is ``HttpOnly``, ``SameSite=Lax`` and ``Secure``
when the settings ask for it or the sign-in came over https.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

from fastapi import Request, Response
from itsdangerous import BadSignature, TimestampSigner

from labella.config import Settings
from labella.service import auth
from labella.service.context import ServiceContext

SESSION_COOKIE = "labella_session"


def load_secret(data_dir: Path) -> bytes:
    """The data directory's signing secret, created (mode 0600) on first use."""
    path = data_dir / "secret.key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(32))
    return path.read_bytes()


class SessionCookies:
    """Issues, reads and clears the sign-in cookie of one app."""

    def __init__(self, settings: Settings, secret: bytes) -> None:
        self.settings = settings
        self.max_age = settings.session_seconds
        self._signer = TimestampSigner(secret, salt="labella.web-session")

    def secure(self, request: Request) -> bool:
        if self.settings.secure_cookies is not None:
            return self.settings.secure_cookies
        return request.url.scheme == "https"

    def sign_in(self, request: Request, response: Response, ctx: ServiceContext,
                user_id: int) -> None:
        """Start a session for ``user_id`` and set its cookie on ``response``."""
        with ctx.session() as s:
            secret = auth.start_session(s, user_id, ttl=timedelta(seconds=self.max_age))
        response.set_cookie(SESSION_COOKIE, self._signer.sign(secret).decode(),
                            max_age=self.max_age, httponly=True, samesite="lax",
                            secure=self.secure(request))

    def secret(self, request: Request) -> str | None:
        """The session secret of the request's cookie, when it carries a valid signature."""
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            return None
        try:
            return self._signer.unsign(cookie, max_age=self.max_age).decode()
        except (BadSignature, UnicodeDecodeError):
            return None

    def user(self, request: Request, ctx: ServiceContext) -> auth.UserPublic | None:
        """The user of the request's session cookie; ``None`` without a cookie, an
        :class:`~labella.service.errors.AuthenticationError` for an ended session."""
        secret = self.secret(request)
        if secret is None:
            return None
        with ctx.read_session() as s:
            return auth.user_for_session(s, secret)

    def sign_out(self, request: Request, response: Response, ctx: ServiceContext) -> None:
        """End the request's session (if any) and clear its cookie."""
        secret = self.secret(request)
        if secret is not None:
            with ctx.session() as s:
                auth.end_session(s, secret)
        response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax",
                               secure=self.secure(request))
