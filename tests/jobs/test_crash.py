"""A worker process killed with SIGKILL mid-job: the job is requeued and finished, or failed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from labella.jobs import JobContext, JobInfo, JobQueue, JobRegistry, LocalWorker

SCRIPT = Path(__file__).with_name("crash_worker.py")
ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")


@pytest.fixture
def watcher(session_factory: sessionmaker[Session]) -> JobQueue:
    """The test's view of the queue: a job silent for 1 s counts as dead.

    Only used once the worker process is dead; it runs no heartbeats itself.
    """
    return JobQueue(session_factory, heartbeat_seconds=0.25)


@pytest.fixture
def doomed_worker(
    database_url: str, engine: Engine, tmp_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """The crash worker process (killed at the latest when the test ends).

    Depends on ``engine`` so that the job table exists before the process starts.
    """
    path = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    with open(tmp_path / "worker.log", "wb") as out:
        proc = subprocess.Popen([sys.executable, str(SCRIPT), database_url], env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def _kill_mid_job(queue: JobQueue, job_id: int, proc: subprocess.Popen[bytes], log: Path) -> JobInfo:
    """Wait until the worker process reported progress and heartbeats since, then SIGKILL it."""
    deadline = time.monotonic() + 30
    first_beat = None
    while True:
        if proc.poll() is not None:
            pytest.fail(f"the worker process exited early:\n{log.read_text()}")
        info = queue.get(job_id)
        if info.status == "running" and info.done == 3:
            first_beat = first_beat or info.heartbeat_at
            assert first_beat is not None and info.heartbeat_at is not None
            if info.heartbeat_at > first_beat:  # the heartbeat thread is at work
                break
        if time.monotonic() > deadline:
            pytest.fail(f"the worker process never got going: {info}\n{log.read_text()}")
        time.sleep(0.02)
    assert queue.recover(stale_after=30) == []  # alive: its heartbeat is fresh
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    return queue.get(job_id)


def _recover_when_stale(queue: JobQueue) -> list[JobInfo]:
    deadline = time.monotonic() + 10 * queue.stale_after + 5
    while not (changed := queue.recover()):
        if time.monotonic() > deadline:
            pytest.fail("the dead worker's job was never recovered")
        time.sleep(0.05)
    return changed


def test_a_killed_resumable_job_is_requeued_and_finished_by_a_fresh_worker(
    watcher: JobQueue, doomed_worker: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    job = watcher.enqueue("hang", params={"batches": 10})
    dead = _kill_mid_job(watcher, job.id, doomed_worker, tmp_path / "worker.log")
    assert dead.status == "running" and dead.worker_id == "doomed/0"  # nobody knows yet

    (recovered,) = _recover_when_stale(watcher)
    assert recovered.id == job.id
    assert recovered.status == "queued" and recovered.attempts == 1
    assert recovered.done == 3  # what the dead attempt reported is kept
    assert "requeued after the process running it stopped" in recovered.log_tail[-1]
    assert any("checkpoint: 3 of 10 batches done" in line for line in recovered.log_tail)

    def resume(ctx: JobContext) -> dict[str, Any]:
        start = ctx.job.done
        for batch in range(start, ctx.params["batches"]):
            ctx.progress(batch + 1, ctx.params["batches"], "embedding")
        return {"resumed_from": start, "attempt": ctx.job.attempts}

    registry = JobRegistry()
    registry.register("hang", resume)
    end = LocalWorker(watcher, registry, worker_id="fresh").run_one()
    assert end is not None and end.id == job.id
    assert end.status == "succeeded"
    assert end.result == {"resumed_from": 3, "attempt": 2}
    assert (end.done, end.total, end.attempts) == (10, 10, 2)
    assert watcher.get(job.id) == end


def test_a_killed_job_that_cannot_resume_fails_with_the_reason(
    watcher: JobQueue, doomed_worker: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    job = watcher.enqueue("hang", resumable=False)
    dead = _kill_mid_job(watcher, job.id, doomed_worker, tmp_path / "worker.log")
    assert dead.heartbeat_at is not None

    (failed,) = _recover_when_stale(watcher)
    assert failed.id == job.id and failed.status == "failed"
    assert failed.error is not None
    assert failed.error.startswith("the process running this job stopped (last heartbeat 20")
    assert failed.error.endswith("UTC); not resumable")
    assert failed.finished_at is not None and failed.worker_id is None
    assert watcher.claim("anyone") is None  # it is not run again
