"""SQLite transactions: writers queue on the write lock, readers never wait for it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import text

from labella.store.engine import make_engine, make_read_session_factory, make_session_factory


def test_a_read_session_does_not_wait_for_a_writer(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    writers, readers = make_session_factory(engine), make_read_session_factory(engine)
    with writers() as s, s.begin():
        s.execute(text("CREATE TABLE t (x INTEGER)"))
        s.execute(text("INSERT INTO t VALUES (1)"))
    holding, release = threading.Event(), threading.Event()

    def writer() -> None:  # holds the write lock until told to let go
        with writers() as s, s.begin():
            s.execute(text("INSERT INTO t VALUES (2)"))
            holding.set()
            release.wait(10)

    t = threading.Thread(target=writer)
    t.start()
    try:
        assert holding.wait(10)
        t0 = time.monotonic()
        with readers() as s:
            assert s.scalar(text("SELECT count(*) FROM t")) == 1  # the committed snapshot
        read_s = time.monotonic() - t0

        waited: list[float] = []

        def second_writer() -> None:
            t1 = time.monotonic()
            with writers() as s, s.begin():
                s.execute(text("INSERT INTO t VALUES (3)"))
            waited.append(time.monotonic() - t1)

        w2 = threading.Thread(target=second_writer)
        w2.start()
        time.sleep(0.3)
        assert w2.is_alive(), "a second writer should queue behind the first"
    finally:
        release.set()
        t.join(10)
    w2.join(10)
    assert read_s < 5  # the reader did not queue (the first writer holds on until released)
    assert waited[0] >= 0.3  # the second writer did
    with readers() as s:
        assert s.scalar(text("SELECT count(*) FROM t")) == 3
    engine.dispose()


def test_writers_take_turns_in_arrival_order(tmp_path: Path) -> None:
    """Writers that queue behind a long transaction get the lock in the order they came
    (SQLite's busy handler alone lets a late-comer overtake a writer polling at 100 ms)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    writers = make_session_factory(engine)
    with writers() as s, s.begin():
        s.execute(text("CREATE TABLE t (n INTEGER)"))
    holding, release = threading.Event(), threading.Event()

    def first() -> None:
        with writers() as s, s.begin():
            s.execute(text("INSERT INTO t VALUES (0)"))
            holding.set()
            release.wait(10)

    def writer(n: int) -> None:
        with writers() as s, s.begin():
            s.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})

    t0 = threading.Thread(target=first)
    t0.start()
    assert holding.wait(10)
    queued = []
    for n in range(1, 9):  # each starts only once the one before it waits in line
        t = threading.Thread(target=writer, args=(n,))
        t.start()
        queued.append(t)
        time.sleep(0.05)
    release.set()
    for t in [t0, *queued]:
        t.join(10)
    with writers() as s:
        order = list(s.scalars(text("SELECT n FROM t ORDER BY rowid")))
    assert order == list(range(9))
    engine.dispose()


def test_the_queue_passes_on_after_a_rollback_and_a_failed_write(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    writers = make_session_factory(engine)
    with writers() as s, s.begin():
        s.execute(text("CREATE TABLE t (n INTEGER PRIMARY KEY)"))
    with writers() as s:
        s.execute(text("INSERT INTO t VALUES (1)"))
        s.rollback()
    try:
        with writers() as s, s.begin():
            s.execute(text("INSERT INTO t VALUES (2)"))
            s.execute(text("INSERT INTO t VALUES (2)"))  # primary key clash
    except Exception:
        pass
    with writers() as s:  # an unfinished session closed without commit
        s.execute(text("INSERT INTO t VALUES (3)"))
    done = threading.Event()

    def writer() -> None:
        with writers() as s, s.begin():
            s.execute(text("INSERT INTO t VALUES (4)"))
        done.set()

    threading.Thread(target=writer).start()
    assert done.wait(5), "a writer waited for a lock nobody holds"
    with writers() as s:
        assert list(s.scalars(text("SELECT n FROM t"))) == [4]
    engine.dispose()


def test_a_writer_gives_up_in_line_after_the_timeout() -> None:
    from labella.store.engine import WriterQueue

    q = WriterQueue()
    assert q.acquire(1)
    t0 = time.monotonic()
    assert not q.acquire(0.2)  # nobody hands it over: the waiter leaves the line
    assert time.monotonic() - t0 >= 0.2
    q.release()
    assert q.acquire(0.1)  # the line is empty again, not blocked by the one who left
    q.release()
