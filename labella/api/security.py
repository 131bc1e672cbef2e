"""What protects browsers and passwords: response headers, same-origin checks, sign-in throttling.

* :class:`SecurityHeaders` sets a Content Security Policy (scripts, styles, images
  and requests only from this server; no framing), ``X-Frame-Options: DENY``,
  ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy`` on every reply.
* :func:`require_same_origin` refuses a state-changing browser request that
  another site started (``Sec-Fetch-Site``, then ``Origin``, then ``Referer``).
  With the ``SameSite=Lax`` cookie and the ``X-Labella-CSRF`` header the pages'
  API calls send, this is the CSRF defence.
* :class:`LoginThrottle` counts failed sign-ins per username and per client address
  with the ``limits`` library (a moving window; in memory, or in a shared store such
  as Redis); beyond the limit every try, right password or not, gets a 429 with
  ``Retry-After`` until the window has room again.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from fastapi import Request
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from labella.config import Settings
from labella.errors import LabellaError
from labella.service.errors import AuthenticationError, PermissionDeniedError

PAGE_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
               "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
               "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
"""Every page: only this server's scripts (no inline script; JSON data blocks are not run).
Inline *styles* are allowed because Plotly sets them on the charts it draws."""

MAP_POLICY = PAGE_POLICY.replace("script-src 'self'", "script-src 'self' 'unsafe-eval'")
"""The data map page: Plotly's WebGL traces compile their shaders' drawing code with
``new Function`` (the regl library), which only ``'unsafe-eval'`` allows; scripts still
come from this server only, none inline."""

DOCS_POLICY = ("default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
               "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
               "img-src 'self' data: https://fastapi.tiangolo.com; connect-src 'self'; "
               "object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
"""``/docs`` and ``/redoc`` (FastAPI's pages load Swagger UI / ReDoc from their CDN)."""

DOCS_PATHS = ("/docs", "/redoc")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class SecurityHeaders:
    """ASGI middleware adding the security headers to every HTTP reply."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = str(scope.get("path", "")).startswith(DOCS_PATHS)
        extra = [(b"content-security-policy", (DOCS_POLICY if docs else PAGE_POLICY).encode()),
                 (b"x-frame-options", b"DENY"),
                 (b"x-content-type-options", b"nosniff"),
                 (b"referrer-policy", b"same-origin")]

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *((k, v) for k, v in extra if k not in present)]
            await send(message)

        await self.app(scope, receive, with_headers)


def require_same_origin(request: Request) -> None:
    """A :class:`PermissionDeniedError` when a browser sent this request from another site.

    Browsers say where a request comes from with ``Sec-Fetch-Site`` (current ones) or
    ``Origin`` / ``Referer``; a request with none of them (a script, ``curl``) is not a
    cross-site browser request and passes.
    """
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        raise PermissionDeniedError(f"refused a {site} request: submit the form from this "
                                    "server's own pages")
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source or (source == "null" and site == "same-origin"):
        return
    host = request.headers.get("host", "")
    if urlsplit(source).netloc.lower() != host.lower():
        raise PermissionDeniedError("refused a request from another site (its Origin or "
                                    "Referer is not this server)")


# -- sign-in throttling ------------------------------------------------------------------


class TooManyAttemptsError(LabellaError):
    """Too many failed sign-ins; ``retry_after`` says in how many seconds to try again."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed sign-ins; try again in {retry_after} seconds")
        self.retry_after = retry_after


class LoginThrottle:
    """Failed sign-ins per username and per client address, in a moving window."""

    def __init__(self, settings: Settings) -> None:
        self._limiter = MovingWindowRateLimiter(storage_from_string(settings.rate_limit_storage))
        self._per_user = parse(settings.login_limit_per_user)
        self._per_address = parse(settings.login_limit_per_address)

    def _keys(self, username: str, address: str) -> list[tuple[object, str, str]]:
        return [(self._per_user, "user", username.strip().lower()[:200]),
                (self._per_address, "address", address)]

    def check(self, username: str, address: str) -> None:
        """A :class:`TooManyAttemptsError` when either counter is spent."""
        wait = 0.0
        for item, kind, key in self._keys(username, address):
            if not self._limiter.test(item, kind, key):  # type: ignore[arg-type]
                reset = self._limiter.get_window_stats(item, kind, key).reset_time  # type: ignore[arg-type]
                wait = max(wait, reset - time.time())
        if wait > 0:
            raise TooManyAttemptsError(max(1, math.ceil(wait)))

    def failed(self, username: str, address: str) -> None:
        for item, kind, key in self._keys(username, address):
            self._limiter.hit(item, kind, key)  # type: ignore[arg-type]

    def succeeded(self, username: str) -> None:
        """A right password clears that username's count (not the address's)."""
        item, kind, key = self._keys(username, "")[0]
        self._limiter.clear(item, kind, key)  # type: ignore[arg-type]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@contextmanager
def login_throttle(request: Request, username: str) -> Iterator[None]:
    """Wrap a password check: refuse it when throttled, count it when it fails."""
    throttle: LoginThrottle = request.app.state.login_throttle
    address = client_address(request)
    throttle.check(username, address)
    try:
        yield
    except AuthenticationError:
        throttle.failed(username, address)
        raise
    throttle.succeeded(username)
