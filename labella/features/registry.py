"""Featurisers by name. Built-ins register here exactly as a user's featuriser would."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from labella.errors import UnknownNameError
from labella.features.base import Featuriser, Modality
from labella.features.fallback import HashingFeaturiser, PixelFeaturiser, TfidfSvdFeaturiser
from labella.features.image import EfficientNetLite0Featuriser, effnet_available
from labella.features.text import (
    MiniLMFeaturiser,
    SentenceTransformerFeaturiser,
    minilm_available,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeaturiserInfo:
    """A registry entry. ``available()`` says, without heavy imports, whether it can run here."""

    name: str
    factory: Callable[..., Featuriser]
    modality: Modality
    description: str
    available: Callable[[], tuple[bool, str]] | None = None


class FeaturiserRegistry:
    """Featuriser factories by name."""

    def __init__(self) -> None:
        self._entries: dict[str, FeaturiserInfo] = {}

    def register(
        self,
        name: str,
        factory: Callable[..., Featuriser],
        *,
        modality: Modality,
        description: str,
        available: Callable[[], tuple[bool, str]] | None = None,
    ) -> None:
        if name in self._entries:
            raise ValueError(f"featuriser {name!r} is already registered")
        if modality not in ("text", "image"):
            raise ValueError(f"modality must be 'text' or 'image', got {modality!r}")
        self._entries[name] = FeaturiserInfo(name, factory, modality, description, available)

    def info(self, name: str) -> FeaturiserInfo:
        if name not in self._entries:
            raise UnknownNameError("featuriser", name, list(self._entries))
        return self._entries[name]

    def get(self, name: str, **kwargs: Any) -> Featuriser:
        """A new featuriser by registry name; ``kwargs`` go to its constructor."""
        return self.info(name).factory(**kwargs)

    def names(self, modality: Modality | None = None) -> list[str]:
        return [n for n, e in self._entries.items() if modality in (None, e.modality)]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[FeaturiserInfo]:
        return iter(self._entries.values())


def _tfidf(*, corpus: Sequence[str] | None = None, **kwargs: Any) -> TfidfSvdFeaturiser:
    """TF-IDF + SVD, fitted on ``corpus`` when one is given (else call ``.fit`` before use)."""
    f = TfidfSvdFeaturiser(**kwargs)
    return f.fit(corpus) if corpus is not None else f


def register_builtins(registry: FeaturiserRegistry) -> None:
    registry.register(
        "minilm", MiniLMFeaturiser, modality="text",
        description="all-MiniLM-L6-v2 sentence embeddings (384-d), onnxruntime or torch",
        available=minilm_available,
    )
    registry.register(
        "efficientnet_lite0", EfficientNetLite0Featuriser, modality="image",
        description="EfficientNet-Lite0 ImageNet features (1280-d), onnxruntime or torch",
        available=effnet_available,
    )
    registry.register(
        "tfidf", _tfidf, modality="text",
        description="TF-IDF + truncated SVD fitted on the project's texts (no torch)",
    )
    registry.register(
        "hashing", HashingFeaturiser, modality="text",
        description="hashed word and character n-grams (no torch, no fit)",
    )
    registry.register(
        "pixels", PixelFeaturiser, modality="image",
        description="downscaled, standardised raw pixels (no torch)",
    )
    registry.register(
        "sentence_transformer", SentenceTransformerFeaturiser, modality="text",
        description="any local sentence-transformers / Hugging Face model directory (path=...)",
    )


REGISTRY = FeaturiserRegistry()
register_builtins(REGISTRY)


def register_featuriser(
    name: str,
    factory: Callable[..., Featuriser],
    *,
    modality: Modality,
    description: str,
    available: Callable[[], tuple[bool, str]] | None = None,
) -> None:
    """Register a featuriser factory in the default registry (for user extensions)."""
    REGISTRY.register(name, factory, modality=modality, description=description,
                      available=available)


def get_featuriser(name: str, **kwargs: Any) -> Featuriser:
    """A featuriser by name from the default registry, e.g. ``get_featuriser("minilm")``."""
    return REGISTRY.get(name, **kwargs)


def default_featuriser(
    modality: Modality,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    corpus: Sequence[str] | None = None,
) -> Featuriser:
    """The best featuriser that can run here for ``modality``.

    ``minilm`` for text and ``efficientnet_lite0`` for images when their packages are installed
    (or their ONNX export is already cached); otherwise the torch-free fallback (``tfidf``,
    fitted on ``corpus`` if given, or ``pixels``) with a logged warning.
    """
    if modality == "text":
        ok, why = minilm_available(cache_dir)
        if ok:
            return MiniLMFeaturiser(cache_dir=cache_dir)
        log.warning("MiniLM text embeddings unavailable (%s); falling back to TF-IDF + SVD, "
                    "which is weaker. Install them with: pip install 'labella[text]'", why)
        return _tfidf(corpus=corpus)
    if modality == "image":
        ok, why = effnet_available(cache_dir)
        if ok:
            return EfficientNetLite0Featuriser(cache_dir=cache_dir)
        log.warning("EfficientNet-Lite0 image embeddings unavailable (%s); falling back to raw "
                    "pixels, which are weaker. Install them with: pip install 'labella[image]'", why)
        return PixelFeaturiser()
    raise ValueError(f"modality must be 'text' or 'image', got {modality!r}")
