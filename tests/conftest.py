"""Fixtures shared by the whole suite.

``database_url`` gives an empty database, once on SQLite (a temporary file) and
once on PostgreSQL when ``LABELLA_TEST_DATABASE_URL`` is set (that run is
marked ``postgres`` and skipped otherwise). On PostgreSQL each test gets its own
schema (put first on the connection's ``search_path``), dropped afterwards, so
test runs sharing one server do not disturb each other.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

PG_ENV = "LABELLA_TEST_DATABASE_URL"


def _admin(url: str, sql: str) -> None:
    from sqlalchemy.pool import NullPool

    from labella.store.engine import make_engine

    engine = make_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(sql)
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of an empty database: SQLite always, PostgreSQL when ``LABELLA_TEST_DATABASE_URL`` is set."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'labella.db'}"
        return
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"{PG_ENV} is not set")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    _admin(url, f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        _admin(url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
