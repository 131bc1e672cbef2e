from __future__ import annotations

import numpy as np
import pytest

from labella.al import Pool, logistic_regression


def make_blobs(n: int = 240, d: int = 8, n_classes: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian blobs, L2-normalised like embeddings."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(n_classes, d)) * 2.0
    y = rng.integers(0, n_classes, size=n)
    X = centers[y] + rng.normal(size=(n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X.astype(np.float32), y.astype(np.int64)


def make_multilabel(n: int = 240, d: int = 8, n_labels: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(d, n_labels))
    X = rng.normal(size=(n, d))
    Y = (X @ W + rng.normal(size=(n, n_labels)) * 0.5 > 0.3).astype(np.int8)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X.astype(np.float32), Y


@pytest.fixture
def single_pool() -> tuple[Pool, object]:
    """A 3-class pool with 2 labels per class and a head fitted on them."""
    X, y = make_blobs()
    idx = np.concatenate([np.flatnonzero(y == c)[:2] for c in range(3)])
    pool = Pool.unlabeled(X, 3).with_labels(idx, y[idx])
    head = logistic_regression(3).fit(*pool.labeled_data())
    return pool, head


@pytest.fixture
def multi_pool() -> tuple[Pool, object]:
    X, Y = make_multilabel()
    idx = np.arange(12)
    pool = Pool.unlabeled(X, 4, multi_label=True).with_labels(idx, Y[idx])
    head = logistic_regression(4, multi_label=True).fit(*pool.labeled_data())
    return pool, head
