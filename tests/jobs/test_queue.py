"""JobQueue: the job record's life cycle, on SQLite and PostgreSQL."""

from __future__ import annotations

import math
import threading

import pytest

from labella.errors import LabellaError
from labella.jobs import JobNotFoundError, JobQueue
from labella.store.jobs import LOG_MAX_LINES
from tests.jobs.conftest import FakeClock


def test_enqueue_and_get(queue: JobQueue) -> None:
    params = {"epochs": 3, "labels": ["a", "b"]}
    info = queue.enqueue("retrain", params=params, project_id=7, created_by=2, max_attempts=5)
    params["epochs"] = 99  # the caller's dict is not shared with the record

    got = queue.get(info.id)
    assert got == info
    assert got.kind == "retrain"
    assert got.status == "queued" and not got.terminal
    assert got.params == {"epochs": 3, "labels": ["a", "b"]}
    assert (got.project_id, got.created_by, got.max_attempts) == (7, 2, 5)
    assert (got.attempts, got.done, got.total, got.progress, got.eta_seconds) == (0, 0, None, None, None)
    assert got.result is None and got.error is None and got.log_tail == ()
    assert got.resumable and not got.cancel_requested
    assert got.created_at.tzinfo is not None
    assert got.started_at is None and got.finished_at is None and got.heartbeat_at is None


