"""Torch-free fallbacks: TF-IDF + SVD for text, raw pixels for images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

from labella.features import (
    EmbeddingCache,
    Featuriser,
    NotFittedError,
    PixelFeaturiser,
    TfidfSvdFeaturiser,
)
from tests.features.conftest import png_bytes

CORPUS = [
    "the battery life of this phone is great",
    "battery died after one day, terrible phone",
    "the camera takes sharp photos in daylight",
    "blurry photos and a slow camera app",
    "fast delivery and friendly support",
    "support never answered my emails",
    "great screen, great battery, great value",
    "the screen cracked within a week",
]


def test_tfidf_shapes_norms_and_similarity() -> None:
    f = TfidfSvdFeaturiser(n_components=16).fit(CORPUS)
    assert isinstance(f, Featuriser)
    assert f.dim == 7  # capped at n_texts - 1
    x = f.embed([*CORPUS, "battery battery phone", "zzz unknown words"])
    assert x.shape == (10, 7) and x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x[:9], axis=1), 1.0, rtol=1e-5)
    assert np.all(x[9] == 0)  # no known term -> zero vector
    sims = x[:8] @ x[8]
    assert int(np.argmax(sims)) in (0, 1, 6)


def test_tfidf_key_depends_on_the_fitted_corpus() -> None:
    a = TfidfSvdFeaturiser(8).fit(CORPUS)
    b = TfidfSvdFeaturiser(8).fit(CORPUS)
    c = TfidfSvdFeaturiser(8).fit([*CORPUS, "a brand new review about headphones"])
    assert a.key == b.key
    assert a.key != c.key
    np.testing.assert_array_equal(a.embed(CORPUS), b.embed(CORPUS))


def test_tfidf_fits_itself_on_first_use() -> None:
    f = TfidfSvdFeaturiser(8)
    assert not f.fitted and not hasattr(f, "key")
    with pytest.raises(NotFittedError, match="fit"):
        _ = f.dim
    x = f.embed(CORPUS)
    assert f.fitted and f.key == TfidfSvdFeaturiser(8).fit(CORPUS).key
    np.testing.assert_array_equal(x, f.embed(CORPUS))
    with pytest.raises(ValueError, match="at least 2"):
        TfidfSvdFeaturiser().fit(["only one"])


def test_cache_fits_an_unfitted_tfidf_on_the_call(tmp_path: Path) -> None:
    f = TfidfSvdFeaturiser(8)
    cache = EmbeddingCache(tmp_path)
    x = cache.get_or_compute(f, CORPUS)
    assert f.fitted and x.shape == (8, f.dim)
    np.testing.assert_array_equal(cache.get_or_compute(TfidfSvdFeaturiser(8).fit(CORPUS), CORPUS), x)


def test_pixels_shapes_norms_and_invariance_to_brightness() -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 200, (20, 30, 3), dtype=np.uint8)
    brighter = (img.astype(np.int16) + 40).clip(0, 255).astype(np.uint8)
    f = PixelFeaturiser(size=16)
    x = f.embed([png_bytes(img), png_bytes(brighter)])
    assert x.shape == (2, f.dim) == (2, 768)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-5)
    assert float(x[0] @ x[1]) > 0.999
    g = PixelFeaturiser(size=8, mode="gray")
    assert g.embed([png_bytes(img)]).shape == (1, 64)
    assert f.key != g.key


def test_pixels_separate_digits() -> None:
    digits = load_digits()
    n = 300
    images = [png_bytes((digits.images[i] * 15).astype(np.uint8)) for i in range(n)]
    x = PixelFeaturiser(size=8, mode="gray").embed(images)
    acc = cross_val_score(LogisticRegression(max_iter=2000), x, digits.target[:n], cv=5).mean()
    assert acc > 0.85
