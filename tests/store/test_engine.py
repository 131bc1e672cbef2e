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
