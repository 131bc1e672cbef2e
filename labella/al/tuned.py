"""A logistic-regression head that tunes its own regularisation as labels arrive.

Embeddings are L2-normalised, so how strongly logistic regression should be
regularised depends on the backbone (384-d text vs 1280-d image embeddings)
and on how many labels there are. This head keeps class-balanced weights and
re-picks ``C`` from a small grid by stratified cross-validation on the
labelled rows each time the number of labels has doubled since the last
tuning (so tuning costs O(log n) rounds, not one per label). Between tunings
a fit is a single logistic regression: milliseconds on a few thousand rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from labella.al.heads import SklearnHead

C_GRID = (1.0, 3.0, 10.0, 30.0)


class TunedLogisticHead(SklearnHead):
    """Class-balanced logistic regression whose ``C`` is re-tuned when labels double.

    Attributes (after fit):
        C_: the regularisation in use.
        tuned_at_: number of labels at the last tuning (0 = never tuned).
    """

    def __init__(
        self,
        n_classes: int,
        *,
        multi_label: bool = False,
        C: float = 10.0,
        grid: tuple[float, ...] = C_GRID,
        min_labels: int = 20,
        folds: int = 3,
    ) -> None:
        self.C = C
        self.grid = grid
        self.min_labels = min_labels
        self.folds = folds
        self.C_ = C
        self.tuned_at_ = 0
        super().__init__(self._estimator(C), n_classes, multi_label=multi_label)

    @staticmethod
    def _estimator(C: float) -> LogisticRegression:
        return LogisticRegression(C=C, class_weight="balanced", max_iter=1000)

    def clone(self) -> TunedLogisticHead:
        twin = type(self)(self.n_classes, multi_label=self.multi_label, C=self.C,
                          grid=self.grid, min_labels=self.min_labels, folds=self.folds)
        twin.C_, twin.tuned_at_ = self.C_, self.tuned_at_
        twin.estimator = self._estimator(self.C_)
        return twin

    def get_params(self) -> dict[str, Any]:
        return {"C": self.C_, "class_weight": "balanced", "tuned_at": self.tuned_at_}

    def _cv_accuracy(self, X: np.ndarray, y: np.ndarray, C: float, folds: int) -> float:
        skf = StratifiedKFold(folds, shuffle=True, random_state=0)
        correct = 0
        for train, test in skf.split(X, y):
            if len(np.unique(y[train])) < 2:
                continue
            model = self._estimator(C).fit(X[train], y[train])
            correct += int((model.predict(X[test]) == y[test]).sum())
        return correct / len(y)

    def _maybe_tune(self, X: np.ndarray, y: np.ndarray) -> None:
        n = len(y)
        if self.multi_label or n < self.min_labels or n < 2 * self.tuned_at_:
            return
        counts = np.bincount(y)
        folds = min(self.folds, int(counts[counts > 0].min()))
        if folds < 2 or (counts > 0).sum() < 2:
            return
        scores = [self._cv_accuracy(X, y, C, folds) for C in self.grid]
        # ties go to the C closest to the current one (stable choices between tunings)
        best = max(range(len(self.grid)),
                   key=lambda i: (scores[i], -abs(np.log(self.grid[i] / self.C_))))
        self.C_ = float(self.grid[best])
        self.tuned_at_ = n
        self.estimator = self._estimator(self.C_)

    def fit(self, X: np.ndarray, y: np.ndarray) -> TunedLogisticHead:
        self._maybe_tune(X, y)
        super().fit(X, y)
        return self
