"""Fixtures for the job tests: a job table on each backend, a queue and a settable clock."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from labella.jobs import JobInfo, JobQueue
from labella.store.engine import make_engine, make_session_factory
from labella.store.schema import upgrade

HEARTBEAT = 0.5
"""Seconds between heartbeats in tests: a job silent for 2 s counts as dead."""


class FakeClock:
    """A UTC clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 31, 12, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def _seed_owners(engine: Engine) -> None:
    """Users and projects that the tests' jobs refer to (jobs have foreign keys to both)."""
    from labella.store.projects import Project
    from labella.store.users import User

    with make_session_factory(engine).begin() as s:
        for uid in (1, 2):
            s.add(User(id=uid, username=f"user{uid}"))
        s.flush()
        for pid in (1, 2, 7):
            s.add(Project(id=pid, name=f"project {pid}", task="text", labels=["a", "b"],
                          featuriser="hashing", head="balanced_logistic_regression",
                          strategy="labella", created_by=1))


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    upgrade(engine)  # the real schema (migrations), jobs table and the tables it refers to
    _seed_owners(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def queue(session_factory: sessionmaker[Session]) -> JobQueue:
    return JobQueue(session_factory, heartbeat_seconds=HEARTBEAT)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake_queue(session_factory: sessionmaker[Session], clock: FakeClock) -> JobQueue:
    return JobQueue(session_factory, heartbeat_seconds=5.0, clock=clock)


def wait_for(
    queue: JobQueue, job_id: int, predicate: Callable[[JobInfo], bool], *, timeout: float = 15.0
) -> JobInfo:
    """Poll the job until ``predicate`` holds; fail with its last state at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        info = queue.get(job_id)
        if predicate(info):
            return info
        if time.monotonic() > deadline:
            pytest.fail(f"job {job_id} did not reach the expected state in {timeout} s: {info}")
        time.sleep(0.02)
