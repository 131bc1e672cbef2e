"""A logistic-regression head that tunes its own regularisation as labels arrive.

How strongly logistic regression on embeddings should be regularised depends on
the data, not only on the backbone: measured with margin sampling, binary
sentiment on MiniLM embeddings (overlapping classes) wants ``C`` near 1, TREC
question types on the same embeddings ``C`` near 10, the sign-language photos
on EfficientNet embeddings ``C`` of 30 or more (docs/default-strategy.md §5).
So this head keeps class-balanced weights and re-picks ``C`` from a grid by
stratified cross-validation on the labelled rows, scored by held-out log-loss
(smoother than accuracy on a few dozen labels, and it punishes a head that is
confidently wrong on the ambiguous items uncertainty sampling collects). It
re-tunes only when the number of labels has grown by ``growth`` since the last
tuning, so a run of n labels costs O(log n) tunings; between tunings a fit is a
single logistic regression. Multi-label heads are not tuned (``C`` stays at its
starting value, one balanced logistic regression per label).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from labella.al.heads import SklearnHead

C_GRID = (1.0, 3.0, 10.0, 30.0, 100.0)


class TunedLogisticHead(SklearnHead):
    """Class-balanced logistic regression whose ``C`` is re-tuned by CV log-loss.

    Args:
        C: the regularisation used until the first tuning.
        grid: the candidates.
        min_labels: no tuning below this many labels.
        folds: at most this many CV folds (fewer when a class has fewer labels).
        growth: re-tune when the labels reach ``growth`` times those of the last tuning.

    Attributes (after fit):
        C_: the regularisation in use.
        tuned_at_: number of labels at the last tuning (0 = never tuned).
    """

    keeps_state = True
    """Its tuned ``C`` is worth keeping from one fit to the next (see :meth:`clone`)."""

    def __init__(
        self,
        n_classes: int,
        *,
        multi_label: bool = False,
        C: float = 10.0,
        grid: tuple[float, ...] = C_GRID,
        min_labels: int = 20,
        folds: int = 5,
        growth: float = 1.5,
    ) -> None:
        if growth <= 1.0:
            raise ValueError(f"growth must be > 1; got {growth}")
        self.C = C
        self.grid = grid
        self.min_labels = min_labels
        self.folds = folds
        self.growth = growth
        self.C_ = C
        self.tuned_at_ = 0
        super().__init__(self._estimator(C), n_classes, multi_label=multi_label)

    @staticmethod
    def _estimator(C: float) -> LogisticRegression:
        return LogisticRegression(C=C, class_weight="balanced", max_iter=1000)

    def clone(self) -> TunedLogisticHead:
        """An unfitted copy that keeps the tuned ``C`` (and when it was tuned)."""
        twin = type(self)(self.n_classes, multi_label=self.multi_label, C=self.C, grid=self.grid,
                          min_labels=self.min_labels, folds=self.folds, growth=self.growth)
        twin.C_, twin.tuned_at_ = self.C_, self.tuned_at_
        twin.estimator = self._estimator(self.C_)
        return twin

    def get_params(self) -> dict[str, Any]:
        return {"C": self.C_, "class_weight": "balanced", "tuned_at": self.tuned_at_}

    def cv_scores(self, X: np.ndarray, y: np.ndarray, C: float, folds: int) -> tuple[float, float]:
        """Held-out ``(mean log-loss, accuracy)`` of balanced logistic regression at ``C``."""
        skf = StratifiedKFold(folds, shuffle=True, random_state=0)
        loss, correct = 0.0, 0
        for train, test in skf.split(X, y):
            model = self._estimator(C).fit(X[train], y[train])
            proba = np.full((len(test), self.n_classes), 1e-9)
            proba[:, model.classes_] = model.predict_proba(X[test])
            p_true = np.clip(proba[np.arange(len(test)), y[test]], 1e-9, 1.0)
            loss -= float(np.log(p_true).sum())
            correct += int((proba.argmax(axis=1) == y[test]).sum())
        return loss / len(y), correct / len(y)

    def _maybe_tune(self, X: np.ndarray, y: np.ndarray) -> None:
        n = len(y)
        if self.multi_label or n < self.min_labels or n < self.growth * self.tuned_at_:
            return
        counts = np.bincount(y)
        folds = min(self.folds, int(counts[counts > 0].min()))
        if folds < 2 or (counts > 0).sum() < 2:
            return
        with threadpool_limits(1):  # small fits: see labella.al.heads.blas_threads_for
            scores = [self.cv_scores(X, y, C, folds) for C in self.grid]
        # lowest log-loss; ties by accuracy, then the smaller C (the grid's order)
        best = min(range(len(self.grid)), key=lambda i: (scores[i][0], -scores[i][1], i))
        self.C_ = float(self.grid[best])
        self.tuned_at_ = n
        self.estimator = self._estimator(self.C_)

    def fit(self, X: np.ndarray, y: np.ndarray) -> TunedLogisticHead:
        self._maybe_tune(X, y)
        super().fit(X, y)
        return self
