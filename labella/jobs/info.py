"""JobInfo: an immutable snapshot of a job row, safe to hand to the API."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from labella.store.jobs import SUCCEEDED, TERMINAL_STATUSES, Job, log_lines


@dataclass(frozen=True)
class JobInfo:
    """An immutable snapshot of one job row, safe to hand to the API.

    ``progress`` is ``done / total`` in ``[0, 1]`` (``1.0`` once succeeded; ``None``
    while the total is unknown). ``eta_seconds`` is the estimated time left, from
    the rate since the current attempt started. ``log_tail`` holds the stored log
    lines (the last :data:`labella.store.jobs.LOG_MAX_LINES`), oldest first.
    """

    id: int
    project_id: int | None
    kind: str
    status: str
    params: dict[str, Any]
    result: dict[str, Any] | None
    done: int
    total: int | None
    progress: float | None
    message: str | None
    eta_seconds: float | None
    error: str | None
    log_tail: tuple[str, ...]
    attempts: int
    max_attempts: int
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    resumable: bool = True
    worker_id: str | None = None
    created_by: int | None = None

    @property
    def terminal(self) -> bool:
        """True once the job succeeded, failed or was cancelled."""
        return self.status in TERMINAL_STATUSES

    @classmethod
    def from_row(cls, job: Job) -> JobInfo:
        return cls(
            id=job.id,
            project_id=job.project_id,
            kind=job.kind,
            status=job.status,
            params=_copy_json(job.params) or {},
            result=_copy_json(job.result),
            done=job.done,
            total=job.total,
            progress=_fraction(job.status, job.done, job.total),
            message=job.message,
            eta_seconds=job.eta_seconds,
            error=job.error,
            log_tail=tuple(log_lines(job.log)),
            attempts=job.attempts,
            max_attempts=job.max_attempts,
            cancel_requested=job.cancel_requested,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            heartbeat_at=job.heartbeat_at,
            resumable=job.resumable,
            worker_id=job.worker_id,
            created_by=job.created_by,
        )


def _copy_json(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    copied: dict[str, Any] = json.loads(json.dumps(value))
    return copied


def _fraction(status: str, done: int, total: int | None) -> float | None:
    if status == SUCCEEDED:
        return 1.0
    if total is None or total <= 0:
        return None
    return min(1.0, max(0.0, done / total))


def format_time(moment: datetime | None) -> str:
    """A UTC timestamp as people read it in a log or error: ``2026-01-31 12:00:00 UTC``."""
    return "never" if moment is None else f"{moment:%Y-%m-%d %H:%M:%S} UTC"
