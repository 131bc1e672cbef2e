"""Run queued jobs in this process: handlers, their context, and a threaded worker.

The runner knows job kinds only through the :class:`JobRegistry` it is given;
the service layer registers the handlers. A handler is a plain function::

    def retrain(ctx: JobContext) -> dict[str, Any] | None:
        for i, batch in enumerate(batches):
            ctx.progress(i, len(batches), "training")   # raises JobCancelled on cancel
            ...
        return {"model_version": 7}                     # becomes the job's result

Returning means the job ``succeeded``; raising :class:`JobCancelled` means
``cancelled``; any other exception means ``failed`` (one line in ``error``, server paths
cut to file names; the traceback goes to the server's log only, as the job's log is read
by project members). While a handler runs, a heartbeat thread keeps the
row's ``heartbeat_at`` fresh so that :meth:`JobQueue.recover` can tell a live job
from one whose process died.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterable

from labella._threads import run_in_background_priority
from labella.errors import LabellaError
from labella.jobs.context import (
    Handler,
    JobCancelled,
    JobContext,
    JobInterrupted,
    JobRegistry,
    Registration,
    describe_error,
)
from labella.jobs.info import JobInfo
from labella.jobs.queue import JobQueue

logger = logging.getLogger("labella.jobs")

__all__ = [
    "Handler",
    "JobCancelled",
    "JobContext",
    "JobInterrupted",
    "JobRegistry",
    "LocalWorker",
    "Registration",
    "describe_error",
]


class _Heartbeat:
    """A thread that heartbeats one running job until the block ends."""

    def __init__(self, ctx: JobContext, interval: float) -> None:
        self._ctx = ctx
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"labella-job-{ctx.job.id}-heartbeat", daemon=True
        )

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self._interval + 1.0)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._ctx.heartbeat()
            except Exception:
                logger.warning("job %d: heartbeat failed", self._ctx.job.id, exc_info=True)


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class LocalWorker:
    """Threads in this process that claim queued jobs and run their handlers.

    Args:
        queue: the job queue.
        registry: the handlers, by job kind. A claimed job of an unknown kind fails.
        threads: how many jobs run at once.
        poll_seconds: how long an idle thread waits before looking for work again
            (:meth:`wake` cuts the wait short).
        worker_id: names this worker in the job rows (default: host, pid, random).
        kinds: claim only these kinds (default: any kind, so unknown kinds fail
            loudly instead of waiting forever).
        progress_interval: least seconds between two progress writes of one job.
    """

    def __init__(
        self,
        queue: JobQueue,
        registry: JobRegistry,
        *,
        threads: int = 1,
        poll_seconds: float = 0.5,
        worker_id: str | None = None,
        kinds: Iterable[str] | None = None,
        progress_interval: float = 0.25,
    ) -> None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        if poll_seconds <= 0:
            raise ValueError(f"poll_seconds must be positive, got {poll_seconds}")
        self.queue = queue
        self.registry = registry
        self.threads = threads
        self.poll_seconds = poll_seconds
        self.worker_id = worker_id or default_worker_id()
        self.kinds = list(kinds) if kinds is not None else None
        self.progress_interval = progress_interval
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._hard_stop = threading.Event()
        self._cond = threading.Condition()
        self._wakes = 0
        self._lock = threading.Lock()
        self._active: dict[int, JobContext] = {}
        self._next_recover = 0.0

    # -- lifecycle ----------------------------------------------------------------

    def start(self, *, recover: bool = True) -> None:
        """Start the threads; first :meth:`JobQueue.recover` every running job when asked.

        ``recover=True`` is for a server start, when no other process can be running
        jobs of this database: their jobs are requeued or failed.
        """
        if any(t.is_alive() for t in self._threads):
            raise RuntimeError(f"job worker {self.worker_id} is already running")
        self._stopping.clear()
        self._hard_stop.clear()
        if recover:
            self.queue.recover(stale_after=0)
        self._next_recover = time.monotonic() + self.queue.stale_after
        self._threads = [
            threading.Thread(target=self._loop, args=(i,), name=f"labella-jobs-{i}", daemon=True)
            for i in range(self.threads)
        ]
        for thread in self._threads:
            thread.start()
        logger.info("job worker %s started with %d thread(s)", self.worker_id, self.threads)

    def wake(self) -> None:
        """A job was enqueued: idle threads claim now instead of at their next poll."""
        with self._cond:
            self._wakes += 1
            self._cond.notify_all()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop claiming and wind down in-flight jobs.

        Resumable jobs are interrupted at their handler's next progress call and go
        back to the queue (the attempt is not counted); other jobs get ``timeout``
        seconds to finish, then are interrupted too and fail with the reason (their
        handler gets up to one more second to reach a progress call). A handler
        that never calls progress cannot be stopped: its thread is left running
        (daemon) and a warning is logged.
        """
        self._stopping.set()
        self.wake()
        with self._lock:
            for ctx in self._active.values():
                if ctx.resumable:
                    ctx.interrupt()
        deadline = time.monotonic() + timeout
        self._join(deadline)
        if any(t.is_alive() for t in self._threads):
            self._hard_stop.set()
            with self._lock:
                for ctx in self._active.values():
                    ctx.interrupt()
            self._join(time.monotonic() + min(1.0, timeout))
        alive = [t.name for t in self._threads if t.is_alive()]
        if alive:
            logger.warning("job worker %s: %d thread(s) still busy after %.1f s: %s",
                           self.worker_id, len(alive), timeout, ", ".join(alive))
            self._threads = [t for t in self._threads if t.is_alive()]
            return
        logger.info("job worker %s stopped", self.worker_id)
        self._threads = []
        self._stopping.clear()  # run_one() works again; start() may start afresh
        self._hard_stop.clear()

    def run_one(self) -> JobInfo | None:
        """Claim one job and run it in this thread; its final state, or None if none was queued."""
        return self._claim_and_run(f"{self.worker_id}/sync")

    # -- internals ------------------------------------------------------------------

    def _join(self, deadline: float) -> None:
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def _loop(self, index: int) -> None:
        run_in_background_priority()  # jobs take the CPU that requests leave
        worker_id = f"{self.worker_id}/{index}"
        while not self._stopping.is_set():
            with self._cond:
                seen = self._wakes
            ran: JobInfo | None = None
            try:
                if index == 0:
                    self._maybe_recover()
                ran = self._claim_and_run(worker_id)
            except Exception:
                logger.exception("job worker %s: unexpected error", worker_id)
            if ran is None:
                with self._cond:
                    if self._wakes == seen and not self._stopping.is_set():
                        self._cond.wait(self.poll_seconds)

    def _maybe_recover(self) -> None:
        """Now and then, recover jobs of other worker processes that died."""
        now = time.monotonic()
        if now >= self._next_recover:
            self._next_recover = now + self.queue.stale_after
            self.queue.recover()

    def _claim_and_run(self, worker_id: str) -> JobInfo | None:
        if self._stopping.is_set():
            return None
        job = self.queue.claim(worker_id, kinds=self.kinds)
        if job is None:
            return None
        return self._run(job, worker_id)

    def _run(self, job: JobInfo, worker_id: str) -> JobInfo:
        entry = self.registry.get(job.kind)
        if entry is None:
            logger.warning("job %d: no handler for job kind %r", job.id, job.kind)
            return self.queue.fail(job.id, f"no handler for job kind {job.kind!r}",
                                   worker_id=worker_id)
        ctx = JobContext(self.queue, job, worker_id=worker_id, resumable=entry.resumable,
                         progress_interval=self.progress_interval)
        with self._lock:
            self._active[job.id] = ctx
            if self._hard_stop.is_set() or (self._stopping.is_set() and ctx.resumable):
                ctx.interrupt()
        started = time.monotonic()
        try:
            with _Heartbeat(ctx, self.queue.heartbeat_seconds):
                return self._call(entry, ctx)
        finally:
            with self._lock:
                self._active.pop(job.id, None)
            logger.info("job %d (%s) ran %.2f s", job.id, job.kind, time.monotonic() - started)

    def _call(self, entry: Registration, ctx: JobContext) -> JobInfo:
        job_id, worker_id = ctx.job.id, ctx.worker_id
        try:
            try:
                result = entry.handler(ctx)
            finally:
                ctx.close()
        except JobCancelled:
            ctx.flush()
            if ctx.interrupted and not ctx.cancel_requested:
                return self._interrupted(ctx)
            return self.queue.mark_cancelled(job_id, worker_id=worker_id)
        except Exception as exc:
            ctx.flush()
            logger.warning("job %d (%s) failed", job_id, entry.kind, exc_info=True)
            if not isinstance(exc, LabellaError):  # bad input is said in words
                # the traceback stays in the server's log: project members read this one
                self.queue.log(job_id, f"unexpected {type(exc).__name__}; the server's log "
                                       f"has the details under job {job_id}")
            return self.queue.fail(job_id, describe_error(exc), worker_id=worker_id)
        ctx.flush()
        try:
            return self.queue.finish(job_id, result=result, worker_id=worker_id)
        except (TypeError, ValueError) as exc:
            return self.queue.fail(
                job_id, f"{type(exc).__name__}: the handler for job kind {entry.kind!r} "
                f"returned an unusable result: {exc}", worker_id=worker_id,
            )

    def _interrupted(self, ctx: JobContext) -> JobInfo:
        if ctx.resumable:
            return self.queue.requeue(ctx.job.id, worker_id=ctx.worker_id,
                                      reason="the worker stopped before the job finished")
        return self.queue.fail(
            ctx.job.id, "interrupted: the worker stopped before the job finished; not resumable",
            worker_id=ctx.worker_id,
        )
