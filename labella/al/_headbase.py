"""Plumbing shared by the heads written in Labella (:mod:`labella.al.heads`,
:mod:`labella.al.neural`): input checks, link functions and the parameter
convention of scikit-learn (parameters are attributes without a trailing ``_``)."""

from __future__ import annotations

from typing import Any, Self

import numpy as np
from sklearn.exceptions import NotFittedError

from labella.errors import DataError


def check_fit_input(X: np.ndarray, y: np.ndarray, n_classes: int, multi_label: bool) -> None:
    if len(X) != len(y):
        raise DataError(f"X has {len(X)} rows, y has {len(y)}")
    if multi_label:
        if y.ndim != 2 or y.shape[1] != n_classes:
            raise DataError(f"multi-label y must be (n, {n_classes}); got {y.shape}")
    elif y.ndim != 1:
        raise DataError(f"single-label y must be 1-D; got {y.shape}")
    elif len(y) and (y.min() < 0 or y.max() >= n_classes):
        raise DataError(f"labels must be in 0..{n_classes - 1}; got {y.min()}..{y.max()}")


def not_fitted(head: object) -> NotFittedError:
    return NotFittedError(f"{type(head).__name__} is not fitted yet; call fit (or partial_fit) first")


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=-1, keepdims=True))


def sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * z)))


class OwnHead:
    """Shared plumbing of the heads written here: parameters are the attributes
    not ending in ``_`` (the scikit-learn convention), fitted state the rest."""

    n_classes: int
    multi_label: bool

    def get_params(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if not k.endswith("_")}

    def clone(self) -> Self:
        """An unfitted copy with the same parameters."""
        return type(self)(**self.get_params())

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError  # pragma: no cover - abstract

    def predict(self, X: np.ndarray) -> np.ndarray:
        proba = self.predict_proba(X)
        return (proba >= 0.5).astype(np.int8) if self.multi_label else proba.argmax(axis=1)
