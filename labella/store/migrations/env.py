"""Alembic environment: runs on the connection handed over by labella.store.schema."""

from __future__ import annotations

from alembic import context

from labella.store.schema import metadata

config = context.config
target_metadata = metadata()


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through labella.store.schema.upgrade(engine)")
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


run()
