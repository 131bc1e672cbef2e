"""Featurisers (text, image, torch-free fallbacks) and the persistent embedding cache.

Importing this package loads numpy only: torch, sentence-transformers, onnxruntime, tokenizers
and Pillow are imported when a featuriser first needs them.

    from labella.features import EmbeddingCache, default_featuriser
    f = default_featuriser("text")
    X = EmbeddingCache("cache/embeddings").get_or_compute(f, texts)   # (n, 384) float32
"""

from labella.features.base import Featuriser, Modality, l2_normalise
from labella.features.cache import EmbeddingCache, FeaturiseError
from labella.features.fallback import NotFittedError, PixelFeaturiser, TfidfSvdFeaturiser
from labella.features.image import EfficientNetLite0Featuriser
from labella.features.registry import (
    REGISTRY,
    FeaturiserInfo,
    FeaturiserRegistry,
    default_featuriser,
    get_featuriser,
    register_featuriser,
)
from labella.features.text import MiniLMFeaturiser, SentenceTransformerFeaturiser

__all__ = [
    "REGISTRY",
    "EfficientNetLite0Featuriser",
    "EmbeddingCache",
    "FeaturiseError",
    "Featuriser",
    "FeaturiserInfo",
    "FeaturiserRegistry",
    "MiniLMFeaturiser",
    "Modality",
    "NotFittedError",
    "PixelFeaturiser",
    "SentenceTransformerFeaturiser",
    "TfidfSvdFeaturiser",
    "default_featuriser",
    "get_featuriser",
    "l2_normalise",
    "register_featuriser",
]
