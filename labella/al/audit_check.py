"""The audit in simulated runs: when to estimate, when to switch, and how the estimate
compares with the truth (which a simulation knows: the test score of the run's model,
and random sampling's mean learning curve).

Pure numpy / scikit-learn, used by :mod:`labella.al.simulate` and the benchmarks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from labella.al import audit
from labella.al.heads import Head

ESTIMATE_GROWTH = 1.2
"""A simulated run estimates whenever its labels have grown 1.2x since the last estimate
(and at the last checkpoint): about 25 estimates from 10 to 1 000 labels."""


@dataclass
class AuditTrack:
    """The audit state of one simulated run: which labelled rows were audit picks, the
    estimates so far and whether (and when) the run switched to random sampling."""

    share: float
    switch: bool
    rows: list[int] = field(default_factory=list)
    flags: list[bool] = field(default_factory=list)
    history: list[audit.AuditEstimate] = field(default_factory=list)
    switched_at: int | None = None

    def add(self, indices: np.ndarray, flags: np.ndarray) -> None:
        self.rows.extend(int(i) for i in indices)
        self.flags.extend(bool(f) for f in flags)

    def due(self, n_labels: int, last: bool) -> bool:
        if self.share <= 0:
            return False
        prev = self.history[-1].n_labels if self.history else 0
        return last or n_labels >= ESTIMATE_GROWTH * prev

    def run(self, X: np.ndarray, y: np.ndarray, *, n_pool: int, n_classes: int,
            multi_label: bool, head: Head, seed: int) -> audit.AuditEstimate:
        """Estimate from the labelled rows so far; switch when the rule says so."""
        rows = np.asarray(self.rows)
        est = audit.estimate(X[rows], y[rows], np.asarray(self.flags), n_pool=n_pool,
                             n_classes=n_classes, head=head, multi_label=multi_label,
                             seed=seed)
        self.history.append(est)
        if self.switch and self.switched_at is None and audit.should_switch(self.history):
            self.switched_at = len(rows)
        return est


def random_labels_needed(labels: Sequence[int], mean: Sequence[float], score: float,
                         n_pool: int) -> float:
    """Labels random sampling's mean curve needs to reach ``score``: linear between its
    points; ``inf`` if it never does (the curve should end at the whole pool); the first
    point's labels if it starts above ``score``."""
    if score <= mean[0]:
        return float(labels[0])
    for i in range(1, len(mean)):
        if mean[i] >= score:
            lo, hi = mean[i - 1], mean[i]
            t = (score - lo) / (hi - lo) if hi > lo else 1.0
            return float(labels[i - 1] + t * (labels[i] - labels[i - 1]))
    return math.inf if labels[-1] >= n_pool else float(labels[-1])


def compare(est: audit.AuditEstimate, true_score: float, labels: Sequence[int],
            mean: Sequence[float], n_pool: int) -> dict[str, Any]:
    """The estimate next to the truth: true score, true labels saved, and whether the
    interval covers it (a truth below the random curve's first point counts as covered
    when the interval reaches down to it; one beyond a curve that stops short of the pool
    when the interval reaches up to it)."""
    need = random_labels_needed(labels, mean, true_score, n_pool)
    saved = need - est.n_labels
    out: dict[str, Any] = {**est.as_dict(), "true_score": true_score,
                           "true_labels_saved": "inf" if math.isinf(saved) else saved}
    if est.labels_saved_low is None or est.labels_saved_high is None:
        out["covered"] = None
        return out
    lo, hi = est.labels_saved_low, est.labels_saved_high
    if true_score <= mean[0]:
        covered = lo <= saved
    elif not math.isinf(need) and true_score > max(mean):
        covered = hi >= saved
    else:
        covered = lo <= saved <= hi
    out["covered"] = bool(covered)
    return out


def coverage(records: Sequence[Sequence[dict[str, Any]]]) -> dict[str, Any]:
    """Share of runs whose last estimate covers the truth, and share of all estimates.

    ``records``: per run, its :func:`compare` records in label order.
    """
    last = [r[-1]["covered"] for r in records if r and r[-1]["covered"] is not None]
    every = [x["covered"] for r in records for x in r if x["covered"] is not None]
    return {"runs": len(last), "runs_covered": int(sum(last)),
            "run_coverage": float(np.mean(last)) if last else None,
            "estimates": len(every), "estimate_coverage": float(np.mean(every)) if every else None}
