"""Heads: light models fitted on cached embeddings.

Every head follows one protocol (:class:`Head`): ``fit(X, y)`` with labels in
the convention of :mod:`labella.al.types` (labelled rows only),
``predict_proba(X)`` returning all ``n_classes`` columns even when some class
has no label yet, and ``clone()`` returning an unfitted copy with the same
parameters. Strategies never fit a caller's head; they clone it. A head that can
learn from the unlabelled pool too has ``wants_unlabeled(n_labels)`` and accepts
``fit(X, y, unlabeled=features)``; callers fit through :func:`fit_head`, which
passes the pool only to such heads, and only when they want it. Such a head may
also offer ``for_queries()``, the head query strategies should score with
(:func:`query_head`).

Heads here: :class:`SklearnHead` (any scikit-learn classifier; see
:func:`logistic_regression`, :func:`user_estimator`), :class:`SGDHead`
(incremental, ``partial_fit``) and :class:`~labella.al.neural.MLPHead` (small
torch MLP with MC dropout: ``predict_proba_samples``; in :mod:`labella.al.neural`). :data:`HEADS` names the built-in factories.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Protocol, runtime_checkable

import numpy as np
from sklearn.base import clone as sk_clone
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from labella.al._headbase import OwnHead, check_fit_input, not_fitted, sigmoid, softmax
from labella.al.neural import MLPHead, mlp
from labella.errors import DataError

__all__ = ["HEADS", "Head", "MLPHead", "SGDHead", "SklearnHead", "fit_head", "logistic_regression",
           "mlp", "query_head", "sgd", "user_estimator"]


@runtime_checkable
class Head(Protocol):
    n_classes: int
    multi_label: bool

    def fit(self, X: np.ndarray, y: np.ndarray) -> Head: ...

    def predict_proba(self, X: np.ndarray) -> np.ndarray: ...

    def clone(self) -> Head: ...


def fit_head(head: Head, X: np.ndarray, y: np.ndarray,
             unlabeled: Callable[[], np.ndarray] | None = None) -> Head:
    """``head.fit(X, y)``; for a head that can learn from the unlabelled pool and wants it
    at ``len(y)`` labels (``head.wants_unlabeled(len(y))``), ``head.fit(X, y,
    unlabeled=unlabeled())``. ``unlabeled`` returns the pool's unlabelled features
    (e.g. :meth:`labella.al.types.Pool.unlabeled_sample`); it is called only then."""
    wants = getattr(head, "wants_unlabeled", None)
    if unlabeled is not None and wants is not None and wants(len(y)):
        return head.fit(X, y, unlabeled=unlabeled())  # type: ignore[call-arg]
    return head.fit(X, y)


def query_head(head: Head) -> Head:
    """The fitted head a query strategy should score with: ``head.for_queries()`` where
    the head defines it (e.g. without pseudo-labels), else ``head`` itself."""
    view = getattr(head, "for_queries", None)
    return view() if view is not None else head


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
        check_fit_input(X, y, self.n_classes, self.multi_label)
        if len(y) == 0:
            raise DataError("cannot fit a head on zero labelled items")
        with blas_threads_for(self.estimator):
            return self._fit(X, y)

    def _fit(self, X: np.ndarray, y: np.ndarray) -> SklearnHead:
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


def blas_threads_for(estimator: Any) -> AbstractContextManager[Any]:
    """One BLAS thread while fitting a logistic regression, else no limit.

    lbfgs on a few thousand labelled embeddings makes many small matrix-vector
    products; extra BLAS threads only contend on them. Measured on 2 cores: one
    fit on 1 000 TREC labels (384-d, 6 classes) 37 ms with 1 thread, 671 ms with 2.
    Other estimators (a user's forest, boosting) keep their own threading.
    """
    if isinstance(estimator, LogisticRegression):
        return threadpool_limits(1)
    return nullcontext()


def logistic_regression(n_classes: int, *, multi_label: bool = False, C: float = 1.0) -> SklearnHead:
    """Plain logistic regression (one-vs-rest for multi-label): the baseline head."""
    return SklearnHead(LogisticRegression(C=C, max_iter=1000), n_classes, multi_label=multi_label)


def user_estimator(estimator: Any, n_classes: int, multi_label: bool = False) -> SklearnHead:
    """Wrap a user's scikit-learn classifier (anything with ``fit``, ``predict_proba``
    and ``get_params``) as a head.

    Raises:
        TypeError: ``estimator`` is a class rather than an instance, or lacks one
            of the methods (e.g. ``SVC`` needs ``probability=True`` for
            ``predict_proba``).
    """
    if isinstance(estimator, type):
        raise TypeError(f"pass an estimator instance such as {estimator.__name__}(), not the class")
    missing = [m for m in ("fit", "predict_proba", "get_params") if not hasattr(estimator, m)]
    if missing:
        raise TypeError(
            f"{type(estimator).__name__} cannot be a head: a scikit-learn classifier with "
            f"fit, predict_proba and get_params is expected; it lacks {', '.join(missing)}"
            " (some estimators offer predict_proba only with an option, e.g. SVC(probability=True))"
        )
    return SklearnHead(estimator, n_classes, multi_label=multi_label)


class SGDHead(OwnHead):
    """Incremental linear head: softmax regression (single-label) or one logistic
    regression per label (multi-label, independent sigmoid columns), trained by
    AdaGrad stochastic gradient descent with L2 penalty ``alpha``.

    ``partial_fit(X, y)`` updates on the new rows only (online learning:
    ~0.1 ms per label at d=384); ``fit`` restarts and runs
    ``n_epochs`` shuffled mini-batch passes. The weight matrix always has all
    ``n_classes`` columns, so classes with no label yet get small, non-zero
    probability. Plain numpy: on L2-normalised embeddings AdaGrad online
    updates track a batch logistic regression more closely than
    ``sklearn.linear_model.SGDClassifier`` and are ~20x cheaper per update.

    Fitted state (numpy, no pickle needed): ``coef_`` ``(d, C)``, ``intercept_``
    ``(C,)``, the AdaGrad accumulators and ``n_updates_``.
    """

    def __init__(
        self,
        n_classes: int,
        *,
        multi_label: bool = False,
        alpha: float = 1e-3,
        eta0: float = 0.5,
        n_epochs: int = 10,
        batch_size: int = 32,
        seed: int = 0,
    ) -> None:
        self.n_classes = n_classes
        self.multi_label = multi_label
        self.alpha = alpha
        self.eta0 = eta0
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.seed = seed

    def _reset(self, d: int) -> None:
        self.coef_ = np.zeros((d, self.n_classes))
        self.intercept_ = np.zeros(self.n_classes)
        self.sq_grad_ = np.full((d, self.n_classes), 1e-8)
        self.sq_grad_b_ = np.full(self.n_classes, 1e-8)
        self.n_updates_ = 0

    def _targets(self, y: np.ndarray) -> np.ndarray:
        if self.multi_label:
            return np.asarray(y, dtype=np.float64)
        return np.eye(self.n_classes)[y]

    def _step(self, X: np.ndarray, T: np.ndarray) -> None:
        err = self._forward(X) - T  # gradient of the mean log-loss w.r.t. the logits
        g = X.T @ err / len(X) + self.alpha * self.coef_
        gb = err.mean(axis=0)
        self.sq_grad_ += g * g
        self.sq_grad_b_ += gb * gb
        self.coef_ -= self.eta0 * g / np.sqrt(self.sq_grad_)
        self.intercept_ -= self.eta0 * gb / np.sqrt(self.sq_grad_b_)
        self.n_updates_ += 1

    def _forward(self, X: np.ndarray) -> np.ndarray:
        z = np.asarray(X, dtype=np.float64) @ self.coef_ + self.intercept_
        return sigmoid(z) if self.multi_label else softmax(z)

    def partial_fit(self, X: np.ndarray, y: np.ndarray) -> SGDHead:
        """One pass over the new rows, in order, in mini-batches of ``batch_size``."""
        check_fit_input(X, y, self.n_classes, self.multi_label)
        if not hasattr(self, "coef_"):
            self._reset(X.shape[1])
        elif X.shape[1] != self.coef_.shape[0]:
            raise DataError(f"head was fitted on {self.coef_.shape[0]} features; X has {X.shape[1]}")
        X, T = np.asarray(X, dtype=np.float64), self._targets(y)
        for start in range(0, len(X), self.batch_size):
            self._step(X[start : start + self.batch_size], T[start : start + self.batch_size])
        return self

    def fit(self, X: np.ndarray, y: np.ndarray) -> SGDHead:
        """Restart and train ``n_epochs`` shuffled mini-batch passes (seeded)."""
        check_fit_input(X, y, self.n_classes, self.multi_label)
        if len(y) == 0:
            raise DataError("cannot fit a head on zero labelled items")
        X = np.asarray(X, dtype=np.float64)
        T = self._targets(y)
        self._reset(X.shape[1])
        rng = np.random.default_rng(self.seed)
        for _ in range(self.n_epochs):
            order = rng.permutation(len(X))
            for start in range(0, len(X), self.batch_size):
                b = order[start : start + self.batch_size]
                self._step(X[b], T[b])
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Shape ``(n, n_classes)``: class probabilities, or per-label for multi-label."""
        if not hasattr(self, "coef_"):
            raise not_fitted(self)
        return self._forward(X)


def sgd(n_classes: int, *, multi_label: bool = False, alpha: float = 1e-3, eta0: float = 0.5,
        seed: int = 0) -> SGDHead:
    """Incremental head for the online loop: ``partial_fit`` after every label."""
    return SGDHead(n_classes, multi_label=multi_label, alpha=alpha, eta0=eta0, seed=seed)


HEADS: dict[str, Callable[..., Head]] = {
    "logistic_regression": logistic_regression,
    "sgd": sgd,
    "mlp": mlp,
}
"""Head factories by name: ``HEADS[name](n_classes, multi_label=...)``."""
