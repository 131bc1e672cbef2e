"""Input checks at the API boundary, done once for every request.

* :class:`Body` is the base of every JSON request model: no string anywhere in it
  (nested keys and values included) may hold a NUL character, which PostgreSQL
  cannot store and SQLite would keep silently.
* :data:`Id` / :data:`PathId` bound ids to what every database's integer column holds.
* :func:`check_meta` bounds a free-form JSON object by size and depth.
* :class:`RequestGuard` rejects a URL with a NUL character, and an oversize body, before
  any route runs.

Each failure is a 422 whose ``detail`` names the field (413 for a body over the limit).
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from labella.config import REQUEST_LIMITS as LIMITS
from labella.service.errors import InvalidRequestError

Id = Annotated[int, Field(ge=1, le=LIMITS.max_id, description="an id (1 to 2^31 - 1)")]
PathId = Annotated[int, Path(ge=1, le=LIMITS.max_id, description="an id (1 to 2^31 - 1)")]
Text = Annotated[str, Field(max_length=LIMITS.max_text_chars)]


def find_nul(value: Any, where: str) -> str | None:
    """Where in ``value`` (a JSON-like tree) a string holds ``\\x00``, e.g. ``meta['a'][2]``."""
    stack: list[tuple[Any, str]] = [(value, where)]
    while stack:
        v, at = stack.pop()
        if isinstance(v, str):
            if "\x00" in v:
                return at
        elif isinstance(v, dict):
            for k, sub in v.items():
                if isinstance(k, str) and "\x00" in k:
                    return f"a key of {at}"
                stack.append((sub, f"{at}[{k!r}]"))
        elif isinstance(v, (list, tuple)):
            stack.extend((sub, f"{at}[{i}]") for i, sub in enumerate(v))
    return None


def no_nul(value: str | None, field: str) -> None:
    """An :class:`InvalidRequestError` naming ``field`` when ``value`` holds ``\x00`` (for
    form fields, which do not go through :class:`Body`)."""
    if value is not None and "\x00" in value:
        raise InvalidRequestError(f"{field} contains a NUL character, which cannot be stored")


def depth(value: Any) -> int:
    """Nesting depth of objects and arrays (a scalar is 0), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            stack.extend((sub, d + 1) for sub in v.values())
            deepest = max(deepest, d + 1)
        elif isinstance(v, list):
            stack.extend((sub, d + 1) for sub in v)
            deepest = max(deepest, d + 1)
    return deepest


def check_meta(value: dict[str, Any] | None, field: str = "meta") -> dict[str, Any] | None:
    """``value`` unchanged when within :attr:`RequestLimits.max_meta_depth` and
    :attr:`~RequestLimits.max_meta_bytes`; a :class:`ValueError` naming ``field`` if not."""
    if value is None:
        return None
    d = depth(value)
    if d > LIMITS.max_meta_depth:
        raise PydanticCustomError(
            "too_deep", "{field} is nested {depth} levels deep; the limit is {limit}",
            {"field": field, "depth": d, "limit": LIMITS.max_meta_depth})
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    if size > LIMITS.max_meta_bytes:
        raise PydanticCustomError(
            "too_large", "{field} is {size} bytes as JSON; the limit is {limit}",
            {"field": field, "size": size, "limit": LIMITS.max_meta_bytes})
    return value


class Body(BaseModel):
    """Base of the JSON request models: strict types (``true`` is not the id 1, ``"5"`` is
    not a number) and no NUL character in any field."""

    model_config = ConfigDict(strict=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any, info: ValidationInfo) -> Any:
        at = find_nul(value, str(info.field_name))
        if at is not None:
            raise PydanticCustomError(
                "nul_character", "{at} contains a NUL character (\\u0000), which cannot be "
                "stored", {"at": at})
        return value


# -- before routing ----------------------------------------------------------------------


def _json_error(status: int, detail: str, error: str) -> tuple[Message, Message]:
    body = json.dumps({"detail": detail, "error": error}).encode()
    start: Message = {"type": "http.response.start", "status": status,
                      "headers": [(b"content-type", b"application/json"),
                                  (b"content-length", str(len(body)).encode())]}
    return start, {"type": "http.response.body", "body": body}


def url_problem(scope: Scope) -> str | None:
    """Why the request's URL is refused (a NUL character in the path or a query value)."""
    if "\x00" in scope.get("path", ""):
        return "the URL path contains a NUL character (%00)"
    raw = scope.get("query_string", b"")
    if b"%00" in raw or b"\x00" in raw:
        for key, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
            if "\x00" in key or "\x00" in value:
                return f"query parameter {key.replace(chr(0), '?')!r} contains a NUL character"
    return None


class BodyTooLarge(StarletteHTTPException):
    """A body that grew past the limit while it was read (no or a wrong Content-Length)."""

    def __init__(self) -> None:
        super().__init__(413, TOO_LARGE)


TOO_LARGE = f"the request body is larger than the {LIMITS.max_body_bytes:,} byte limit"


class RequestGuard:
    """ASGI middleware, before any route, page or database sees the request:

    * a 422 for a NUL character in the URL (path or query);
    * a 413 for a JSON or form body over ``max_body_bytes``, whether announced by
      ``Content-Length`` or found while reading (multipart uploads are exempt: the upload
      route streams them to disk under ``Limits.max_file_bytes``).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = url_problem(scope)
        if problem is not None:
            await _send_all(send, _json_error(422, problem, "InvalidRequestError"))
            return
        headers = dict(scope.get("headers", []))
        if headers.get(b"content-type", b"").startswith(b"multipart/"):
            await self.app(scope, receive, send)
            return
        limit = LIMITS.max_body_bytes
        try:
            declared = int(headers.get(b"content-length", b"0") or 0)
        except ValueError:
            declared = 0
        if declared > limit:
            await _send_all(send, _json_error(413, TOO_LARGE, "RequestTooLarge"))
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge()  # FastAPI passes HTTPExceptions to the handlers
            return message

        await self.app(scope, counted, send)


async def _send_all(send: Send, messages: tuple[Message, Message]) -> None:
    for message in messages:
        await send(message)
