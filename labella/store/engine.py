"""Engines and sessions: SQLite (WAL) by default, PostgreSQL by URL.

``make_engine(url)`` is the only place a SQLAlchemy engine is created. SQLite
gets WAL journaling, ``synchronous=FULL`` (a commit is on disk before it is
acknowledged), foreign keys and a busy timeout so that the web process and the
job worker can share one file. Within one process, writers to a SQLite file take turns
first come, first served (:class:`WriterQueue`) instead of polling SQLite's busy handler.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000


def normalise_url(url: str) -> str:
    """``postgresql://`` (and ``postgres://``) use the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.close()


READ_ONLY = "labella_read_only"
"""Execution option of an engine for read-only sessions (see :func:`make_read_session_factory`)."""


class WriterQueue:
    """A lock handed to its waiters in arrival order.

    SQLite lets one writer in at a time, and a writer that finds the file locked sleeps
    in its busy handler (1, 2, 5 ... 100 ms) before it looks again, so under many
    concurrent writers a late-comer that happens to look at the right moment overtakes
    one that has been waiting for seconds: an admin's settings change behind 20
    annotators waited up to 4 s while the median write took 10 ms. Writers in this
    process queue here first, before ``BEGIN IMMEDIATE``; the lock passes straight to
    the next in line when a transaction ends. Other processes (a job worker, the CLI)
    still meet the busy handler.
    """

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held = False
        self._waiters: deque[threading.Lock] = deque()

    def acquire(self, timeout: float) -> bool:
        with self._mutex:
            if not self._held:
                self._held = True
                return True
            turn = threading.Lock()
            turn.acquire()
            self._waiters.append(turn)
        if turn.acquire(timeout=timeout):
            return True  # handed over by release()
        with self._mutex:
            try:
                self._waiters.remove(turn)
                return False
            except ValueError:
                pass  # release() handed it over as the wait ran out: it is ours
        turn.acquire()  # already released to us; returns at once
        return True

    def release(self) -> None:
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().release()  # stays held, by the next in line
            else:
                self._held = False


_WRITERS: dict[str, WriterQueue] = {}
_WRITERS_GUARD = threading.Lock()
_HOLDS = "labella_writer_queue"


def writer_queue(database: str) -> WriterQueue:
    """The process's queue of writers to one SQLite file (by its absolute path)."""
    key = str(Path(database).resolve())
    with _WRITERS_GUARD:
        return _WRITERS.setdefault(key, WriterQueue())


def _sqlite_begin(conn: Any, queue: WriterQueue | None = None) -> None:
    # pysqlite's own transaction handling defers BEGIN; a writing transaction takes the
    # write lock up front so two writers queue instead of failing on lock upgrade. A
    # read-only one begins deferred: under WAL it never waits for a writer.
    if conn.get_execution_options().get(READ_ONLY):
        conn.exec_driver_sql("BEGIN")
        return
    if queue is not None:
        if not queue.acquire(SQLITE_BUSY_TIMEOUT_MS / 1000):
            raise OperationalError("BEGIN IMMEDIATE", None,
                                   sqlite3.OperationalError("database is locked"))
        conn.info[_HOLDS] = queue
    try:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException:
        _sqlite_end(conn)
        raise


def _sqlite_end(conn: Any) -> None:
    """The transaction ends (commit or rollback): the next writer in line goes."""
    queue = conn.info.pop(_HOLDS, None)
    if queue is not None:
        queue.release()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url`` (``sqlite:///path`` or ``postgresql://...``)."""
    url = normalise_url(url)
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "isolation_level": None},
            **kwargs,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        queue = writer_queue(u.database) if u.database and u.database != ":memory:" else None
        event.listen(engine, "begin", lambda conn: _sqlite_begin(conn, queue))
        event.listen(engine, "commit", _sqlite_end)
        event.listen(engine, "rollback", _sqlite_end)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", 10)
    return create_engine(url, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def make_read_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions for transactions that only read (same connection pool). On SQLite they
    do not take the write lock, so a request that only reads never queues behind a
    writer. Do not write in one: the write could fail with "database is locked" instead
    of waiting its turn; write through :func:`make_session_factory`'s sessions."""
    return sessionmaker(engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work is committed on success and rolled back on error."""
    with factory() as session, session.begin():
        yield session
