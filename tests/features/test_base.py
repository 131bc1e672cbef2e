"""Shared helpers: image decoding policy, normalisation, atomic writes."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from labella.errors import DataError
from labella.features.base import atomic_write, decode_image, l2_normalise, model_cache_dir
from tests.features.conftest import png_bytes


def test_l2_normalise_keeps_zero_rows() -> None:
    x = l2_normalise(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(x, [[0.6, 0.8], [0.0, 0.0]], rtol=1e-6)
    assert x.dtype == np.float32


def test_decode_squashes_whole_image_and_flattens_alpha(tmp_path: Path) -> None:
    wide = np.zeros((10, 40, 3), np.uint8)
    wide[:, :5] = 255  # a white band at the far left must survive: nothing is cropped
    out = decode_image(png_bytes(wide), size=8)
    assert out.shape == (8, 8, 3)
    assert out[:, 0].mean() > 100
    rgba = np.zeros((4, 4, 4), np.uint8)  # fully transparent -> white, not black
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG")
    assert decode_image(buf.getvalue(), size=4).min() == 255
    path = tmp_path / "x.png"
    path.write_bytes(png_bytes(wide))
    assert decode_image(path, size=4, mode="L").shape == (4, 4, 1)


def test_decode_errors_name_the_item(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"item 7: not a readable image \(unknown or corrupt"):
        decode_image(b"\x89PNG broken", size=4, index=7)
    with pytest.raises(DataError, match="cannot read"):
        decode_image(tmp_path / "nope.jpg", size=4)
    with pytest.raises(DataError, match="bytes or a path"):
        decode_image(3.5, size=4)  # type: ignore[arg-type]


def test_atomic_write_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "model.onnx"

    def boom(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(target, boom)
    assert list(target.parent.iterdir()) == []
    atomic_write(target, lambda tmp: tmp.write_bytes(b"whole"))
    assert target.read_bytes() == b"whole"
    assert list(target.parent.iterdir()) == [target]


def test_model_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LABELLA_CACHE_DIR", str(tmp_path))
    assert model_cache_dir(None) == tmp_path / "models"
    assert model_cache_dir(tmp_path / "mine") == tmp_path / "mine"
    monkeypatch.delenv("LABELLA_CACHE_DIR")
    assert model_cache_dir(None) == Path.home() / ".cache" / "labella" / "models"
