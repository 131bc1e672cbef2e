"""What a job handler sees: its :class:`JobContext`, and the :class:`JobRegistry` of handlers.

A handler is a plain function of a context::

    def retrain(ctx: JobContext) -> dict[str, Any] | None:
        for i, batch in enumerate(batches):
            ctx.progress(i, len(batches), "training")   # raises JobCancelled on cancel
            ...
        return {"model_version": 7}                     # becomes the job's result
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from labella.jobs.info import JobInfo
from labella.jobs.queue import JobQueue
from labella.store.jobs import RUNNING

logger = logging.getLogger("labella.jobs")

ERROR_LINE_MAX_CHARS = 500


class JobCancelled(Exception):
    """Raised inside a handler when its job should stop (a cancel was requested)."""


class JobInterrupted(JobCancelled):
    """Raised inside a handler when the worker stops or lost the job (not a user's cancel).

    A resumable job is then requeued without counting the attempt.
    """


Handler = Callable[["JobContext"], "dict[str, Any] | None"]


@dataclass(frozen=True)
class Registration:
    """A job kind's handler and whether an interrupted run may be started again."""

    kind: str
    handler: Handler
    resumable: bool = True


class JobRegistry:
    """Job kind -> handler. Built-in and user job kinds register the same way."""

    def __init__(self) -> None:
        self._entries: dict[str, Registration] = {}

    def register(self, kind: str, handler: Handler, *, resumable: bool = True) -> None:
        """Register ``handler`` for ``kind``.

        ``resumable`` says a run that was interrupted (its process stopped) may be
        started again from the beginning or from the handler's own checkpoint; pass
        the same flag to :meth:`JobQueue.enqueue` (see :meth:`is_resumable`).
        """
        if not kind or not kind.strip():
            raise ValueError("a job kind must be a non-empty string")
        if kind in self._entries:
            raise ValueError(f"job kind {kind!r} is already registered")
        self._entries[kind] = Registration(kind, handler, resumable)

    def kinds(self) -> list[str]:
        return sorted(self._entries)

    def get(self, kind: str) -> Registration | None:
        return self._entries.get(kind)

    def is_resumable(self, kind: str) -> bool:
        entry = self._entries.get(kind)
        return entry.resumable if entry is not None else False

    def __contains__(self, kind: object) -> bool:
        return kind in self._entries


class JobContext:
    """What a handler gets: its job, its params and ways to report back.

    ``progress`` writes at most every ``progress_interval`` seconds (the last value
    is written when the handler ends), and checks for cancellation.
    """

    def __init__(
        self,
        queue: JobQueue,
        job: JobInfo,
        *,
        worker_id: str,
        resumable: bool = True,
        progress_interval: float = 0.25,
    ) -> None:
        self.job = job
        self.params: dict[str, Any] = dict(job.params)
        self.worker_id = worker_id
        self.resumable = resumable and job.resumable
        self._queue = queue
        self._interval = progress_interval
        self._lock = threading.Lock()
        self._done = job.done
        self._total = job.total
        self._message = job.message
        self._last_write: float | None = None
        self._last_check = time.monotonic()
        self._pending = False
        self._cancel = threading.Event()  # a user asked to cancel the job
        self._interrupt = threading.Event()  # the worker stops, or the job is no longer ours
        self._closed = threading.Event()  # the handler returned or raised

    # -- for handlers -----------------------------------------------------------

    def progress(self, done: int, total: int | None = None, message: str | None = None) -> None:
        """Report ``done`` of ``total`` units; raises :class:`JobCancelled` if the job should stop.

        ``total`` / ``message`` left as ``None`` keep their previous values.
        """
        if done < 0 or (total is not None and total < 0):
            raise ValueError(f"progress must not be negative, got done={done}, total={total}")
        self.raise_if_cancelled()
        with self._lock:
            self._done = done
            if total is not None:
                self._total = total
            if message is not None:
                self._message = message
            now = time.monotonic()
            finished = self._total is not None and done >= self._total
            due = self._last_write is None or now - self._last_write >= self._interval
            self._pending = True
            if due or finished:
                self._write_locked()
        self.raise_if_cancelled()

    def log(self, line: str) -> None:
        """Append a line to the job's log (kept to its last lines)."""
        self._queue.log(self.job.id, line)

    def cancelled(self) -> bool:
        """True when the job should stop (checks the database at most every ``progress_interval``)."""
        if self._cancel.is_set() or self._interrupt.is_set():
            return True
        if time.monotonic() - self._last_check >= self._interval:
            self._refresh(heartbeat=False)
        return self._cancel.is_set() or self._interrupt.is_set()

    def raise_if_cancelled(self) -> None:
        """Raise :class:`JobCancelled` (or :class:`JobInterrupted`) when the job should stop."""
        if self._cancel.is_set():
            raise JobCancelled(f"job {self.job.id} was cancelled")
        if self._interrupt.is_set():
            raise JobInterrupted(f"job {self.job.id} was interrupted: the worker is stopping")

    # -- for the runner ---------------------------------------------------------

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    @property
    def interrupted(self) -> bool:
        return self._interrupt.is_set()

    def interrupt(self) -> None:
        """Ask the handler to stop at its next progress call (the worker is stopping)."""
        self._interrupt.set()

    def close(self) -> None:
        """The handler ended: no more heartbeats or ownership warnings for this context."""
        self._closed.set()

    def flush(self) -> None:
        """Write the last reported progress if it was not written yet (errors are logged)."""
        try:
            with self._lock:
                if self._pending:
                    self._write_locked()
        except Exception:
            logger.warning("job %d: could not record its last progress", self.job.id,
                           exc_info=True)

    def heartbeat(self) -> None:
        """Refresh ``heartbeat_at`` and pick up a cancel request (the heartbeat thread calls it)."""
        if not self._closed.is_set():
            self._refresh(heartbeat=True)

    def _refresh(self, *, heartbeat: bool) -> None:
        self._last_check = time.monotonic()
        if heartbeat and not self._queue.heartbeat(self.job.id, self.worker_id):
            self._lost()
            return
        info = self._queue.get(self.job.id)
        if info.status != RUNNING or info.worker_id != self.worker_id:
            self._lost()
        elif info.cancel_requested:
            self._cancel.set()

    def _lost(self) -> None:
        if not self._interrupt.is_set() and not self._closed.is_set():
            logger.warning("job %d is no longer running under %s; stopping its handler",
                           self.job.id, self.worker_id)
        self._interrupt.set()

    def _write_locked(self) -> None:
        stop = self._queue.progress(
            self.job.id, done=self._done, total=self._total, message=self._message,
            worker_id=self.worker_id,
        )
        self._pending = False
        self._last_write = time.monotonic()
        self._last_check = self._last_write
        if stop:
            info = self._queue.get(self.job.id)
            if info.status == RUNNING and info.worker_id == self.worker_id:
                self._cancel.set()
            else:
                self._lost()


_ABS_PATH = re.compile(r"""(?<![\w.:/])(?:/[^\s/'"]+)+/([^\s/'"]+)""")


def hide_paths(text: str) -> str:
    """``text`` with every absolute server path cut to its last part (members of a project
    read job errors; where the server keeps its files is not theirs to see)."""
    return _ABS_PATH.sub(lambda m: m.group(1), text)


def describe_error(exc: BaseException) -> str:
    """``"ExceptionType: message"`` on one line, for a job's ``error`` (no server paths)."""
    text = " ".join(line.strip() for line in hide_paths(str(exc)).splitlines() if line.strip())
    out = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return out if len(out) <= ERROR_LINE_MAX_CHARS else out[: ERROR_LINE_MAX_CHARS - 1] + "…"
