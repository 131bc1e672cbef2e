"""Heads: light models fitted on cached embeddings.

Every head follows one protocol (:class:`Head`): ``fit(X, y)`` with labels in
the convention of :mod:`labella.al.types` (labelled rows only),
``predict_proba(X)`` returning all ``n_classes`` columns even when some class
has no label yet, and ``clone()`` returning an unfitted copy with the same
parameters. Strategies never fit a caller's head; they clone it.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np
from sklearn.base import clone as sk_clone
from sklearn.linear_model import LogisticRegression

from labella.errors import DataError


@runtime_checkable
class Head(Protocol):
    n_classes: int
    multi_label: bool

    def fit(self, X: np.ndarray, y: np.ndarray) -> Head: ...

    def predict_proba(self, X: np.ndarray) -> np.ndarray: ...

    def clone(self) -> Head: ...


def _check_fit_input(X: np.ndarray, y: np.ndarray, n_classes: int, multi_label: bool) -> None:
    if len(X) != len(y):
        raise DataError(f"X has {len(X)} rows, y has {len(y)}")
    if multi_label:
        if y.ndim != 2 or y.shape[1] != n_classes:
            raise DataError(f"multi-label y must be (n, {n_classes}); got {y.shape}")
    elif y.ndim != 1:
        raise DataError(f"single-label y must be 1-D; got {y.shape}")
    elif len(y) and (y.min() < 0 or y.max() >= n_classes):
        raise DataError(f"labels must be in 0..{n_classes - 1}; got {y.min()}..{y.max()}")


class SklearnHead:
    """Adapter for any scikit-learn classifier with ``predict_proba``.

    Single-label: one estimator; classes missing from the labelled data get
    probability 0 (a head fitted on one class predicts it with certainty).
    Multi-label: one clone of the estimator per label (one-vs-rest); a label
    seen with only one value so far predicts that value's frequency.
    """

    def __init__(self, estimator: Any, n_classes: int, *, multi_label: bool = False) -> None:
        self.estimator = estimator
        self.n_classes = n_classes
        self.multi_label = multi_label

    def clone(self) -> SklearnHead:
        return type(self)(sk_clone(self.estimator), self.n_classes, multi_label=self.multi_label)

    def get_params(self) -> dict[str, Any]:
        return {"estimator": type(self.estimator).__name__, **self.estimator.get_params()}

    def fit(self, X: np.ndarray, y: np.ndarray) -> SklearnHead:
        _check_fit_input(X, y, self.n_classes, self.multi_label)
        if len(y) == 0:
            raise DataError("cannot fit a head on zero labelled items")
        if self.multi_label:
            self.models_: list[Any] = []
            for j in range(self.n_classes):
                col = y[:, j]
                if col.min() == col.max():
                    self.models_.append(float(col[0]))
                else:
                    self.models_.append(sk_clone(self.estimator).fit(X, col))
        else:
            self.classes_ = np.unique(y)
            if len(self.classes_) == 1:
                self.model_: Any = int(self.classes_[0])
            else:
                self.model_ = sk_clone(self.estimator).fit(X, y)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        n = len(X)
        if self.multi_label:
            out = np.empty((n, self.n_classes))
            for j, m in enumerate(self.models_):
                out[:, j] = m if isinstance(m, float) else m.predict_proba(X)[:, 1]
            return out
        out = np.zeros((n, self.n_classes))
        if isinstance(self.model_, int):
            out[:, self.model_] = 1.0
        else:
            out[:, self.model_.classes_] = self.model_.predict_proba(X)
        return out

    def predict(self, X: np.ndarray) -> np.ndarray:
        proba = self.predict_proba(X)
        if self.multi_label:
            return (proba >= 0.5).astype(np.int8)
        return proba.argmax(axis=1)


def logistic_regression(n_classes: int, *, multi_label: bool = False, C: float = 1.0) -> SklearnHead:
    """Plain logistic regression (one-vs-rest for multi-label): the baseline head."""
    return SklearnHead(LogisticRegression(C=C, max_iter=1000), n_classes, multi_label=multi_label)
