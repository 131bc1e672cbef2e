"""Durable background jobs (aggregate: one job's record).

A job row is the single source of truth for a piece of slow work: what to do
(``kind``, ``params``), where it stands (``status``, progress, ``heartbeat_at``)
and how it ended (``result`` / ``error``). :mod:`labella.jobs.queue` is the only
code that changes these rows.

Status moves ``queued -> running -> succeeded | failed | cancelled``; a running
job whose process stopped goes back to ``queued`` (when it is resumable and has
attempts left) or to ``failed``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from labella.store import projects as _projects  # noqa: F401  (tables the foreign keys refer to)
from labella.store import users as _users  # noqa: F401
from labella.store.base import Base, utcnow

QUEUED = "queued"
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELLED = "cancelled"
JOB_STATUSES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)
TERMINAL_STATUSES = frozenset({SUCCEEDED, FAILED, CANCELLED})

LOG_MAX_LINES = 200
"""A job's log keeps only its last this many lines."""
LOG_MAX_LINE_CHARS = 2000
"""Longer log lines are cut (with an ellipsis)."""


class Job(Base):
    """One background job.

    ``project_id`` is the project the job works on (``None`` for global jobs).
    ``attempts`` counts how often a worker claimed the job; a job whose process
    stopped is retried while ``resumable`` and ``attempts < max_attempts``.
    ``log`` holds the last :data:`LOG_MAX_LINES` lines, newline separated.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in JOB_STATUSES) + ")", name="status"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # A foreign key to projects.id is added by the owner of the projects table.
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), default=None, index=True)
    kind: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), default=QUEUED, index=True)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(default=None)

    done: Mapped[int] = mapped_column(default=0)
    total: Mapped[int | None] = mapped_column(default=None)
    message: Mapped[str | None] = mapped_column(Text, default=None)
    eta_seconds: Mapped[float | None] = mapped_column(default=None)
    log: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text, default=None)

    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=3)
    resumable: Mapped[bool] = mapped_column(default=True)
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    worker_id: Mapped[str | None] = mapped_column(String(200), default=None)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None)

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    def append_log(self, lines: Iterable[str]) -> None:
        """Append ``lines`` and keep only the last :data:`LOG_MAX_LINES`."""
        self.log = capped_log(self.log, lines)


def clean_text(text: str, max_chars: int) -> str:
    """``text`` without NUL characters (PostgreSQL rejects them), cut to ``max_chars``."""
    text = text.replace("\x00", "\\0")
    if len(text) > max_chars:
        text = text[: max_chars - 1] + "…"
    return text


def log_lines(log: str) -> list[str]:
    """The stored log as a list of lines (empty for an empty log)."""
    return log.split("\n") if log else []


def capped_log(log: str, lines: Iterable[str], max_lines: int = LOG_MAX_LINES) -> str:
    """``log`` with ``lines`` appended (each split on newlines), keeping the last ``max_lines``."""
    new = [
        clean_text(part, LOG_MAX_LINE_CHARS)
        for line in lines
        for part in (str(line).splitlines() or [""])
    ]
    kept = (log_lines(log) + new)[-max_lines:] if max_lines > 0 else []
    return "\n".join(kept)
