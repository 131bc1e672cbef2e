"""The one place that maps errors to HTTP statuses, and the one error body.

Every error reply, whatever raised it, is an :class:`ErrorModel`:
``{"detail": str, "error": ClassName}``, plus ``fields`` when request validation
failed (one entry per bad field, ``loc`` naming it, e.g. ``["body", "meta"]``).
Never a traceback, a server path or the offending input.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DataError as DatabaseDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from labella.config import REQUEST_LIMITS
from labella.errors import (
    DataError,
    LabellaError,
    PoolExhaustedError,
    UnknownNameError,
    UnsafeFormatError,
)
from labella.service.errors import (
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from labella.tasks.classification import AnnotationError

log = logging.getLogger(__name__)

STATUS: list[tuple[type[Exception], int]] = [
    (AuthenticationError, 401),
    (PermissionDeniedError, 403),
    (NotFoundError, 404),
    (ConflictError, 409),
    (PoolExhaustedError, 409),
    (InvalidRequestError, 422),
    (AnnotationError, 422),
    (UnknownNameError, 422),
    (DataError, 422),
    (UnsafeFormatError, 422),
    (LabellaError, 400),
]


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorModel(BaseModel):
    """The body of every error reply."""

    detail: str
    error: str
    fields: list[FieldError] | None = None


ERROR_TEXT = {
    400: "The request cannot be served (details in the reply).",
    401: "No valid credentials: sign in, or send `Authorization: Bearer <token>`.",
    403: "Signed in, but this needs a role the caller lacks (or a same-site request).",
    404: "No such object, or the caller may not see it.",
    409: "The request clashes with the current state.",
    413: f"The body is larger than {REQUEST_LIMITS.max_body_bytes:,} bytes.",
    422: "A parameter or body field is missing, malformed or beyond its limit; `detail` "
         "names it and `fields` lists each one.",
    429: "Too many failed sign-ins; retry after `Retry-After` seconds.",
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses, all with :class:`ErrorModel`."""
    return {code: {"model": ErrorModel, "description": ERROR_TEXT[code]} for code in codes}


def status_for(exc: Exception) -> int:
    for cls, code in STATUS:
        if isinstance(exc, cls):
            return code
    return 500


def _reply(code: int, detail: str, error: str, *, headers: dict[str, str] | None = None,
           fields: list[dict[str, Any]] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"detail": detail, "error": error}
    if fields is not None:
        body["fields"] = fields
    if code == 401:
        headers = {"WWW-Authenticate": "Bearer", **(headers or {})}
    return JSONResponse(body, status_code=code, headers=headers)


def _where(loc: Sequence[Any]) -> str:
    return ".".join(str(p) for p in loc) or "request"


def validation_reply(errors: Sequence[Any]) -> JSONResponse:
    fields = [{"loc": [p if isinstance(p, int) else str(p) for p in e.get("loc", ())],
               "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))} for e in errors]
    detail = "; ".join(f"{_where(f['loc'])}: {f['msg']}" for f in fields[:5])
    if len(fields) > 5:
        detail += f"; and {len(fields) - 5} more"
    return _reply(422, detail or "the request is not valid", "ValidationError", fields=fields)


def install(app: FastAPI) -> None:
    from labella.api.security import TooManyAttemptsError
    from labella.jobs.queue import JobNotFoundError

    async def labella_error(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, TooManyAttemptsError):
            return _reply(429, str(exc), type(exc).__name__,
                          headers={"Retry-After": str(exc.retry_after)})
        code = 404 if isinstance(exc, JobNotFoundError) else status_for(exc)
        return _reply(code, str(exc), type(exc).__name__)

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return validation_reply(exc.errors())

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 400:  # FastAPI could not parse the body (not JSON, not UTF-8)
            msg = "the body could not be parsed: send UTF-8 JSON (or the form the operation takes)"
            return _reply(422, f"body: {msg}", "ValidationError",
                          fields=[{"loc": ["body"], "msg": msg, "type": "body_unparsable"}])
        detail = str(exc.detail)
        if exc.status_code == 413:
            detail = (f"the request body is larger than the {REQUEST_LIMITS.max_body_bytes:,} "
                      f"byte limit")
        return _reply(exc.status_code, detail, type(exc).__name__,
                      headers=dict(exc.headers) if exc.headers else None)

    async def database_refused(request: Request, exc: Exception) -> JSONResponse:
        # a safety net: the boundary checks should have caught this value first
        log.warning("the database refused a value on %s %s: %s", request.method,
                    request.url.path, type(exc).__name__)
        return _reply(422, "a value does not fit the database (too long, out of range or "
                           "holding a NUL character)", "InvalidRequestError")

    async def internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _reply(500, "internal server error", "InternalError")

    app.add_exception_handler(LabellaError, labella_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(DatabaseDataError, database_refused)
    app.add_exception_handler(Exception, internal)
