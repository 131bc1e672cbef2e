"""Core data types of the active-learning layer.

Index space: every index inside ``labella.al`` is a *row position* in a
:class:`Pool` snapshot (0 .. n_items-1), never a database item id. The service
layer owns the one mapping between the two.

Label conventions:

* single-label: ``y`` has shape ``(n,)``, dtype int64, values ``0 .. n_classes-1``
  or :data:`UNLABELED` (-1).
* multi-label: ``y`` has shape ``(n, n_classes)``, dtype int8, multi-hot rows of
  0/1; a row that is all :data:`UNLABELED` (-1) is unlabelled. A labelled row
  may be all zeros (no label applies).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from labella.errors import DataError, PoolExhaustedError

UNLABELED = -1
"""The missing-label marker, in both single- and multi-label arrays."""


PREDICT_CHUNK = 65_536
"""Rows per call when :meth:`Pool.predict_proba` scores many rows (bounds the copy of X)."""

UNLABELED_SAMPLE_MAX = 20_000
"""At most this many unlabelled rows go to a head that learns from the pool
(:meth:`Pool.unlabeled_sample`)."""


def labeled_mask(y: np.ndarray) -> np.ndarray:
    """Boolean mask of labelled rows for single (n,) or multi-hot (n, L) label arrays."""
    if y.ndim == 1:
        return np.asarray(y != UNLABELED)
    return np.asarray(np.all(y != UNLABELED, axis=1))


def empty_labels(n: int, n_classes: int, *, multi_label: bool) -> np.ndarray:
    """A label array with every row unlabelled."""
    if multi_label:
        return np.full((n, n_classes), UNLABELED, dtype=np.int8)
    return np.full(n, UNLABELED, dtype=np.int64)


@dataclass(frozen=True)
class Pool:
    """An immutable snapshot of the items a strategy may choose from.

    Attributes:
        X: features, shape ``(n, d)``, float32 (usually L2-normalised embeddings).
        y: labels in the convention of the module docstring.
        n_classes: number of classes (single-label) or labels (multi-label).
        multi_label: whether ``y`` is multi-hot.
    """

    X: np.ndarray
    y: np.ndarray
    n_classes: int
    multi_label: bool = False
    _mask: np.ndarray = field(init=False, repr=False, compare=False)
    _known: dict[int, tuple[Any, np.ndarray]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.X.ndim != 2:
            raise DataError(f"X must be 2-D (n, d); got shape {self.X.shape}")
        n = self.X.shape[0]
        want_ndim = 2 if self.multi_label else 1
        if self.y.ndim != want_ndim or self.y.shape[0] != n:
            raise DataError(
                f"y must have shape {(n, self.n_classes) if self.multi_label else (n,)} "
                f"for {'multi' if self.multi_label else 'single'}-label; got {self.y.shape}"
            )
        if self.multi_label and self.y.shape[1] != self.n_classes:
            raise DataError(f"y has {self.y.shape[1]} label columns, n_classes={self.n_classes}")
        if self.n_classes < 2 and not self.multi_label:
            raise DataError(f"single-label needs at least 2 classes; got {self.n_classes}")
        object.__setattr__(self, "_mask", labeled_mask(self.y))
        object.__setattr__(self, "_known", {})

    @classmethod
    def unlabeled(cls, X: np.ndarray, n_classes: int, *, multi_label: bool = False) -> Pool:
        """A pool with no labels yet."""
        return cls(X, empty_labels(len(X), n_classes, multi_label=multi_label), n_classes, multi_label)

    @property
    def n_items(self) -> int:
        return int(self.X.shape[0])

    @property
    def labeled_mask(self) -> np.ndarray:
        """Boolean mask, shape ``(n,)``."""
        return self._mask

    @property
    def labeled_indices(self) -> np.ndarray:
        return np.flatnonzero(self._mask)

    @property
    def unlabeled_indices(self) -> np.ndarray:
        return np.flatnonzero(~self._mask)

    @property
    def n_labeled(self) -> int:
        return int(self._mask.sum())

    def check_can_query(self, n: int) -> None:
        """Raise :class:`PoolExhaustedError` if fewer than ``n`` items are unlabelled."""
        if n < 1:
            raise ValueError(f"batch size must be >= 1; got {n}")
        left = self.n_items - self.n_labeled
        if left < n:
            raise PoolExhaustedError(n_unlabeled=left, requested=n)

    def with_labels(self, indices: np.ndarray, labels: np.ndarray) -> Pool:
        """A new pool with ``labels`` set at row positions ``indices``."""
        y = self.y.copy()
        y[np.asarray(indices, dtype=np.int64)] = labels
        return Pool(self.X, y, self.n_classes, self.multi_label)

    def remember_proba(self, head: Any, proba: np.ndarray) -> None:
        """Record ``head``'s probabilities for every row, so :meth:`predict_proba` need not
        compute them again. Only for a head that is not refitted while this pool is in use."""
        if proba.shape[0] != self.n_items:
            raise DataError(f"proba has {proba.shape[0]} rows; the pool has {self.n_items}")
        self._known[id(head)] = (head, proba)

    def predict_proba(self, head: Any, rows: np.ndarray) -> np.ndarray:
        """``head.predict_proba(X[rows])``, taken from :meth:`remember_proba` when known.

        Rows go to the head in chunks of :data:`PREDICT_CHUNK`: ``X[rows]`` is a copy, and
        on a 1 000 000 x 384 pool a single copy of every unlabelled row is 1.5 GiB.
        """
        known = self._known.get(id(head))
        if known is not None and known[0] is head:
            return known[1][rows]
        rows = np.asarray(rows)
        if len(rows) <= PREDICT_CHUNK:
            return np.asarray(head.predict_proba(self.X[rows]))
        out: np.ndarray | None = None
        for start in range(0, len(rows), PREDICT_CHUNK):
            part = np.asarray(head.predict_proba(self.X[rows[start : start + PREDICT_CHUNK]]))
            if out is None:
                out = np.empty((len(rows), *part.shape[1:]), dtype=part.dtype)
            out[start : start + len(part)] = part
        assert out is not None
        return out

    def labeled_data(self) -> tuple[np.ndarray, np.ndarray]:
        """``(X_labeled, y_labeled)``."""
        idx = self.labeled_indices
        return self.X[idx], self.y[idx]

    def unlabeled_sample(self, max_items: int = UNLABELED_SAMPLE_MAX) -> np.ndarray:
        """Features of the unlabelled items, or of a fixed random ``max_items`` of them
        (seeded, in pool order) when there are more: what a head that learns from the
        pool (:func:`labella.al.heads.fit_head`) gets, without copying a huge pool."""
        idx = self.unlabeled_indices
        if len(idx) > max_items:
            idx = np.sort(np.random.default_rng(0).choice(idx, max_items, replace=False))
        return self.X[idx]


@dataclass(frozen=True)
class QueryResult:
    """What a strategy chose and why.

    Attributes:
        indices: chosen row positions in the pool, shape ``(k,)``, in priority order.
        scores: the strategy's score for each chosen item, shape ``(k,)``
            (higher = more wanted); NaN where a strategy has no per-item score.
        strategy: registry name of the strategy.
        params: the parameters that reproduce the choice (including the seed if any).
    """

    indices: np.ndarray
    scores: np.ndarray
    strategy: str
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.indices.shape != self.scores.shape:
            raise ValueError(
                f"indices {self.indices.shape} and scores {self.scores.shape} differ in shape"
            )
        if len(np.unique(self.indices)) != len(self.indices):
            raise ValueError("a query result must not repeat an index")

    def __len__(self) -> int:
        return len(self.indices)
