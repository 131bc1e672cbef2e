"""Stopping criteria: when has labelling stopped paying off?

Each criterion is a pure numpy function returning a :class:`StopRecommendation`;
:func:`recommend` evaluates the enabled ones and returns the first that fires,
or a "keep labelling" recommendation that says how far each one is.

Criteria:

* ``stabilizing_predictions`` — Bloodgood & Vijay-Shanker, "A method for
  stopping active learning based on stabilizing predictions and the need for
  user-adjustable stopping", CoNLL 2009.
* ``overall_uncertainty`` — Zhu, Wang & Hovy, "Multi-criteria-based strategy to
  stop active learning for data annotation", COLING 2008 (max / overall
  uncertainty of the unlabelled pool).
* ``plateau`` — the learning curve has stopped rising.
* ``budget`` — the label budget is spent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

KEEP = "none"
"""The ``criterion`` of a "keep labelling" recommendation."""


@dataclass(frozen=True)
class StopRecommendation:
    """Whether to stop, which criterion says so, and the figures behind it.

    ``details`` holds JSON-safe numbers only (floats, ints, bools, lists).
    """

    stop: bool
    reason: str
    criterion: str
    details: dict[str, Any] = field(default_factory=dict)


def cohen_kappa(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's kappa between two prediction arrays of the same shape.

    Single-label: ``(n,)`` class indices. Multi-label: ``(n, L)`` multi-hot
    arrays, each label decision counted as one item. Two identical constant
    predictions (chance agreement 1) give 1.0.
    """
    a = np.asarray(a).ravel()
    b = np.asarray(b).ravel()
    if a.shape != b.shape:
        raise ValueError(f"predictions differ in shape: {a.shape} vs {b.shape}")
    if a.size == 0:
        raise ValueError("cannot compute kappa on an empty stop set")
    p_o = float(np.mean(a == b))
    values = np.union1d(a, b)
    p_e = float(sum(np.mean(a == v) * np.mean(b == v) for v in values))
    if p_e >= 1.0:
        return 1.0 if p_o >= 1.0 else 0.0
    return (p_o - p_e) / (1.0 - p_e)


