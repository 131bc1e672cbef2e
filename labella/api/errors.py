"""The one place that maps Labella errors to HTTP statuses."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

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


def status_for(exc: Exception) -> int:
    for cls, code in STATUS:
        if isinstance(exc, cls):
            return code
    return 500


def install(app: FastAPI) -> None:
    async def handle(request: Request, exc: Exception) -> JSONResponse:
        code = status_for(exc)
        headers = {"WWW-Authenticate": "Bearer"} if code == 401 else None
        return JSONResponse({"detail": str(exc), "error": type(exc).__name__}, status_code=code,
                            headers=headers)

    app.add_exception_handler(LabellaError, handle)
    # job-queue errors derive from LabellaError too (JobNotFoundError -> 404 by name below)
    from labella.jobs.queue import JobNotFoundError

    async def job_missing(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "error": type(exc).__name__}, status_code=404)

    app.add_exception_handler(JobNotFoundError, job_missing)
