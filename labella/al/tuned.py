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

Before the first query the default is random sampling's own model. Below
``self_train_below`` labels (the random first batch) its predictions are those of plain
logistic regression (``C=1``, no class weights: what ``random`` uses) fitted on the same
labels, while queries score with the class-balanced head (:meth:`for_queries`). On the
same random labels the balanced head is better on average (2-20 points at 10 labels) but
one unlucky draw of an imbalanced pool put it 11-26 points below plain logistic
regression, a loss no rule on ten labels can foresee (docs/default-strategy.md §11); so
the default takes no risk before it has made a query, and active learning starts to
matter from the first queried batch. ``first_batch="pseudo"`` restores the earlier
behaviour, described next.

With ``first_batch="pseudo"``, before the first tuning the head instead also
learns from the unlabelled pool when it is given one (``fit(X, y, unlabeled=...)``):
it labels the pool with its own predictions, adds for each class the pool items it
is most sure of (twice as many per class as there are labels per class, at weight
0.3) and refits once. At 10 random labels that gained 1.7 (CR), 0.2 (MPQA), 4.9
(TREC) and 0.5 (sign photos) points of test accuracy on average over 60 draws
(docs/default-strategy.md §8). Its predictions are what a user sees; query
strategies score with the head fitted on the labels alone (:meth:`for_queries`),
because margin batches picked by the pseudo-labelled head moved the later curve
up or down by more than that gain depending on details of the pseudo-labelling.
From ``self_train_below`` labels on it adds nothing: with more labels, chosen by
uncertainty sampling, pseudo-labels were within noise or worse (§5).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from labella.al.heads import Head, SklearnHead