def stabilizing_predictions(
    predictions: Sequence[np.ndarray], *, threshold: float = 0.99, k: int = 3, average: bool = False
) -> StopRecommendation:
    """Stop when successive models agree on a fixed stop set for ``k`` rounds.

    Args:
        predictions: each round's model predictions on the same unlabelled
            stop set, oldest first; each ``(n,)`` or ``(n, L)``.
        threshold: the kappa every one of the last ``k`` successive pairs must reach.
        k: consecutive agreeing rounds required.
        average: stop when the *mean* of the last ``k`` kappas reaches
            ``threshold`` (the paper's window average, k=3) instead of each one.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1; got {k}")
    kappas = [cohen_kappa(predictions[i - 1], predictions[i]) for i in range(1, len(predictions))]
    streak = 0
    for kap in reversed(kappas):
        if kap < threshold:
            break
        streak += 1
    details: dict[str, Any] = {"kappas": [float(x) for x in kappas[-k:]], "streak": streak, "k": k,
                               "threshold": threshold, "average": average}
    if average and len(kappas) >= k:
        mean = float(np.mean(kappas[-k:]))
        details["mean_kappa"] = mean
        if mean >= threshold:
            return StopRecommendation(
                True, f"predictions stable: mean kappa {mean:.4f} >= {threshold} over the last {k} rounds",
                "stabilizing_predictions", details)
    elif not average and streak >= k:
        return StopRecommendation(
            True, f"predictions stable: kappa >= {threshold} for the last {k} rounds",
            "stabilizing_predictions", details)
    last = f"last kappa {kappas[-1]:.3f}" if kappas else "no two rounds yet"
    return StopRecommendation(
        False, f"{last}; need >= {threshold} for {k} rounds ({streak}/{k} so far)",
        "stabilizing_predictions", details)


def overall_uncertainty(
    uncertainty: np.ndarray, *, threshold: float = 0.1, aggregate: str = "max"
) -> StopRecommendation:
    """Stop when the pool's max (or mean) uncertainty is below ``threshold``.

    Args:
        uncertainty: per-item uncertainty on the unlabelled pool, shape ``(n,)``
            (e.g. entropy or least confidence; the threshold is in its units).
        aggregate: ``"max"`` (Zhu et al.'s max-uncertainty) or ``"mean"``
            (their overall uncertainty).
    """
    if aggregate not in ("max", "mean"):
        raise ValueError(f"aggregate must be 'max' or 'mean'; got {aggregate!r}")
    u = np.asarray(uncertainty, dtype=np.float64)
    if u.size == 0:
        return StopRecommendation(True, "no unlabelled items left", "overall_uncertainty",
                                  {"value": 0.0, "threshold": threshold, "aggregate": aggregate})
    value = float(u.max() if aggregate == "max" else u.mean())
    details = {"value": value, "threshold": threshold, "aggregate": aggregate}
    if value < threshold:
        return StopRecommendation(True, f"{aggregate} uncertainty {value:.4f} < {threshold}",
                                  "overall_uncertainty", details)
    return StopRecommendation(False, f"{aggregate} uncertainty {value:.4f}; need < {threshold}",
                              "overall_uncertainty", details)


def plateau(
    labels: Sequence[int], scores: Sequence[float], *, window: int = 3, epsilon: float = 0.005
) -> StopRecommendation:
    """Stop when the learning curve's last ``window`` points gained less than ``epsilon``.

    The gain is the best score among the last ``window`` points minus the best
    score before them (a drop counts as no gain). Needs ``window + 1`` points.

    Args:
        labels: labels used at each point, increasing.
        scores: the metric (e.g. accuracy) at each point, higher is better.
    """
    if window < 1:
        raise ValueError(f"window must be >= 1; got {window}")
    if len(labels) != len(scores):
        raise ValueError(f"{len(labels)} label counts for {len(scores)} scores")
    s = np.asarray(scores, dtype=np.float64)
    details: dict[str, Any] = {"window": window, "epsilon": epsilon, "n_points": len(s)}
    if len(s) <= window:
        return StopRecommendation(False, f"{len(s)} curve points; need {window + 1}", "plateau", details)
    gain = float(s[-window:].max() - s[:-window].max())
    details["gain"] = gain
    if gain < epsilon:
        return StopRecommendation(
            True, f"learning curve flat: gain {gain:.4f} < {epsilon} over the last {window} points "
            f"(up to {int(labels[-1])} labels)", "plateau", details)
    return StopRecommendation(
        False, f"curve still rising: gain {gain:.4f} over the last {window} points; need < {epsilon}",
        "plateau", details)


def budget(labels_used: int, limit: int) -> StopRecommendation:
    """Stop when ``labels_used >= limit``."""
    details = {"labels_used": int(labels_used), "budget": int(limit)}
    if labels_used >= limit:
        return StopRecommendation(True, f"budget spent: {labels_used} of {limit} labels", "budget", details)
    return StopRecommendation(False, f"{limit - labels_used} of {limit} labels left", "budget", details)


def recommend(
    *,
    labels_used: int | None = None,
    label_budget: int | None = None,
    predictions: Sequence[np.ndarray] | None = None,
    kappa_threshold: float = 0.99,
    kappa_rounds: int = 3,
    kappa_average: bool = False,
    pool_uncertainty: np.ndarray | None = None,
    uncertainty_threshold: float = 0.1,
    uncertainty_aggregate: str = "max",
    curve_labels: Sequence[int] | None = None,
    curve_scores: Sequence[float] | None = None,
    plateau_window: int = 3,
    plateau_epsilon: float = 0.005,
) -> StopRecommendation:
    """Evaluate every criterion whose inputs are given; return the first that fires.

    Order: budget, stabilising predictions, overall uncertainty, plateau. A
    criterion is enabled by passing its inputs (``labels_used`` and
    ``label_budget``; ``predictions``; ``pool_uncertainty``; ``curve_labels``
    and ``curve_scores``). If none fires, the result has ``stop=False``,
    ``criterion="none"``, a reason joining each criterion's distance, and
    ``details`` keyed by criterion name.
    """
    checks: list[StopRecommendation] = []
    if labels_used is not None and label_budget is not None:
        checks.append(budget(labels_used, label_budget))
    if predictions is not None:
        checks.append(stabilizing_predictions(predictions, threshold=kappa_threshold, k=kappa_rounds,
                                              average=kappa_average))
    if pool_uncertainty is not None:
        checks.append(overall_uncertainty(pool_uncertainty, threshold=uncertainty_threshold,
                                          aggregate=uncertainty_aggregate))
    if curve_labels is not None and curve_scores is not None:
        checks.append(plateau(curve_labels, curve_scores, window=plateau_window, epsilon=plateau_epsilon))
    for rec in checks:
        if rec.stop:
            return rec
    if not checks:
        return StopRecommendation(False, "keep labelling: no stopping criterion enabled", KEEP, {})
    reason = "keep labelling: " + "; ".join(f"{r.criterion}: {r.reason}" for r in checks)
    return StopRecommendation(False, reason, KEEP, {r.criterion: r.details for r in checks})
