"""Persistence: SQLAlchemy models (one aggregate per module), engine, blobs, migrations."""