C_GRID = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)
FIRST_BATCH = ("plain", "pseudo")


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
        self_train_below: with fewer labels than this, and an ``unlabeled`` pool
            given to :meth:`fit`, add pseudo-labelled pool items (0: never).
        pseudo_per_class: pseudo-labels per class, as a multiple of the labels per class.
        pseudo_weight: sample weight of a pseudo-labelled item (a label weighs 1).
        prior_majority: with ``first_batch="pseudo"``, correct predictions by the
            first labels' class distribution when one class holds this share of them.
        first_batch: below ``self_train_below`` labels, predict with plain logistic
            regression on the labels (``"plain"``, the default) or with the balanced head,
            pseudo-labels and the prior rule (``"pseudo"``).

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
        self_train_below: int = 20,
        pseudo_per_class: float = 2.0,
        pseudo_weight: float = 0.3,
        prior_majority: float = 0.75,
        first_batch: str = "plain",
    ) -> None:
        if growth <= 1.0:
            raise ValueError(f"growth must be > 1; got {growth}")
        if pseudo_per_class < 0 or not 0 < pseudo_weight <= 1:
            raise ValueError("pseudo_per_class must be >= 0 and pseudo_weight in (0, 1]; "
                             f"got {pseudo_per_class}, {pseudo_weight}")
        self.C = C
        self.grid = grid
        self.min_labels = min_labels
        self.folds = folds
        self.growth = growth
        self.one_se = one_se
        self.self_train_below = self_train_below
        self.pseudo_per_class = pseudo_per_class
        self.pseudo_weight = pseudo_weight
        if first_batch not in FIRST_BATCH:
            raise ValueError(f"first_batch must be one of {FIRST_BATCH}; got {first_batch!r}")
        self.prior_majority = prior_majority
        self.first_batch = first_batch
        self.C_ = C
        self.tuned_at_ = 0
        self.n_pseudo_ = 0
        self.plain_ = False
        super().__init__(self._estimator(C), n_classes, multi_label=multi_label)

    @staticmethod
    def _estimator(C: float) -> LogisticRegression:
        return LogisticRegression(C=C, class_weight="balanced", max_iter=1000)

    def clone(self) -> TunedLogisticHead:
        """An unfitted copy that keeps the tuned ``C`` (and when it was tuned)."""
        twin = type(self)(self.n_classes, multi_label=self.multi_label, C=self.C, grid=self.grid,
                          min_labels=self.min_labels, folds=self.folds, growth=self.growth,
                          one_se=self.one_se, self_train_below=self.self_train_below,
                          pseudo_per_class=self.pseudo_per_class, pseudo_weight=self.pseudo_weight,
                          prior_majority=self.prior_majority, first_batch=self.first_batch)
        twin.C_, twin.tuned_at_ = self.C_, self.tuned_at_
        twin.estimator = self._estimator(self.C_)
        return twin

    def get_params(self) -> dict[str, Any]:
        return {"C": self.C_, "class_weight": "balanced", "tuned_at": self.tuned_at_,
                "pseudo_labels": self.n_pseudo_, "plain_first_batch": self.plain_}

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

    def _plain_first_batch(self, n_labels: int) -> bool:
        return not self.multi_label and n_labels < self.self_train_below

    def wants_unlabeled(self, n_labels: int) -> bool:
        """Whether :meth:`fit` at ``n_labels`` labels would use the unlabelled pool."""
        return (self.first_batch == "pseudo" and not self.multi_label
                and n_labels < self.self_train_below)

    def fit(self, X: np.ndarray, y: np.ndarray,
            unlabeled: np.ndarray | None = None) -> TunedLogisticHead:
        """Fit on the labelled rows; ``unlabeled`` (the pool's unlabelled features) is
        used only below ``self_train_below`` labels, for pseudo-labels."""
        self._maybe_tune(X, y)
        super().fit(X, y)
        self.n_pseudo_ = 0
        self.plain_ = False
        self.labels_only_: Any = None
        self.prior_ = None
        if self.first_batch == "plain":
            if self._plain_first_batch(len(y)) and not isinstance(self.model_, int):
                self.labels_only_ = self.model_
                with threadpool_limits(1):  # small fits: see labella.al.heads.blas_threads_for
                    self.model_ = LogisticRegression(C=1.0, max_iter=1000).fit(X, y)
                self.plain_ = True
            return self
        self.prior_ = self._first_labels_prior(y)
        if (unlabeled is not None and len(unlabeled) and self.wants_unlabeled(len(y))
                and not isinstance(self.model_, int)):
            self._self_train(X, y, unlabeled)
        return self

    def _first_labels_prior(self, y: np.ndarray) -> np.ndarray | None:
        """The class distribution predictions are corrected by, or None.

        Below ``self_train_below`` labels the labels are the random first batch. The
        class-balanced head then predicts a minority class far more often than it occurs:
        on sets with 1 positive in 10, it scored 3.4 to 4.5 points below plain logistic
        regression at 10 labels. Multiplying its probabilities by the labels' class
        distribution (Saerens et al. 2002) when it shows a clear majority brings that to
        within 0.6 points; on balanced sets the rule rarely fires (docs/default-strategy.md
        §9). From ``self_train_below`` labels on, labels chosen by active learning are
        no sample of the pool's classes, and such a correction cost 2.5-11 points (§7).
        """
        if self.multi_label or len(y) >= self.self_train_below:
            return None
        counts = np.bincount(y, minlength=self.n_classes)[: self.n_classes] + 0.5
        prior = counts / counts.sum()
        return prior if prior.max() >= self.prior_majority else None

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        proba = super().predict_proba(X)
        prior = getattr(self, "prior_", None)
        if prior is None:
            return proba
        q = proba * prior[None, :]
        return np.asarray(q / np.maximum(q.sum(axis=1, keepdims=True), 1e-300))

    def for_queries(self) -> Head:
        """The head query strategies should score with: this one fitted on the labels
        alone: the balanced model, not the plain first-batch one, without pseudo-labels
        or the first labels' prior correction."""
        replaced = self.n_pseudo_ or getattr(self, "plain_", False)
        if not replaced and getattr(self, "prior_", None) is None:
            return self
        view = SklearnHead(self._estimator(self.C_), self.n_classes)
        view.classes_ = self.classes_
        view.model_ = self.labels_only_ if replaced else self.model_
        return view

    def _self_train(self, X: np.ndarray, y: np.ndarray, unlabeled: np.ndarray) -> None:
        """Refit once with the pool items the fitted model is surest of, per predicted class."""
        U = np.asarray(unlabeled)
        model = self.labels_only_ = self.model_
        proba = model.predict_proba(U)
        pred, conf = model.classes_[proba.argmax(axis=1)], proba.max(axis=1)
        per = max(2, int(self.pseudo_per_class * len(y) / len(model.classes_)))
        take = np.concatenate([
            np.flatnonzero(pred == c)[np.argsort(-conf[pred == c], kind="stable")[:per]]
            for c in model.classes_])
        if len(take) == 0:
            return
        weights = np.concatenate([np.ones(len(y)), np.full(len(take), self.pseudo_weight)])
        with threadpool_limits(1):  # small fits: see labella.al.heads.blas_threads_for
            self.model_ = self._estimator(self.C_).fit(
                np.vstack([X, U[take]]), np.concatenate([y, pred[take]]), sample_weight=weights)
        self.n_pseudo_ = len(take)
