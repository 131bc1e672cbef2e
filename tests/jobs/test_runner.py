"""LocalWorker and JobContext: handlers run, report, fail, get cancelled and interrupted."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from labella.jobs import (
    JobCancelled,
    JobContext,
    JobInterrupted,
    JobQueue,
    JobRegistry,
    LocalWorker,
)
from tests.jobs.conftest import wait_for

DEADLINE = 15.0


def _until(condition: Any, what: str, timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def loop_until_cancelled(ctx: JobContext) -> dict[str, Any]:
    """Counts up, reporting progress, until the job is cancelled (or a deadline passes)."""
    deadline = time.monotonic() + DEADLINE
    i = 0
    while time.monotonic() < deadline:
        i += 1
        ctx.progress(i, 1_000_000, "looping")
        time.sleep(0.005)
    return {"ran_out": True}


def add(ctx: JobContext) -> dict[str, Any]:
    ctx.log("adding")
    ctx.progress(0, 2, "start")
    ctx.progress(1)
    ctx.progress(2, message="done")
    return {"sum": ctx.params["a"] + ctx.params["b"]}


def explode(ctx: JobContext) -> None:
    ctx.progress(1, 3)
    raise ValueError("the pool is empty\n(second line)")


@pytest.fixture
def registry() -> JobRegistry:
    reg = JobRegistry()
    reg.register("add", add)
    reg.register("explode", explode)
    reg.register("loop", loop_until_cancelled)
    reg.register("loop_once", loop_until_cancelled, resumable=False)
    return reg


@pytest.fixture
def worker(queue: JobQueue, registry: JobRegistry) -> Iterator[LocalWorker]:
    w = LocalWorker(queue, registry, threads=2, poll_seconds=0.05, worker_id="test",
                    progress_interval=0.02)
    yield w
    w.stop(timeout=5)


def test_registry() -> None:
    reg = JobRegistry()
    reg.register("b", add)
    reg.register("a", explode, resumable=False)
    assert reg.kinds() == ["a", "b"]
    assert "a" in reg and "c" not in reg
    assert reg.is_resumable("b") and not reg.is_resumable("a") and not reg.is_resumable("c")
    with pytest.raises(ValueError, match="job kind 'a' is already registered"):
        reg.register("a", add)


def test_run_one_runs_a_handler_to_success(queue: JobQueue, worker: LocalWorker) -> None:
    assert worker.run_one() is None
    job = queue.enqueue("add", params={"a": 2, "b": 3})
    end = worker.run_one()
    assert end is not None and end.id == job.id
    assert end.status == "succeeded" and end.result == {"sum": 5}
    assert (end.done, end.total, end.progress, end.message) == (2, 2, 1.0, "done")
    assert any(line.endswith("adding") for line in end.log_tail)
    assert end.attempts == 1 and end.worker_id == "test/sync"
    assert queue.get(job.id) == end


def test_handler_error_fails_the_job_and_the_worker_goes_on(
    queue: JobQueue, worker: LocalWorker
) -> None:
    bad = queue.enqueue("explode")
    good = queue.enqueue("add", params={"a": 1, "b": 1})
    worker.start()
    failed = wait_for(queue, bad.id, lambda j: j.terminal)
    assert failed.status == "failed"
    assert failed.error == "ValueError: the pool is empty (second line)"
    assert failed.done == 1
    log = "\n".join(failed.log_tail)  # members read it: no traceback, a pointer to the server log
    assert "Traceback" not in log and f"server's log has the details under job {bad.id}" in log
    assert wait_for(queue, good.id, lambda j: j.terminal).status == "succeeded"


def test_unknown_kind_fails(queue: JobQueue, worker: LocalWorker) -> None:
    job = queue.enqueue("no_such_kind")
    end = worker.run_one()
    assert end is not None and end.id == job.id
    assert end.status == "failed" and end.error == "no handler for job kind 'no_such_kind'"


def test_unusable_result_fails(queue: JobQueue) -> None:
    reg = JobRegistry()
    reg.register("list", lambda ctx: [1, 2])  # type: ignore[arg-type, return-value]
    reg.register("nan", lambda ctx: {"loss": float("nan")})
    worker = LocalWorker(queue, reg)
    for kind, message in (("list", "must be a dict or None"), ("nan", "JSON-serialisable")):
        job = queue.enqueue(kind)
        end = worker.run_one()
        assert end is not None and end.id == job.id and end.status == "failed"
        assert end.error is not None and end.error.startswith("TypeError" if kind == "list" else "ValueError")
        assert message in end.error


def test_cancel_a_running_job(queue: JobQueue, worker: LocalWorker) -> None:
    job = queue.enqueue("loop")
    worker.start()
    wait_for(queue, job.id, lambda j: j.status == "running" and j.done > 0)
    queue.cancel(job.id)
    end = wait_for(queue, job.id, lambda j: j.terminal)
    assert end.status == "cancelled" and end.cancel_requested
    assert end.result is None and end.error is None


def test_a_handler_polling_cancelled_sees_the_cancel(queue: JobQueue) -> None:
    seen = threading.Event()

    def poll(ctx: JobContext) -> None:
        deadline = time.monotonic() + DEADLINE
        while not ctx.cancelled() and time.monotonic() < deadline:
            time.sleep(0.01)
        seen.set()
        ctx.raise_if_cancelled()

    reg = JobRegistry()
    reg.register("poll", poll)
    worker = LocalWorker(queue, reg, poll_seconds=0.05, progress_interval=0.02)
    job = queue.enqueue("poll")
    worker.start()
    try:
        wait_for(queue, job.id, lambda j: j.status == "running")
        queue.cancel(job.id)
        assert wait_for(queue, job.id, lambda j: j.terminal).status == "cancelled"
        assert seen.is_set()
    finally:
        worker.stop(timeout=5)


def test_heartbeats_while_the_handler_runs(queue: JobQueue) -> None:
    def wait_for_beats(ctx: JobContext) -> dict[str, Any]:
        started = ctx.job.heartbeat_at
        assert started is not None
        _until(lambda: (queue.get(ctx.job.id).heartbeat_at or started) > started, "a heartbeat")
        return {"beat": True}

    reg = JobRegistry()
    reg.register("quiet", wait_for_beats)
    job = queue.enqueue("quiet")
    end = LocalWorker(queue, reg).run_one()
    assert end is not None and end.id == job.id
    assert end.status == "succeeded", end.error


def test_wake_claims_at_once(queue: JobQueue, registry: JobRegistry) -> None:
    worker = LocalWorker(queue, registry, poll_seconds=60)
    worker.start()
    try:
        time.sleep(0.05)  # let the thread find nothing and settle into its long wait
        job = queue.enqueue("add", params={"a": 1, "b": 2})
        worker.wake()
        assert wait_for(queue, job.id, lambda j: j.terminal, timeout=10).result == {"sum": 3}
    finally:
        worker.stop(timeout=5)


def test_start_recovers_jobs_of_a_previous_process(queue: JobQueue, worker: LocalWorker) -> None:
    job = queue.enqueue("add", params={"a": 4, "b": 4})
    queue.claim("a-process-that-died")
    worker.start(recover=True)
    end = wait_for(queue, job.id, lambda j: j.terminal)
    assert end.status == "succeeded" and end.attempts == 2 and end.result == {"sum": 8}
    assert any("requeued after the process running it stopped" in line for line in end.log_tail)


def test_stop_requeues_a_resumable_job(queue: JobQueue, worker: LocalWorker) -> None:
    job = queue.enqueue("loop")
    worker.start()
    wait_for(queue, job.id, lambda j: j.status == "running" and j.done > 0)
    worker.stop(timeout=5)
    after = queue.get(job.id)
    assert after.status == "queued" and after.attempts == 0 and after.worker_id is None
    assert "requeued: the worker stopped before the job finished" in after.log_tail[-1]


def test_stop_fails_a_non_resumable_job_that_outlives_the_timeout(
    queue: JobQueue, worker: LocalWorker
) -> None:
    job = queue.enqueue("loop_once", resumable=False)
    worker.start()
    wait_for(queue, job.id, lambda j: j.status == "running" and j.done > 0)
    worker.stop(timeout=0.2)
    after = wait_for(queue, job.id, lambda j: j.terminal)
    assert after.status == "failed"
    assert after.error == "interrupted: the worker stopped before the job finished; not resumable"


def test_a_handler_whose_job_was_recovered_stops_and_leaves_it_alone(queue: JobQueue) -> None:
    stopped_by: list[type[BaseException]] = []

    def loop(ctx: JobContext) -> dict[str, Any]:
        try:
            return loop_until_cancelled(ctx)
        except JobCancelled as exc:
            stopped_by.append(type(exc))
            raise

    reg = JobRegistry()
    reg.register("loop", loop)
    worker = LocalWorker(queue, reg, worker_id="slow", progress_interval=0.02)
    job = queue.enqueue("loop")
    runner = threading.Thread(target=worker.run_one)
    runner.start()
    try:
        wait_for(queue, job.id, lambda j: j.status == "running" and j.done > 0)
        # Another process decides this worker is dead and requeues the job.
        (recovered,) = queue.recover(stale_after=0)
        assert recovered.status == "queued"
    finally:
        runner.join(timeout=DEADLINE)
    assert not runner.is_alive()
    assert stopped_by == [JobInterrupted]
    after = queue.get(job.id)
    assert after.status == "queued" and after.attempts == 1 and after.worker_id is None
    assert after.log_tail[-1].endswith("requeued after the process running it stopped")


def test_a_job_error_names_no_server_path() -> None:
    from labella.jobs.context import describe_error

    exc = FileNotFoundError(2, "No such file or directory", "/srv/labella/uploads/upload-1/x.csv")
    assert describe_error(exc) == "FileNotFoundError: [Errno 2] No such file or directory: 'x.csv'"
    assert describe_error(ValueError("s3://bucket/key.csv is empty")).endswith("s3://bucket/key.csv is empty")
