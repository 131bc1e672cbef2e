"""Difficulty of unlabelled items and auto-accept thresholds that meet a target precision.

Both read calibrated confidences (:mod:`labella.al.calibration`). Difficulty is a band of
the confidence: ``easy`` at or above ``easy``, ``hard`` below ``hard``, ``medium``
between (Superb AI's idea of sorting the pool by how sure the model is).

:func:`choose_threshold` picks the lowest confidence threshold for one class at which the
model's predictions of that class on held-out labelled items (evaluation items, never the
head's training labels) are right often enough: the Wilson lower bound of their precision
at ``level`` must reach ``target``. It returns the measured precision with its interval, so
a person sees both before accepting anything.

Arrays: ``conf`` shape ``(n,)``; ``correct`` bool ``(n,)``; ``pred`` class indices ``(n,)``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import norm

from labella.errors import DataError

EASY, HARD = 0.9, 0.6
MIN_SUPPORT = 10
"""A threshold must rest on at least this many held-out predictions of the class."""


def difficulty(conf: np.ndarray, *, easy: float = EASY, hard: float = HARD) -> np.ndarray:
    """``easy`` / ``medium`` / ``hard`` per item (object array) from calibrated confidence."""
    if not 0 <= hard <= easy <= 1:
        raise DataError(f"need 0 <= hard <= easy <= 1; got hard={hard}, easy={easy}")
    c = np.asarray(conf, dtype=np.float64)
    return np.where(c >= easy, "easy", np.where(c < hard, "hard", "medium")).astype(object)


def wilson_interval(k: int, n: int, *, level: float = 0.95) -> tuple[float, float]:
    """Two-sided Wilson score interval of a proportion ``k / n`` at ``level``."""
    if n <= 0:
        return 0.0, 1.0
    z = float(norm.ppf(0.5 + level / 2))
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, mid - half), min(1.0, mid + half)


@dataclass(frozen=True)
class AcceptThreshold:
    """The threshold chosen for one class and what it measured on held-out labels."""

    klass: int
    target: float
    threshold: float
    n_held_out: int
    """Held-out predictions of the class at or above the threshold."""
    precision: float
    low: float
    high: float
    level: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def choose_threshold(conf: np.ndarray, pred: np.ndarray, correct: np.ndarray, klass: int, *,
                     target: float, level: float = 0.95,
                     min_support: int = MIN_SUPPORT) -> AcceptThreshold | None:
    """The lowest threshold whose held-out precision for ``klass`` has its Wilson lower
    bound at ``target`` or above (``None``: no threshold can promise it)."""
    if not 0 < target < 1:
        raise DataError(f"target precision must be in (0, 1); got {target}")
    conf = np.asarray(conf, dtype=np.float64)
    pred = np.asarray(pred)
    correct = np.asarray(correct, dtype=bool)
    if not conf.shape == pred.shape == correct.shape or conf.ndim != 1:
        raise DataError(f"conf, pred and correct must be 1-D of one length; got {conf.shape}, "
                        f"{pred.shape}, {correct.shape}")
    sel = pred == klass
    c, ok = conf[sel], correct[sel]
    order = np.argsort(-c, kind="stable")
    c, ok = c[order], ok[order]
    hits = np.cumsum(ok)
    best: AcceptThreshold | None = None
    for m in range(min_support, len(c) + 1):
        if m < len(c) and c[m] == c[m - 1]:
            continue  # a threshold takes every tie
        low, high = wilson_interval(int(hits[m - 1]), m, level=level)
        if low >= target:
            best = AcceptThreshold(klass, target, float(c[m - 1]), m, float(hits[m - 1] / m),
                                   low, high, level)
    return best
