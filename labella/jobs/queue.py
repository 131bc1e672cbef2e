"""The durable job queue: enqueue, claim, heartbeat, progress, finish, recover.

Every method is one short transaction on the ``jobs`` table, so the web process,
local worker threads and other worker processes can share one database. Claiming
is atomic: on PostgreSQL the oldest queued row is locked with ``FOR UPDATE SKIP
LOCKED``; on SQLite every transaction starts with ``BEGIN IMMEDIATE`` (see
:mod:`labella.store.engine`), which serialises the select-then-update.

Methods that a worker calls for a job it runs take an optional ``worker_id``:
given, they act only while the job is still ``running`` under that worker, so a
worker whose job was recovered from under it (its heartbeat looked dead) cannot
overwrite the job's next attempt.
"""

from __future__ import annotations

import builtins
import json
import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from labella.errors import LabellaError
from labella.jobs.info import JobInfo, format_time
from labella.store.base import utcnow
from labella.store.engine import transaction
from labella.store.jobs import (
    CANCELLED,
    FAILED,
    JOB_STATUSES,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    Job,
    clean_text,
)

__all__ = ["JobInfo", "JobNotFoundError", "JobQueue", "format_time"]

logger = logging.getLogger("labella.jobs")

MESSAGE_MAX_CHARS = 1000
ERROR_MAX_CHARS = 4000

Clock = Callable[[], datetime]


class JobNotFoundError(LabellaError):
    """No job has the requested id."""

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        super().__init__(f"no job with id {job_id}")


