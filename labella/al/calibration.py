"""Calibrating a head's confidences: temperature scaling and expected calibration error.

Temperature scaling (Guo et al., "On Calibration of Modern Neural Networks", ICML 2017)
divides the logits by one number ``T`` fitted on held-out labels by minimising the
negative log-likelihood: ``T > 1`` softens an over-confident model, ``T < 1`` sharpens an
under-confident one, and the ranking of classes (so the suggestion) never changes. For a
multi-label head each label's probability is a sigmoid, and the same ``T`` divides each
label's logit.

ECE (Naeini et al., AAAI 2015) is measured with equal-width bins: single-label on the
top class's confidence against whether it is right; multi-label on every (item, label)
decision, confidence ``max(p, 1 - p)``.

Arrays: ``proba`` shape ``(n, k)``; ``y`` class indices ``(n,)`` or multi-hot ``(n, k)``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar

from labella.errors import DataError

EPS = 1e-7
T_MIN, T_MAX = 0.05, 20.0
MIN_CALIBRATION_LABELS = 10
"""Fewer held-out labels than this: no temperature is fitted (``T = 1``)."""


@dataclass(frozen=True)
class Calibrator:
    """A fitted temperature and what it did on the labels it was fitted on."""

    temperature: float
    multi_label: bool
    n_fit: int
    ece_before: float | None
    ece_after: float | None

    def apply(self, proba: np.ndarray) -> np.ndarray:
        return apply_temperature(proba, self.temperature, multi_label=self.multi_label)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Calibrator:
        return cls(float(d["temperature"]), bool(d["multi_label"]), int(d["n_fit"]),
                   d.get("ece_before"), d.get("ece_after"))


IDENTITY_SINGLE = Calibrator(1.0, False, 0, None, None)
IDENTITY_MULTI = Calibrator(1.0, True, 0, None, None)


def _check(proba: np.ndarray, y: np.ndarray, multi_label: bool) -> tuple[np.ndarray, np.ndarray]:
    proba = np.asarray(proba, dtype=np.float64)
    y = np.asarray(y)
    if proba.ndim != 2:
        raise DataError(f"proba must be 2-D (items, classes); got shape {proba.shape}")
    want = proba.shape if multi_label else (len(proba),)
    if y.shape != want:
        raise DataError(f"y must have shape {want}; got {y.shape}")
    return proba, y


def apply_temperature(proba: np.ndarray, temperature: float, *, multi_label: bool) -> np.ndarray:
    """``proba`` with its logits divided by ``temperature`` (rows still sum to 1 for a
    single-label head)."""
    if not temperature > 0:
        raise DataError(f"temperature must be positive; got {temperature}")
    p = np.clip(np.asarray(proba, dtype=np.float64), EPS, 1.0 - EPS)
    if multi_label:
        z = np.log(p) - np.log1p(-p)
        return 1.0 / (1.0 + np.exp(-z / temperature))
    z = np.log(p) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def nll(proba: np.ndarray, y: np.ndarray, *, multi_label: bool) -> float:
    """Mean negative log-likelihood of the labels."""
    proba, y = _check(proba, y, multi_label)
    p = np.clip(proba, EPS, 1.0 - EPS)
    if multi_label:
        return float(-(y * np.log(p) + (1 - y) * np.log1p(-p)).mean())
    return float(-np.log(p[np.arange(len(y)), y]).mean())


def fit_temperature(proba: np.ndarray, y: np.ndarray, *, multi_label: bool) -> float:
    """The temperature in [0.05, 20] that minimises the held-out NLL (1 when there is
    nothing to fit on)."""
    proba, y = _check(proba, y, multi_label)
    if not len(y):
        return 1.0

    def loss(log_t: float) -> float:
        return nll(apply_temperature(proba, float(np.exp(log_t)), multi_label=multi_label), y,
                   multi_label=multi_label)

    res = minimize_scalar(loss, bounds=(np.log(T_MIN), np.log(T_MAX)), method="bounded",
                          options={"xatol": 1e-4})
    return float(np.exp(res.x))


def ece(proba: np.ndarray, y: np.ndarray, *, multi_label: bool, n_bins: int = 10) -> float:
    """Expected calibration error with ``n_bins`` equal-width confidence bins."""
    proba, y = _check(proba, y, multi_label)
    if n_bins < 1:
        raise DataError(f"n_bins must be at least 1; got {n_bins}")
    if multi_label:
        p = proba.ravel()
        conf = np.maximum(p, 1.0 - p)
        correct = (p >= 0.5) == (y.ravel() == 1)
    else:
        conf = proba.max(axis=1)
        correct = proba.argmax(axis=1) == y
    if not len(conf):
        return 0.0
    bins = np.minimum((conf * n_bins).astype(np.int64), n_bins - 1)
    total = 0.0
    for b in np.unique(bins):
        sel = bins == b
        total += sel.sum() * abs(float(conf[sel].mean()) - float(correct[sel].mean()))
    return total / len(conf)


def fit_calibrator(proba: np.ndarray, y: np.ndarray, *, multi_label: bool,
                   min_labels: int = MIN_CALIBRATION_LABELS) -> Calibrator:
    """Temperature scaling fitted on held-out ``proba`` / ``y`` (out-of-fold or evaluation
    predictions, never the head's own training items); the identity below ``min_labels``."""
    proba, y = _check(proba, y, multi_label)
    if len(y) < min_labels:
        return Calibrator(1.0, multi_label, len(y), None, None)
    t = fit_temperature(proba, y, multi_label=multi_label)
    before = ece(proba, y, multi_label=multi_label)
    after = ece(apply_temperature(proba, t, multi_label=multi_label), y, multi_label=multi_label)
    return Calibrator(t, multi_label, len(y), before, after)
