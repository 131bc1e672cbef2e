"""Fixtures for the import reader tests: a real S3-compatible server and image helpers."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from labella.config import Limits
from labella.datafiles import shared_datasets_dir
from tests.s3_server import s3_server

__all__ = ["datasets_dir", "limits", "png_bytes", "s3_server", "sign_digits"]


def png_bytes(size: tuple[int, int] = (8, 6), colour: tuple[int, int, int] = (200, 30, 30),
              fmt: str = "PNG") -> bytes:
    """A small real image, encoded."""
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format=fmt)
    return buf.getvalue()


@pytest.fixture
def limits() -> Limits:
    return Limits()


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    return shared_datasets_dir()


@pytest.fixture(scope="session")
def sign_digits(datasets_dir: Path) -> Path:
    """The sign-language digit photos (``images/<digit>/*.JPG``); skips when absent."""
    root = datasets_dir / "images_sign_language_digits" / "images"
    if not root.is_dir():
        pytest.skip(f"dataset folder {root} is not available")
    return root
