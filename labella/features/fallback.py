"""Featurisers that need neither torch nor downloaded weights: TF-IDF + SVD, and raw pixels.

They are weaker than the pretrained backbones, but keep Labella working on a minimal install
(numpy, scikit-learn, Pillow).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from labella.errors import LabellaError
from labella.features.base import (
    ImageItem,
    Progress,
    batches,
    check_output,
    check_texts,
    decode_image,
    l2_normalise,
)

log = logging.getLogger(__name__)


class NotFittedError(LabellaError, AttributeError):
    """A corpus-dependent featuriser was used before being fitted.

    Also an ``AttributeError`` (as scikit-learn's), so ``hasattr(f, "key")`` is false until fitted.
    """


class TfidfSvdFeaturiser:
    """TF-IDF (word 1-2 grams, one-character words kept, sublinear tf) reduced by TruncatedSVD (LSA), L2-normalised.

    Corpus dependent: :meth:`fit` it on the project's texts; used unfitted, it fits itself on the
    first texts it is given (by :meth:`embed`, or by the embedding cache, which fits such a
    featuriser on the whole call before asking for its key). Since the same
    text gets a different vector under a different fitted model, the ``key`` includes a hash of the
    fitted state — vocabulary, idf weights and SVD components — so the embedding cache never mixes
    vectors from two fits. Refitting on a changed corpus therefore starts a new cache entry; fitting
    on the same corpus with the same parameters gives the same key.

    Args:
        n_components: wanted dimension; capped at ``min(n_terms, n_texts) - 1`` by :meth:`fit`.
        max_features: vocabulary size limit.
        min_df: minimum document frequency of a term (count).
        seed: random state of the randomised SVD.
    """

    modality: Literal["text"] = "text"

    def __init__(
        self,
        n_components: int = 256,
        *,
        max_features: int = 50_000,
        min_df: int = 1,
        seed: int = 0,
    ) -> None:
        self.n_components = n_components
        self.max_features = max_features
        self.min_df = min_df
        self.seed = seed
        self._vectorizer: Any = None
        self._svd: Any = None
        self._key: str | None = None

    def __repr__(self) -> str:
        state = self._key if self._key else "unfitted"
        return f"TfidfSvdFeaturiser(n_components={self.n_components}, {state})"

    @property
    def fitted(self) -> bool:
        return self._key is not None

    def fit(self, corpus: Sequence[str]) -> TfidfSvdFeaturiser:
        """Fit the vocabulary, idf weights and SVD on ``corpus``; returns ``self``."""
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        texts = check_texts(corpus)
        if len(texts) < 2:
            raise ValueError(f"TF-IDF needs at least 2 texts to fit, got {len(texts)}")
        vec = TfidfVectorizer(
            ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"(?u)\b\w+\b",
            min_df=self.min_df, max_features=self.max_features, dtype=np.float32,
        )
        try:
            x = vec.fit_transform(texts)
        except ValueError as exc:  # empty vocabulary
            raise ValueError(f"TF-IDF could not fit the corpus: {exc}") from exc
        k = max(1, min(self.n_components, x.shape[1] - 1, x.shape[0] - 1))
        svd = TruncatedSVD(n_components=k, algorithm="randomized", random_state=self.seed)
        svd.fit(x)
        self._vectorizer, self._svd = vec, svd
        self._key = f"text/tfidf-svd{k}/v1/fit-{self._fit_hash()}"
        return self

    def _fit_hash(self) -> str:
        h = hashlib.sha256()
        vocab = sorted(self._vectorizer.vocabulary_.items(), key=lambda kv: kv[1])
        h.update("\n".join(term for term, _ in vocab).encode("utf-8", "surrogatepass"))
        h.update(np.ascontiguousarray(self._vectorizer.idf_, dtype=np.float32).tobytes())
        h.update(np.ascontiguousarray(self._svd.components_, dtype=np.float32).tobytes())
        return h.hexdigest()[:16]

    def _require_fit(self) -> str:
        if self._key is None:
            raise NotFittedError(
                "TfidfSvdFeaturiser is corpus dependent: its key exists once fitted (call .fit(texts))"
            )
        return self._key

    @property
    def key(self) -> str:
        return self._require_fit()

    @property
    def dim(self) -> int:
        self._require_fit()
        return int(self._svd.n_components)

    def embed(
        self,
        items: Sequence[str],
        *,
        batch_size: int | None = None,
        progress: Progress | None = None,
    ) -> np.ndarray:
        """LSA embeddings of ``items`` in order: ``float32`` (n, dim), rows L2-normalised.

        Texts with no known term map to the zero vector. Unfitted, it first fits on ``items``.
        """
        texts = check_texts(items)
        if not self.fitted:
            log.info("fitting TF-IDF + SVD on the %d texts given", len(texts))
            self.fit(texts)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for sl in batches(len(texts), batch_size or 4096):
            out[sl] = self._svd.transform(self._vectorizer.transform(texts[sl]))
            if progress is not None:
                progress(sl.stop, len(texts))
        return check_output(l2_normalise(out), n=len(texts), dim=self.dim, key=self.key)


class PixelFeaturiser:
    """Downscaled raw pixels: resize to ``size`` x ``size`` (whole image, bilinear, as
    :func:`~labella.features.base.decode_image`), flatten, standardise per image (zero mean, unit
    variance, so brightness and contrast do not dominate), L2-normalise.

    Corpus independent, so the key depends only on the parameters.

    Args:
        size: side of the downscaled square (default 32).
        mode: ``"rgb"`` (dim = 3·size²) or ``"gray"`` (dim = size²).
    """

    modality: Literal["image"] = "image"

    def __init__(self, size: int = 32, *, mode: Literal["rgb", "gray"] = "rgb") -> None:
        if mode not in ("rgb", "gray"):
            raise ValueError(f"mode must be 'rgb' or 'gray', got {mode!r}")
        if size < 2:
            raise ValueError(f"size must be >= 2, got {size}")
        self.size = size
        self.mode = mode

    def __repr__(self) -> str:
        return f"PixelFeaturiser(size={self.size}, mode={self.mode!r})"

    @property
    def key(self) -> str:
        return f"image/pixels/{self.mode}{self.size}-squash-bilinear/std-l2/v1"

    @property
    def dim(self) -> int:
        return self.size * self.size * (3 if self.mode == "rgb" else 1)

    def embed(
        self,
        items: Sequence[ImageItem],
        *,
        batch_size: int | None = None,
        progress: Progress | None = None,
    ) -> np.ndarray:
        """Pixel vectors of ``items`` in order: ``float32`` (n, dim), rows L2-normalised."""
        items = list(items)
        pil_mode = "RGB" if self.mode == "rgb" else "L"
        out = np.empty((len(items), self.dim), dtype=np.float32)
        for sl in batches(len(items), batch_size or 256):
            for i in range(sl.start, sl.stop):
                px = decode_image(items[i], size=self.size, mode=pil_mode, index=i)
                out[i] = px.reshape(-1).astype(np.float32)
            block = out[sl]
            block -= block.mean(axis=1, keepdims=True)
            block /= np.maximum(block.std(axis=1, keepdims=True), np.float32(1e-6))
            if progress is not None:
                progress(sl.stop, len(items))
        return check_output(l2_normalise(out), n=len(items), dim=self.dim, key=self.key)


class HashingFeaturiser:
    """Hashed word and character n-gram counts (scikit-learn's ``HashingVectorizer``), TF
    weighted, L2-normalised: a torch-free, corpus-independent text featuriser.

    Weaker than sentence embeddings and than TF-IDF + SVD, but needs no fit, so a server
    project can use it for every import (TF-IDF's vocabulary would change with each one).

    Args:
        dim: number of hash buckets (embedding width).
    """

    modality: Literal["text"] = "text"

    def __init__(self, dim: int = 2048) -> None:
        if dim < 16:
            raise ValueError(f"dim must be >= 16, got {dim}")
        self._dim = dim

    def __repr__(self) -> str:
        return f"HashingFeaturiser(dim={self._dim})"

    @property
    def key(self) -> str:
        return f"text/hashing/word12-char35-{self._dim}/l2/v1"

    @property
    def dim(self) -> int:
        return self._dim

    def embed(
        self,
        items: Sequence[str],
        *,
        batch_size: int | None = None,
        progress: Progress | None = None,
    ) -> np.ndarray:
        """Hashed n-gram vectors of ``items`` in order: ``float32`` (n, dim), L2-normalised."""
        from sklearn.feature_extraction.text import HashingVectorizer

        texts = [str(t) for t in items]
        words = HashingVectorizer(n_features=self._dim, ngram_range=(1, 2), alternate_sign=False,
                                  norm=None, lowercase=True)
        chars = HashingVectorizer(n_features=self._dim, analyzer="char_wb", ngram_range=(3, 5),
                                  alternate_sign=False, norm=None, lowercase=True)
        out = np.empty((len(texts), self._dim), dtype=np.float32)
        for sl in batches(len(texts), batch_size or 1024):
            block = words.transform(texts[sl]) + 0.5 * chars.transform(texts[sl])
            out[sl] = np.sqrt(block.toarray())  # damp frequent n-grams
            if progress is not None:
                progress(sl.stop, len(texts))
        return check_output(l2_normalise(out), n=len(texts), dim=self.dim, key=self.key)
