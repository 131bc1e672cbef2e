"""The neural head: a small torch MLP with MC dropout (for BALD).

torch is imported only inside :meth:`MLPHead.fit`; the fitted weights are numpy
arrays, so prediction (and :mod:`labella.al.serialize`) need no torch.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from labella._optional import require
from labella.al._headbase import OwnHead, check_fit_input, not_fitted, sigmoid, softmax
from labella.errors import DataError


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


class MLPHead(OwnHead):
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
        check_fit_input(X, y, self.n_classes, self.multi_label)
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
            raise not_fitted(self)
        p = self.params_
        return np.maximum((np.asarray(X, dtype=np.float32) - p["x_mean"]) @ p["W1"] + p["b1"], 0.0)

    def _link(self, logits: np.ndarray) -> np.ndarray:
        return sigmoid(logits) if self.multi_label else softmax(logits)

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
