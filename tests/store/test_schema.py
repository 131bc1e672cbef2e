"""The Alembic migrations create exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from labella.store import schema
from labella.store.engine import make_engine


def test_migrations_match_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        schema.upgrade(engine)
        assert schema.current(engine) is not None
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), schema.metadata())
        assert diff == [], f"models and migrations differ; add a migration: {diff}"
        schema.upgrade(engine)  # idempotent
    finally:
        engine.dispose()
