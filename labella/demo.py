"""Offline demo data: scikit-learn's bundled 8x8 digits written out as an image folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_digits(folder: Path) -> Path:
    """Write the 1,797 digits as 32x32 PNGs in ``folder/<digit>/<n>.png`` (once) and return it."""
    from PIL import Image
    from sklearn.datasets import load_digits

    done = folder / ".complete"
    if done.exists():
        return folder
    digits = load_digits()
    for i, (img, label) in enumerate(zip(digits.images, digits.target, strict=True)):
        d = folder / str(label)
        d.mkdir(parents=True, exist_ok=True)
        pixels = (255 - img * 255 / 16).astype(np.uint8)  # dark digit on light ground
        Image.fromarray(pixels).resize((32, 32), Image.Resampling.BILINEAR).save(d / f"{i:04d}.png")
    done.write_text("ok")
    return folder