def test_get_unknown_job(queue: JobQueue) -> None:
    with pytest.raises(JobNotFoundError, match="no job with id 12345") as err:
        queue.get(12345)
    assert isinstance(err.value, LabellaError)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"params": {"x": math.nan}}, ValueError, "JSON-serialisable"),
        ({"params": {"x": {1, 2}}}, ValueError, "JSON-serialisable"),
        ({"params": [1, 2]}, TypeError, "must be a dict"),
        ({"max_attempts": 0}, ValueError, "max_attempts must be at least 1"),
    ],
)
def test_enqueue_rejects_bad_arguments(
    queue: JobQueue, kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        queue.enqueue("retrain", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="non-empty"):
        queue.enqueue(" ")
    assert queue.list() == []


def test_list_newest_first_with_filters(queue: JobQueue) -> None:
    a = queue.enqueue("import", project_id=1)
    b = queue.enqueue("retrain", project_id=1)
    c = queue.enqueue("retrain", project_id=2)
    d = queue.enqueue("export")
    queue.cancel(b.id)

    assert [j.id for j in queue.list()] == [d.id, c.id, b.id, a.id]
    assert [j.id for j in queue.list(limit=2)] == [d.id, c.id]
    assert [j.id for j in queue.list(project_id=1)] == [b.id, a.id]
    assert [j.id for j in queue.list(status="queued")] == [d.id, c.id, a.id]
    assert [j.id for j in queue.list(status=["cancelled", "running"])] == [b.id]
    assert [j.id for j in queue.list(kinds=["retrain", "export"])] == [d.id, c.id, b.id]
    assert [j.id for j in queue.list(project_id=1, kinds=["retrain"])] == [b.id]
    with pytest.raises(ValueError, match="unknown job status 'done'"):
        queue.list(status="done")


def test_claim_takes_the_oldest_queued_job(queue: JobQueue) -> None:
    first = queue.enqueue("a")
    second = queue.enqueue("b")
    third = queue.enqueue("a")

    got = queue.claim("w1")
    assert got is not None and got.id == first.id
    assert got.status == "running" and got.worker_id == "w1" and got.attempts == 1
    assert got.started_at is not None and got.heartbeat_at == got.started_at
    assert "attempt 1 started by w1" in got.log_tail[-1]

    only_a = queue.claim("w2", kinds=["a"])
    assert only_a is not None and only_a.id == third.id
    assert queue.claim("w2", kinds=["a"]) is None
    assert queue.claim("w2", kinds=[]) is None
    last = queue.claim("w3")
    assert last is not None and last.id == second.id
    assert queue.claim("w3") is None


def test_claim_hands_each_job_to_exactly_one_of_many_threads(queue: JobQueue) -> None:
    n_threads, per_thread = 4, 50
    ids = {queue.enqueue("work", params={"i": i}).id for i in range(n_threads * per_thread)}
    claimed: list[list[int]] = [[] for _ in range(n_threads)]
    errors: list[BaseException] = []
    start = threading.Barrier(n_threads)

    def worker(k: int) -> None:
        try:
            start.wait()
            while (job := queue.claim(f"w{k}")) is not None:
                claimed[k].append(job.id)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    everything = [i for part in claimed for i in part]
    assert len(everything) == len(ids)
    assert set(everything) == ids
    running = queue.list(status="running", limit=1000)
    assert len(running) == len(ids)
    assert all(j.attempts == 1 for j in running)
    by_worker = {j.id: j.worker_id for j in running}
    for k, part in enumerate(claimed):
        assert all(by_worker[i] == f"w{k}" for i in part)


def test_heartbeat_only_for_the_owner_of_a_running_job(fake_queue: JobQueue, clock: FakeClock) -> None:
    job = fake_queue.enqueue("work")
    assert not fake_queue.heartbeat(job.id, "w1")  # still queued
    fake_queue.claim("w1")
    clock.advance(3)
    assert fake_queue.heartbeat(job.id, "w1")
    assert fake_queue.get(job.id).heartbeat_at == clock.now
    assert not fake_queue.heartbeat(job.id, "w2")
    fake_queue.finish(job.id)
    assert not fake_queue.heartbeat(job.id, "w1")


def test_progress_records_eta_and_heartbeat(fake_queue: JobQueue, clock: FakeClock) -> None:
    job = fake_queue.enqueue("embed")
    fake_queue.claim("w1")

    clock.advance(5)
    assert fake_queue.progress(job.id, done=0, total=100, message="loading") is False
    info = fake_queue.get(job.id)
    assert (info.done, info.total, info.progress, info.eta_seconds) == (0, 100, 0.0, None)
    assert info.message == "loading" and info.heartbeat_at == clock.now

    clock.advance(15)  # 20 s after the start, 25 of 100 done: 60 s to go
    assert fake_queue.progress(job.id, done=25) is False
    info = fake_queue.get(job.id)
    assert (info.done, info.total, info.message) == (25, 100, "loading")  # kept
    assert info.progress == pytest.approx(0.25)
    assert info.eta_seconds == pytest.approx(60.0)
    assert info.heartbeat_at == clock.now

    clock.advance(20)
    fake_queue.progress(job.id, done=80, total=160, message="embedding")
    info = fake_queue.get(job.id)
    assert info.progress == pytest.approx(0.5)
    assert info.eta_seconds == pytest.approx(40.0)
    assert info.message == "embedding"

    fake_queue.progress(job.id, done=7, total=None, message=None)
    fake_queue.progress(job.id, done=7, total=None)
    assert fake_queue.get(job.id).total == 160

    with pytest.raises(ValueError, match="done must be >= 0"):
        fake_queue.progress(job.id, done=-1)
    # Another worker's progress is refused and tells it to stop.
    assert fake_queue.progress(job.id, done=1, worker_id="w2") is True
    assert fake_queue.get(job.id).done == 7


def test_progress_without_total_has_no_fraction_or_eta(fake_queue: JobQueue, clock: FakeClock) -> None:
    job = fake_queue.enqueue("stream")
    fake_queue.claim("w1")
    clock.advance(10)
    fake_queue.progress(job.id, done=42)
    info = fake_queue.get(job.id)
    assert (info.done, info.total, info.progress, info.eta_seconds) == (42, None, None, None)


def test_log_keeps_the_last_lines(queue: JobQueue) -> None:
    job = queue.enqueue("chatty")
    for i in range(LOG_MAX_LINES + 30):
        queue.log(job.id, f"line {i}")
    queue.log(job.id, "two\nlines")
    queue.log(job.id, "nul\x00byte")
    tail = queue.get(job.id).log_tail
    assert len(tail) == LOG_MAX_LINES
    assert tail[0].endswith(f"line {33}")
    assert tail[-3].endswith(" two") and tail[-2] == "lines"
    assert tail[-1].endswith("nul\\0byte")


def test_finish_and_fail(fake_queue: JobQueue, clock: FakeClock) -> None:
    ok = fake_queue.enqueue("work")
    bad = fake_queue.enqueue("work")
    fake_queue.claim("w1")
    fake_queue.claim("w2")
    fake_queue.progress(ok.id, done=3, total=10)
    clock.advance(2)

    done = fake_queue.finish(ok.id, result={"accuracy": 0.9})
    assert done.status == "succeeded" and done.terminal
    assert done.result == {"accuracy": 0.9}
    assert (done.done, done.progress, done.eta_seconds) == (10, 1.0, None)
    assert done.finished_at == clock.now
    assert done.log_tail[-1].endswith("succeeded")

    failed = fake_queue.fail(bad.id, "ValueError: no labels yet")
    assert failed.status == "failed" and failed.error == "ValueError: no labels yet"
    assert failed.finished_at == clock.now and failed.result is None

    # A terminal job stays as it ended.
    assert fake_queue.fail(ok.id, "late") == done
    assert fake_queue.finish(bad.id, result={"x": 1}) == failed
    with pytest.raises(ValueError, match="JSON-serialisable"):
        fake_queue.finish(ok.id, result={"x": math.inf})


def test_worker_guard_keeps_a_recovered_job_from_its_old_worker(fake_queue: JobQueue) -> None:
    job = fake_queue.enqueue("work")
    fake_queue.claim("old")
    fake_queue.recover(stale_after=0)  # requeued: the old worker looked dead
    fake_queue.claim("new")
    assert fake_queue.finish(job.id, result={"by": "old"}, worker_id="old").status == "running"
    assert fake_queue.fail(job.id, "boom", worker_id="old").status == "running"
    assert fake_queue.requeue(job.id, worker_id="old", reason="x").status == "running"
    end = fake_queue.finish(job.id, result={"by": "new"}, worker_id="new")
    assert end.status == "succeeded" and end.result == {"by": "new"} and end.attempts == 2


def test_cancel_queued_running_and_terminal(queue: JobQueue) -> None:
    waiting = queue.enqueue("work")
    busy = queue.enqueue("work")
    claimed = queue.claim("w1", kinds=["work"])
    assert claimed is not None and claimed.id == waiting.id
    queued = queue.enqueue("work")

    cancelled = queue.cancel(queued.id)
    assert cancelled.status == "cancelled" and cancelled.terminal
    assert cancelled.finished_at is not None and cancelled.cancel_requested

    running = queue.cancel(waiting.id)
    assert running.status == "running" and running.cancel_requested
    assert queue.progress(waiting.id, done=1, worker_id="w1") is True
    assert queue.mark_cancelled(waiting.id, worker_id="w1").status == "cancelled"

    finished = queue.finish(busy.id)
    assert queue.cancel(busy.id) == finished
    assert queue.claim("w2") is None  # the cancelled queued job is never claimed


def test_recover_requeues_fails_or_cancels_stale_jobs(fake_queue: JobQueue, clock: FakeClock) -> None:
    resumable = fake_queue.enqueue("a", max_attempts=2)
    one_shot = fake_queue.enqueue("b", resumable=False)
    to_cancel = fake_queue.enqueue("c")
    fresh = fake_queue.enqueue("d")
    for worker in ("w1", "w2", "w3"):
        fake_queue.claim(worker)
    fake_queue.cancel(to_cancel.id)
    last_beat = clock.now
    clock.advance(30)
    fake_queue.claim("w4")  # `fresh`, heartbeat now

    assert fake_queue.stale_after == 20.0
    changed = {j.id: j for j in fake_queue.recover()}
    assert set(changed) == {resumable.id, one_shot.id, to_cancel.id}

    requeued = changed[resumable.id]
    assert requeued.status == "queued" and requeued.worker_id is None and requeued.attempts == 1
    assert "requeued after the process running it stopped" in requeued.log_tail[-1]

    failed = changed[one_shot.id]
    assert failed.status == "failed"
    assert failed.error == (
        f"the process running this job stopped (last heartbeat {last_beat:%Y-%m-%d %H:%M:%S} UTC); "
        "not resumable"
    )
    assert failed.finished_at == clock.now
    assert changed[to_cancel.id].status == "cancelled"
    assert fake_queue.get(fresh.id).status == "running"

    # Second attempt dies too: attempts are exhausted.
    again = fake_queue.claim("w5")
    assert again is not None and again.id == resumable.id and again.attempts == 2
    clock.advance(21)
    assert fake_queue.heartbeat(fresh.id, "w4")
    (gave_up,) = fake_queue.recover()
    assert gave_up.id == resumable.id and gave_up.status == "failed"
    assert gave_up.error is not None and gave_up.error.endswith("; gave up after 2 attempts")

    # stale_after=0 (server start) takes every running job, however fresh.
    assert [j.id for j in fake_queue.recover(stale_after=0)] == [fresh.id]
    assert fake_queue.list(status="running") == []
    assert fake_queue.recover(stale_after=0) == []
