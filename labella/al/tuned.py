"""A logistic-regression head that tunes its own regularisation as labels arrive.

How strongly logistic regression on embeddings should be regularised depends on
the data, not only on the backbone: measured with margin sampling, binary
sentiment on MiniLM embeddings (overlapping classes) wants ``C`` near 1, TREC
question types on the same embeddings ``C`` near 10, the sign-language photos
on EfficientNet embeddings ``C`` of 30 or more (docs/default-strategy.md §5).
So this head keeps class-balanced weights and re-picks ``C`` from a grid by
stratified cross-validation on the labelled rows, scored by held-out log-loss
(smoother than accuracy on a few dozen labels, and it punishes a head that is
confidently wrong on the ambiguous items uncertainty sampling collects). Of the
candidates it keeps the most regularised one whose CV loss is within one standard
error of the best (the "one-standard-error rule"): on a few dozen labels chosen by
uncertainty sampling the lowest CV loss points to too weak a regularisation, and
the rule cut the test-accuracy regret of the pick by a third to a half on the text
sets measured (docs/default-strategy.md §7). It re-tunes only when the number of
labels has grown by ``growth`` since the last tuning, so a run of n labels costs
O(log n) tunings; between tunings a fit is a single logistic regression.
Multi-label heads are not tuned (``C`` stays at its starting value, one balanced
logistic regression per label).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from labella.al.heads import SklearnHead

C_GRID = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)


class TunedLogisticHead(SklearnHead):
    """Class-balanced logistic regression whose ``C`` is re-tuned by CV log-loss.

    Args:
        C: the regularisation used until the first tuning.
        grid: the candidates.
        min_labels: no tuning below this many labels.
        folds: at most this many CV folds (fewer when a class has fewer labels).
        growth: re-tune when the labels reach ``growth`` times those of the last tuning.
        one_se: keep the first grid candidate within one standard error of the lowest
            CV loss (the grid is ordered from strongest regularisation); ``False``
            keeps the lowest.

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
        one_se: bool = True,
    ) -> None:
        if growth <= 1.0:
            raise ValueError(f"growth must be > 1; got {growth}")
        self.C = C
        self.grid = grid
        self.min_labels = min_labels
        self.folds = folds
        self.growth = growth
        self.one_se = one_se
        self.C_ = C
        self.tuned_at_ = 0
        super().__init__(self._estimator(C), n_classes, multi_label=multi_label)

    @staticmethod
    def _estimator(C: float) -> LogisticRegression:
        return LogisticRegression(C=C, class_weight="balanced", max_iter=1000)

    def clone(self) -> TunedLogisticHead:
        """An unfitted copy that keeps the tuned ``C`` (and when it was tuned)."""
        twin = type(self)(self.n_classes, multi_label=self.multi_label, C=self.C, grid=self.grid,
                          min_labels=self.min_labels, folds=self.folds, growth=self.growth,
                          one_se=self.one_se)
        twin.C_, twin.tuned_at_ = self.C_, self.tuned_at_
        twin.estimator = self._estimator(self.C_)
        return twin

    def get_params(self) -> dict[str, Any]:
        return {"C": self.C_, "class_weight": "balanced", "tuned_at": self.tuned_at_}

    def cv_losses(self, X: np.ndarray, y: np.ndarray, C: float,
                  folds: int) -> tuple[np.ndarray, np.ndarray]:
        """Each labelled row's held-out log-loss and whether it was predicted right,
        for balanced logistic regression at ``C`` (stratified ``folds``-fold CV)."""
        skf = StratifiedKFold(folds, shuffle=True, random_state=0)
        loss = np.zeros(len(y))
        right = np.zeros(len(y), dtype=bool)
        for train, test in skf.split(X, y):
            model = self._estimator(C).fit(X[train], y[train])
            proba = np.full((len(test), self.n_classes), 1e-9)
            proba[:, model.classes_] = model.predict_proba(X[test])
            loss[test] = -np.log(np.clip(proba[np.arange(len(test)), y[test]], 1e-9, 1.0))
            right[test] = proba.argmax(axis=1) == y[test]
        return loss, right

    def cv_scores(self, X: np.ndarray, y: np.ndarray, C: float, folds: int) -> tuple[float, float]:
        """Held-out ``(mean log-loss, accuracy)`` of balanced logistic regression at ``C``."""
        loss, right = self.cv_losses(X, y, C, folds)
        return float(loss.mean()), float(right.mean())

    def choose(self, losses: list[np.ndarray], rights: list[np.ndarray]) -> int:
        """Index into the grid of the ``C`` to use, given each candidate's held-out rows.

        The lowest mean log-loss (ties: higher accuracy, then the grid's order); with
        ``one_se``, the first candidate in the grid's order (the most regularised, for
        an ascending grid) whose mean loss is within one standard error of that best.
        """
        means = [float(v.mean()) for v in losses]
        best = min(range(len(means)), key=lambda i: (means[i], -float(rights[i].mean()), i))
        if not self.one_se:
            return best
        se = float(losses[best].std() / np.sqrt(len(losses[best])))
        return next(i for i in range(len(means)) if means[i] <= means[best] + se)

    def _maybe_tune(self, X: np.ndarray, y: np.ndarray) -> None:
        n = len(y)
        if self.multi_label or n < self.min_labels or n < self.growth * self.tuned_at_:
            return
        counts = np.bincount(y)
        folds = min(self.folds, int(counts[counts > 0].min()))
        if folds < 2 or (counts > 0).sum() < 2:
            return
        with threadpool_limits(1):  # small fits: see labella.al.heads.blas_threads_for
            runs = [self.cv_losses(X, y, C, folds) for C in self.grid]
        self.C_ = float(self.grid[self.choose([r[0] for r in runs], [r[1] for r in runs])])
        self.tuned_at_ = n
        self.estimator = self._estimator(self.C_)

    def fit(self, X: np.ndarray, y: np.ndarray) -> TunedLogisticHead:
        self._maybe_tune(X, y)
        super().fit(X, y)
        return self
