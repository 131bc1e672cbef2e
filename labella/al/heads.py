"""Heads: light models fitted on cached embeddings.

Every head follows one protocol (:class:`Head`): ``fit(X, y)`` with labels in
the convention of :mod:`labella.al.types` (labelled rows only),
``predict_proba(X)`` returning all ``n_classes`` columns even when some class
has no label yet, and ``clone()`` returning an unfitted copy with the same
parameters. Strategies never fit a caller's head; they clone it.

Heads here: :class:`SklearnHead` (any scikit-learn classifier; see
:func:`logistic_regression`, :func:`user_estimator`), :class:`SGDHead`
(incremental, ``partial_fit``) and :class:`MLPHead` (small torch MLP with MC
dropout: ``predict_proba_samples``). :data:`HEADS` names the built-in factories.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, Self, runtime_checkable

import numpy as np
from sklearn.base import clone as sk_clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression

from labella._optional import require
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


def _not_fitted(head: object) -> NotFittedError:
    return NotFittedError(f"{type(head).__name__} is not fitted yet; call fit (or partial_fit) first")


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=-1, keepdims=True))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * z)))


class _OwnHead:
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


class SGDHead(_OwnHead):
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
        return _sigmoid(z) if self.multi_label else _softmax(z)

    def partial_fit(self, X: np.ndarray, y: np.ndarray) -> SGDHead:
        """One pass over the new rows, in order, in mini-batches of ``batch_size``."""
        _check_fit_input(X, y, self.n_classes, self.multi_label)
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
        _check_fit_input(X, y, self.n_classes, self.multi_label)
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
            raise _not_fitted(self)
        return self._forward(X)


def sgd(n_classes: int, *, multi_label: bool = False, alpha: float = 1e-3, eta0: float = 0.5,
        seed: int = 0) -> SGDHead:
    """Incremental head for the online loop: ``partial_fit`` after every label."""
    return SGDHead(n_classes, multi_label=multi_label, alpha=alpha, eta0=eta0, seed=seed)


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


@contextmanager
def _torch_threads(torch: Any, n_threads: int | None, work: float) -> Iterator[None]:
    """Run with ``n_threads`` intra-op threads, then restore torch's setting.

    Default: 1 thread when ``work`` (n * d * hidden) is below 1e8, else half the
    usable cores, at most 4. Threads that outnumber idle cores only contend: on
    a busy 2-core machine a 2-thread fit was measured 10-20x slower than 1 thread.
    """
    old = torch.get_num_threads()
    torch.set_num_threads(n_threads or (1 if work < 1e8 else min(4, max(1, _cpu_count() // 2))))
    try:
        yield
    finally:
        torch.set_num_threads(old)


class MLPHead(_OwnHead):
    """One-hidden-layer MLP (ReLU, dropout on the hidden layer) with MC dropout.

    Trained with full-batch Adam for at most ``max_steps`` steps (stopping early
    once the training loss stalls), softmax cross-entropy for single-label and
    per-label sigmoid with binary cross-entropy for multi-label. Inputs are
    centred on the training mean and scaled to unit RMS. torch is needed only
    to fit (imported there, never at module import); the fitted weights are
    numpy arrays in ``params_``, so prediction is numpy.

    ``predict_proba`` runs with dropout off; ``predict_proba_samples`` draws
    ``T`` dropout masks (Gal & Ghahramani, ICML 2016) for BALD. Both the
    initialisation and the dropout masks come from ``seed`` (a private torch
    generator / numpy generator): the global torch RNG is left untouched.
    """

    def __init__(
        self,
        n_classes: int,
        *,
        multi_label: bool = False,
        hidden: int = 128,
        dropout: float = 0.5,
        lr: float = 1e-2,
        weight_decay: float = 1e-2,
        max_steps: int = 200,
        seed: int = 0,
        n_threads: int | None = None,
    ) -> None:
        self.n_classes = n_classes
        self.multi_label = multi_label
        self.hidden = hidden
        self.dropout = dropout
        self.lr = lr
        self.weight_decay = weight_decay
        self.max_steps = max_steps
        self.seed = seed
        self.n_threads = n_threads

    def fit(self, X: np.ndarray, y: np.ndarray) -> MLPHead:
        _check_fit_input(X, y, self.n_classes, self.multi_label)
        if len(y) == 0:
            raise DataError("cannot fit a head on zero labelled items")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1); got {self.dropout}")
        torch = require("torch", extra="torch")
        X = np.asarray(X, dtype=np.float32)
        mean = X.mean(axis=0)
        Z = X - mean
        scale = float(np.sqrt((Z**2).mean())) or 1.0
        with _torch_threads(torch, self.n_threads, Z.size * self.hidden):
            params = self._train(torch, Z / scale, y)
        params["W1"] /= scale  # fold the input scaling into the first layer
        params["x_mean"] = mean
        self.params_ = params
        return self

    def _train(self, torch: Any, X: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        F = torch.nn.functional
        g = torch.Generator().manual_seed(self.seed)
        n, d = X.shape
        h, keep = self.hidden, 1.0 - self.dropout
        Xt = torch.from_numpy(X)
        if self.multi_label:
            yt = torch.from_numpy(np.asarray(y, dtype=np.float32))
            loss_fn = F.binary_cross_entropy_with_logits
        else:
            yt = torch.from_numpy(np.asarray(y, dtype=np.int64))
            loss_fn = F.cross_entropy
        W1 = torch.randn(d, h, generator=g) * np.sqrt(2.0 / d)
        W2 = torch.randn(h, self.n_classes, generator=g) * np.sqrt(1.0 / h)
        params = [W1.requires_grad_(), torch.zeros(h, requires_grad=True),
                  W2.requires_grad_(), torch.zeros(self.n_classes, requires_grad=True)]
        # Adam written out: torch.optim's first use imports torch._dynamo (seconds).
        m1 = [torch.zeros_like(q) for q in params]
        m2 = [torch.zeros_like(q) for q in params]
        beta1, beta2 = 0.9, 0.999
        step, best, stall = 0, float("inf"), 0
        while step < self.max_steps and stall < 20:  # stop once the loss stalls for 20 steps
            step += 1
            H = torch.relu(Xt @ params[0] + params[1])
            if self.dropout > 0:
                H = H * torch.bernoulli(torch.full((n, h), keep), generator=g) / keep
            loss = loss_fn(H @ params[2] + params[3], yt)
            grads = torch.autograd.grad(loss, params)
            with torch.no_grad():
                for q, gq, a, b in zip(params, grads, m1, m2, strict=True):
                    gq = gq + self.weight_decay * q
                    a.mul_(beta1).add_(gq, alpha=1 - beta1)
                    b.mul_(beta2).addcmul_(gq, gq, value=1 - beta2)
                    denom = (b / (1 - beta2**step)).sqrt_().add_(1e-8)
                    q.addcdiv_(a, denom, value=-self.lr / (1 - beta1**step))
            value = float(loss.detach())
            stall = 0 if value < best * (1.0 - 1e-3) else stall + 1
            best = min(best, value)
        self.n_steps_ = step
        return {k: q.detach().numpy().copy() for k, q in zip(("W1", "b1", "W2", "b2"), params, strict=True)}

    def _hidden(self, X: np.ndarray) -> np.ndarray:
        if not hasattr(self, "params_"):
            raise _not_fitted(self)
        p = self.params_
        return np.maximum((np.asarray(X, dtype=np.float32) - p["x_mean"]) @ p["W1"] + p["b1"], 0.0)

    def _link(self, logits: np.ndarray) -> np.ndarray:
        return _sigmoid(logits) if self.multi_label else _softmax(logits)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Shape ``(n, n_classes)``, dropout off."""
        return self._link(self._hidden(X) @ self.params_["W2"] + self.params_["b2"]).astype(np.float64)

    def predict_proba_samples(
        self, X: np.ndarray, n_samples: int = 20, *, rng: np.random.Generator | int | None = None
    ) -> np.ndarray:
        """MC-dropout samples, shape ``(n_samples, n, n_classes)``; ``rng`` defaults to ``seed``."""
        H = self._hidden(X)
        gen = np.random.default_rng(self.seed if rng is None else rng)
        keep = 1.0 - self.dropout
        out = np.empty((n_samples, len(H), self.n_classes))
        step = max(1, 2_000_000 // max(1, n_samples * H.shape[1]))  # bound memory per chunk
        for s in range(0, len(H), step):
            Hs = H[s : s + step]
            mask = gen.random((n_samples, *Hs.shape), dtype=np.float32) < keep
            out[:, s : s + step] = self._link((Hs * mask / keep) @ self.params_["W2"] + self.params_["b2"])
        return out


def mlp(n_classes: int, *, multi_label: bool = False, hidden: int = 128, dropout: float = 0.5,
        seed: int = 0) -> MLPHead:
    """Small neural head with MC dropout (for BALD); needs ``labella[torch]``."""
    return MLPHead(n_classes, multi_label=multi_label, hidden=hidden, dropout=dropout, seed=seed)


HEADS: dict[str, Callable[..., Head]] = {
    "logistic_regression": logistic_regression,
    "sgd": sgd,
    "mlp": mlp,
}
"""Head factories by name: ``HEADS[name](n_classes, multi_label=...)``."""
