from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


class CountingFeaturiser:
    """A tiny deterministic text featuriser that records what it was asked to embed."""

    modality = "text"

    def __init__(self, dim: int = 4, key: str = "test/counting/v1") -> None:
        self.dim = dim
        self.key = key
        self.calls: list[list[str]] = []
        self.fail_on_call: int | None = None

    @property
    def n_embedded(self) -> int:
        return sum(len(c) for c in self.calls)

    def embed(self, items: Sequence[str], *, batch_size: int | None = None, progress=None) -> np.ndarray:
        if self.fail_on_call is not None and len(self.calls) == self.fail_on_call:
            raise RuntimeError("simulated crash")
        self.calls.append(list(items))
        return np.stack([vector_for(t, self.dim) for t in items]) if items else np.zeros((0, self.dim), np.float32)


def vector_for(text: str, dim: int) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    v = np.random.default_rng(seed).normal(size=dim).astype(np.float32)
    return v / np.linalg.norm(v)


def png_bytes(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def counting() -> CountingFeaturiser:
    return CountingFeaturiser()


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh model cache for the session, so the slow tests exercise the one-time ONNX export."""
    return tmp_path_factory.mktemp("models")