def _check_json(what: str, value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise TypeError(f"{what} must be a dict or None, got {type(value).__name__}")
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be JSON-serialisable (no NaN / infinity): {exc}") from exc


class JobQueue:
    """Durable job records in the ``jobs`` table.

    Args:
        session_factory: from :func:`labella.store.engine.make_session_factory`.
        heartbeat_seconds: how often a worker heartbeats a running job; a job
            silent for ``4 * heartbeat_seconds`` is considered dead by :meth:`recover`.
        clock: the current UTC time (injected for tests).
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        heartbeat_seconds: float = 5.0,
        clock: Clock = utcnow,
    ) -> None:
        if heartbeat_seconds <= 0:
            raise ValueError(f"heartbeat_seconds must be positive, got {heartbeat_seconds}")
        self.session_factory = session_factory
        self.heartbeat_seconds = heartbeat_seconds
        self.clock = clock

    @property
    def stale_after(self) -> float:
        """Seconds without a heartbeat after which a running job counts as dead."""
        return 4 * self.heartbeat_seconds

    # -- creating and reading -------------------------------------------------

    def enqueue(
        self,
        kind: str,
        *,
        params: dict[str, Any] | None = None,
        project_id: int | None = None,
        created_by: int | None = None,
        resumable: bool = True,
        max_attempts: int = 3,
    ) -> JobInfo:
        """Record a new ``queued`` job of ``kind``; a worker picks it up later."""
        if not kind or not kind.strip():
            raise ValueError("a job kind must be a non-empty string")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        _check_json("job params", params)
        with transaction(self.session_factory) as session:
            job = Job(
                kind=kind,
                status=QUEUED,
                params=dict(params or {}),
                project_id=project_id,
                created_by=created_by,
                resumable=resumable,
                max_attempts=max_attempts,
                created_at=self.clock(),
            )
            session.add(job)
            session.flush()
            info = JobInfo.from_row(job)
        logger.info("job %d (%s) queued", info.id, kind)
        return info

    def get(self, job_id: int) -> JobInfo:
        """The job's current state; :class:`JobNotFoundError` if there is none."""
        with transaction(self.session_factory) as session:
            return JobInfo.from_row(self._row(session, job_id))

    def list(
        self,
        *,
        project_id: int | None = None,
        status: str | Iterable[str] | None = None,
        kinds: Iterable[str] | None = None,
        limit: int = 50,
    ) -> builtins.list[JobInfo]:
        """Jobs, newest first, optionally of one project, status(es) and kinds."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        query = select(Job).order_by(Job.id.desc()).limit(limit)
        if project_id is not None:
            query = query.where(Job.project_id == project_id)
        if status is not None:
            statuses = [status] if isinstance(status, str) else builtins.list(status)
            unknown = sorted(set(statuses) - set(JOB_STATUSES))
            if unknown:
                raise ValueError(
                    f"unknown job status {', '.join(map(repr, unknown))}; "
                    f"expected one of {', '.join(JOB_STATUSES)}"
                )
            query = query.where(Job.status.in_(statuses))
        if kinds is not None:
            query = query.where(Job.kind.in_(builtins.list(kinds)))
        with transaction(self.session_factory) as session:
            return [JobInfo.from_row(job) for job in session.scalars(query)]

    def wait(self, job_id: int, *, timeout: float, poll_seconds: float = 0.1) -> JobInfo:
        """Poll until the job is terminal or ``timeout`` seconds passed; its latest state."""
        deadline = time.monotonic() + timeout
        while True:
            info = self.get(job_id)
            if info.terminal or time.monotonic() >= deadline:
                return info
            time.sleep(min(poll_seconds, max(0.0, deadline - time.monotonic())))

    # -- the worker's side ----------------------------------------------------

    def claim(self, worker_id: str, *, kinds: Iterable[str] | None = None) -> JobInfo | None:
        """Atomically move the oldest queued job (of ``kinds``) to ``running`` for ``worker_id``.

        ``None`` when nothing is queued. Several workers (threads or processes)
        may claim at once; each job goes to exactly one of them.
        """
        query = (
            select(Job)
            .where(Job.status == QUEUED)
            .order_by(Job.id)
            .limit(1)
            .with_for_update(skip_locked=True)  # PostgreSQL; SQLite: BEGIN IMMEDIATE
        )
        if kinds is not None:
            wanted = builtins.list(kinds)
            if not wanted:
                return None
            query = query.where(Job.kind.in_(wanted))
        with transaction(self.session_factory) as session:
            job = session.scalars(query).first()
            if job is None:
                return None
            now = self.clock()
            job.status = RUNNING
            job.worker_id = worker_id
            job.attempts += 1
            job.started_at = now
            job.heartbeat_at = now
            job.finished_at = None
            job.eta_seconds = None
            job.append_log([f"{_stamp(now)} attempt {job.attempts} started by {worker_id}"])
            info = JobInfo.from_row(job)
        logger.info("job %d (%s) claimed by %s, attempt %d", info.id, info.kind, worker_id,
                    info.attempts)
        return info

    def heartbeat(self, job_id: int, worker_id: str) -> bool:
        """Record that ``worker_id`` still runs the job; False if it is no longer ours/running."""
        with transaction(self.session_factory) as session:
            outcome = session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == RUNNING, Job.worker_id == worker_id)
                .values(heartbeat_at=self.clock())
            )
            return bool(getattr(outcome, "rowcount", 0) == 1)

    def progress(
        self,
        job_id: int,
        *,
        done: int,
        total: int | None = None,
        message: str | None = None,
        worker_id: str | None = None,
    ) -> bool:
        """Record progress (and a heartbeat); True when the job should stop.

        ``total`` / ``message`` left as ``None`` keep their previous values. The ETA
        is ``elapsed / done * (total - done)`` with ``elapsed`` counted from the
        start of this attempt. Returns ``cancel_requested`` — or True when
        ``worker_id`` is given and the job is no longer running under it.
        """
        if done < 0:
            raise ValueError(f"progress done must be >= 0, got {done}")
        if total is not None and total < 0:
            raise ValueError(f"progress total must be >= 0, got {total}")
        with transaction(self.session_factory) as session:
            job = self._row(session, job_id, lock=True)
            if worker_id is not None and not _owned(job, worker_id):
                return True
            if job.terminal:
                return True
            now = self.clock()
            job.done = done
            if total is not None:
                job.total = total
            if message is not None:
                job.message = clean_text(message, MESSAGE_MAX_CHARS)
            job.eta_seconds = _eta(job.started_at, now, job.done, job.total)
            if job.status == RUNNING:
                job.heartbeat_at = now
            return job.cancel_requested

    def log(self, job_id: int, line: str) -> None:
        """Append ``line`` (split on newlines) to the job's log, which keeps its last lines."""
        with transaction(self.session_factory) as session:
            job = self._row(session, job_id, lock=True)
            job.append_log(_stamped(self.clock(), line))

    def finish(
        self, job_id: int, *, result: dict[str, Any] | None = None, worker_id: str | None = None
    ) -> JobInfo:
        """Mark the job ``succeeded`` with ``result``; a terminal job is left unchanged."""
        _check_json("job result", result)
        return self._end(job_id, SUCCEEDED, worker_id=worker_id, result=result,
                         line="succeeded")

    def fail(self, job_id: int, error: str, *, worker_id: str | None = None) -> JobInfo:
        """Mark the job ``failed`` with ``error``; a terminal job is left unchanged."""
        return self._end(job_id, FAILED, worker_id=worker_id, error=error,
                         line=f"failed: {error}")

    def mark_cancelled(self, job_id: int, *, worker_id: str | None = None) -> JobInfo:
        """A running job's handler stopped on a cancel request: mark it ``cancelled``."""
        return self._end(job_id, CANCELLED, worker_id=worker_id, line="cancelled")

    def cancel(self, job_id: int) -> JobInfo:
        """Cancel a job.

        A queued job is cancelled at once; a running one gets ``cancel_requested``
        and its handler stops at its next progress call; a terminal job is unchanged.
        """
        with transaction(self.session_factory) as session:
            job = self._row(session, job_id, lock=True)
            now = self.clock()
            if job.status == QUEUED:
                job.status = CANCELLED
                job.cancel_requested = True
                job.finished_at = now
                job.eta_seconds = None
                job.append_log([f"{_stamp(now)} cancelled before it started"])
            elif job.status == RUNNING and not job.cancel_requested:
                job.cancel_requested = True
                job.append_log([f"{_stamp(now)} cancel requested"])
            info = JobInfo.from_row(job)
        logger.info("job %d (%s): cancel -> %s", job_id, info.kind, info.status)
        return info

    def requeue(self, job_id: int, *, worker_id: str | None = None, reason: str) -> JobInfo:
        """Give a running job back to the queue without counting the attempt.

        For a worker that stops (server shutdown) in the middle of a resumable job.
        """
        with transaction(self.session_factory) as session:
            job = self._row(session, job_id, lock=True)
            if job.status == RUNNING and (worker_id is None or job.worker_id == worker_id):
                job.status = QUEUED
                job.attempts = max(0, job.attempts - 1)
                job.worker_id = None
                job.heartbeat_at = None
                job.eta_seconds = None
                job.append_log([f"{_stamp(self.clock())} requeued: {reason}"])
            return JobInfo.from_row(job)

    def recover(self, *, stale_after: float | None = None) -> builtins.list[JobInfo]:
        """Requeue or fail running jobs whose worker stopped; the jobs it changed.

        A ``running`` job whose last heartbeat is older than ``stale_after`` seconds
        (default ``4 * heartbeat_seconds``; ``0`` means every running job — for a
        server start, when no other process can be running them) is requeued when it
        is resumable with attempts left, cancelled when a cancel was requested, and
        failed with the reason otherwise.
        """
        stale = self.stale_after if stale_after is None else stale_after
        if stale < 0:
            raise ValueError(f"stale_after must be >= 0, got {stale}")
        # a row another transaction holds is being written by a live worker: skip it,
        # unless every running job is to be recovered (stale 0), then wait for the lock
        query = (
            select(Job)
            .where(Job.status == RUNNING)
            .order_by(Job.id)
            .with_for_update(skip_locked=stale > 0)
        )
        changed: builtins.list[JobInfo] = []
        with transaction(self.session_factory) as session:
            now = self.clock()
            if stale > 0:
                cutoff = now - timedelta(seconds=stale)
                query = query.where(or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < cutoff))
            for job in session.scalars(query).all():
                self._recover_one(job, now)
                changed.append(JobInfo.from_row(job))
        for info in changed:
            logger.warning("job %d (%s) recovered after its worker stopped: %s", info.id,
                           info.kind, info.status if info.error is None else info.error)
        return changed

    # -- helpers ----------------------------------------------------------------

    def _recover_one(self, job: Job, now: datetime) -> None:
        stopped = f"the process running this job stopped (last heartbeat {format_time(job.heartbeat_at)})"
        job.worker_id = None
        job.eta_seconds = None
        if job.cancel_requested:
            job.status = CANCELLED
            job.finished_at = now
            job.append_log([f"{_stamp(now)} cancelled: {stopped}"])
        elif job.resumable and job.attempts < job.max_attempts:
            job.status = QUEUED
            job.heartbeat_at = None
            job.append_log([f"{_stamp(now)} requeued after the process running it stopped"])
        else:
            plural = "" if job.attempts == 1 else "s"
            reason = (
                "not resumable" if not job.resumable
                else f"gave up after {job.attempts} attempt{plural}"
            )
            job.status = FAILED
            job.error = f"{stopped}; {reason}"
            job.finished_at = now
            job.append_log([f"{_stamp(now)} failed: {job.error}"])

    def _end(
        self,
        job_id: int,
        status: str,
        *,
        worker_id: str | None,
        line: str,
        result: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> JobInfo:
        with transaction(self.session_factory) as session:
            job = self._row(session, job_id, lock=True)
            if job.terminal or (worker_id is not None and not _owned(job, worker_id)):
                logger.warning("job %d: not marking it %s; it is %s (worker %s)", job_id, status,
                               job.status, job.worker_id)
                return JobInfo.from_row(job)
            now = self.clock()
            job.status = status
            job.finished_at = now
            job.eta_seconds = None
            if result is not None:
                job.result = dict(result)
            if error is not None:
                job.error = clean_text(error, ERROR_MAX_CHARS)
            if status == SUCCEEDED and job.total is not None and job.done < job.total:
                job.done = job.total
            job.append_log(_stamped(now, line))
            info = JobInfo.from_row(job)
        logger.info("job %d (%s) %s", job_id, info.kind, status)
        return info

    @staticmethod
    def _row(session: Session, job_id: int, *, lock: bool = False) -> Job:
        job = session.get(Job, job_id, with_for_update=lock or None)
        if job is None:
            raise JobNotFoundError(job_id)
        return job


def _owned(job: Job, worker_id: str) -> bool:
    return job.status == RUNNING and job.worker_id == worker_id


def _eta(started: datetime | None, now: datetime, done: int, total: int | None) -> float | None:
    if started is None or total is None or done <= 0:
        return None
    elapsed = max(0.0, (now - started).total_seconds())
    return elapsed / done * max(0, total - done)


def _stamp(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S}"


def _stamped(moment: datetime, text: str) -> builtins.list[str]:
    """``text`` as log lines; the first carries the time."""
    lines = str(text).splitlines() or [""]
    return [f"{_stamp(moment)} {lines[0]}", *lines[1:]]
