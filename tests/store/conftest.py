"""Fixtures for the store tests: a real S3-compatible server (moto) for the blob store."""

from __future__ import annotations

from tests.s3_server import s3_server

__all__ = ["s3_server"]
