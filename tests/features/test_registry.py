"""Featurisers by name, the default choice with its fallback, and a light import."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from labella.errors import UnknownNameError
from labella.features import (
    REGISTRY,
    EfficientNetLite0Featuriser,
    Featuriser,
    MiniLMFeaturiser,
    PixelFeaturiser,
    TfidfSvdFeaturiser,
    default_featuriser,
    get_featuriser,
)
from labella.features import registry as registry_module
from labella.features.registry import FeaturiserRegistry
from labella.features.text import model_dir_fingerprint


def test_builtins_are_registered_and_documented() -> None:
    assert {"minilm", "efficientnet_lite0", "tfidf", "pixels", "sentence_transformer"} <= set(
        REGISTRY.names()
    )
    assert set(REGISTRY.names("image")) == {"efficientnet_lite0", "pixels"}
    for info in REGISTRY:
        assert info.description and info.modality in ("text", "image")


def test_get_featuriser_builds_without_loading_models() -> None:
    m = get_featuriser("minilm", backend="torch")
    assert isinstance(m, MiniLMFeaturiser) and isinstance(m, Featuriser)
    assert m.dim == 384 and m.key == MiniLMFeaturiser().key  # both backends share a key
    e = get_featuriser("efficientnet_lite0")
    assert isinstance(e, EfficientNetLite0Featuriser) and e.dim == 1280
    t = get_featuriser("tfidf", corpus=["one text", "another text", "third one"])
    assert isinstance(t, TfidfSvdFeaturiser) and t.fitted
    assert isinstance(get_featuriser("pixels", size=16), PixelFeaturiser)
    with pytest.raises(UnknownNameError, match="unknown featuriser 'bert'"):
        get_featuriser("bert")


def test_user_registration() -> None:
    reg = FeaturiserRegistry()
    reg.register("mine", lambda: PixelFeaturiser(4), modality="image", description="tiny")
    assert reg.get("mine").dim == 48
    with pytest.raises(ValueError, match="already registered"):
        reg.register("mine", PixelFeaturiser, modality="image", description="again")


def test_default_prefers_pretrained_models(tmp_path: Path) -> None:
    assert isinstance(default_featuriser("text", cache_dir=tmp_path), MiniLMFeaturiser)
    assert isinstance(default_featuriser("image", cache_dir=tmp_path), EfficientNetLite0Featuriser)


def test_default_falls_back_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(registry_module, "minilm_available", lambda _: (False, "no package"))
    monkeypatch.setattr(registry_module, "effnet_available", lambda _: (False, "no package"))
    with caplog.at_level(logging.WARNING):
        text = default_featuriser("text", corpus=["a b", "b c", "c d"])
        image = default_featuriser("image")
    assert isinstance(text, TfidfSvdFeaturiser) and text.fitted
    assert isinstance(image, PixelFeaturiser)
    assert "using TF-IDF + SVD" in caplog.text and "labella[image]" in caplog.text
    with pytest.raises(ValueError, match="modality"):
        default_featuriser("audio")  # type: ignore[arg-type]


def test_import_does_not_load_torch() -> None:
    code = (
        "import sys, labella.features\n"
        "print(','.join(m for m in ('torch', 'sentence_transformers', 'transformers', 'onnx')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_model_dir_fingerprint_sees_weights_and_config(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"hidden_size": 8}')
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"\0" * (3 << 20))
    base = model_dir_fingerprint(tmp_path)
    weights.write_bytes(b"\0" * (3 << 20 - 1) + b"\1")  # a fine-tune: same size and config
    tuned = model_dir_fingerprint(tmp_path)
    (tmp_path / "config.json").write_text('{"hidden_size": 16}')
    assert len({base, tuned, model_dir_fingerprint(tmp_path)}) == 3
    (tmp_path / "README.md").write_text("docs do not count")
    assert model_dir_fingerprint(tmp_path) == model_dir_fingerprint(tmp_path)
