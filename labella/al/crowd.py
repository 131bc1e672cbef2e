"""Simulated teams: noisy annotators, and whether the next label should be new or a
second opinion.

Each of ``K`` simulated annotators answers correctly with their own accuracy
(drawn around ``1 - noise``) and otherwise picks a wrong class uniformly. Three
policies spend the same budget of paid labels, ``batch_size`` per round, all
choosing new items by the model's least confidence:

* ``always_new``: one answer per item, every label on a new item;
* ``fixed_k``: each chosen item gets ``k`` answers from distinct annotators;
* ``relabel_vs_new``: ActiveLab (:mod:`labella.al.activelab`) scores the
  unlabelled items and the labelled items that some annotator has not answered
  yet together; the lowest scores get the next labels. Its first batch gives a
  share ``overlap`` of its items a second answer (at the same labels paid): with
  no item answered twice ActiveLab has no estimate of the annotators and falls
  back to trusting every single answer, and then may never ask for a second one.

The model learns from each item's consensus (majority vote, ties broken by the
model); it is scored on the clean test labels. Pure numpy / scikit-learn; rows
are pool positions. Single-label only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from labella.al import metrics
from labella.al.activelab import activelab_scores
from labella.al.consensus import majority_vote
from labella.al.heads import Head
from labella.al.pipelines import balanced_head
from labella.al.simulate import full_score
from labella.al.types import UNLABELED
from labella.errors import DataError

POLICIES = ("always_new", "fixed_k", "relabel_vs_new")


def draw_accuracies(k: int, noise: float, rng: np.random.Generator, *, spread: float = 0.1) -> np.ndarray:
    """Per-annotator accuracy, shape ``(k,)``: uniform in ``1 - noise +- spread``, in [0, 1]."""
    if k < 1:
        raise DataError(f"annotators must be >= 1; got {k}")
    if not 0.0 <= noise < 1.0:
        raise DataError(f"noise must be in [0, 1); got {noise}")
    return np.clip(1.0 - noise + rng.uniform(-spread, spread, k), 0.0, 1.0)


def answer(truth: int, accuracy: float, n_classes: int, rng: np.random.Generator) -> int:
    """One simulated answer: ``truth`` with probability ``accuracy``, else a wrong class."""
    if rng.random() < accuracy:
        return int(truth)
    return int((truth + rng.integers(1, n_classes)) % n_classes)


@dataclass(frozen=True)
class CrowdCurve:
    """Score after each round, against labels paid; ``relabels``: paid labels that went to an
    item that already had an answer."""

    labels: list[int]
    scores: list[float]
    relabels: int


class _Team:
    """The answers so far, shape ``(n_pool, K)`` (``UNLABELED`` = not asked)."""

    def __init__(self, y_true: np.ndarray, accuracy: np.ndarray, n_classes: int,
                 rng: np.random.Generator) -> None:
        self.y, self.acc, self.k, self.rng = y_true, accuracy, n_classes, rng
        self.R = np.full((len(y_true), len(accuracy)), UNLABELED, dtype=np.int64)
        self.paid = 0
        self.relabels = 0

    def ask(self, row: int) -> bool:
        """One more answer on ``row`` from an annotator who has not answered it."""
        free = np.flatnonzero(self.R[row] == UNLABELED)
        if not len(free):
            return False
        j = int(self.rng.choice(free))
        if len(free) < self.R.shape[1]:
            self.relabels += 1
        self.R[row, j] = answer(int(self.y[row]), float(self.acc[j]), self.k, self.rng)
        self.paid += 1
        return True

    @property
    def labeled(self) -> np.ndarray:
        return np.flatnonzero((self.R != UNLABELED).any(axis=1))

    @property
    def open_rows(self) -> np.ndarray:
        """Labelled rows some annotator has not answered."""
        has = self.R != UNLABELED
        return np.flatnonzero(has.any(axis=1) & ~has.all(axis=1))


def _least_confident(proba: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    return rows[np.argsort(proba[rows].max(axis=1), kind="stable")[:n]]


def run_crowd_curve(
    X_pool: np.ndarray, y_pool: np.ndarray, X_test: np.ndarray, y_test: np.ndarray, *,
    n_classes: int, policy: str, accuracy: np.ndarray, budget: int, batch_size: int,
    initial: int, seed: int, k_fixed: int = 2, overlap: float = 0.1,
    make_head: Callable[[int], Head] | None = None,
) -> CrowdCurve:
    """One run of ``policy`` up to ``budget`` paid labels (see the module docstring)."""
    if policy not in POLICIES:
        raise DataError(f"unknown policy {policy!r}; expected one of {', '.join(POLICIES)}")
    per_item = k_fixed if policy == "fixed_k" else 1
    if per_item > len(accuracy):
        raise DataError(f"fixed_k needs {per_item} annotators per item; there are {len(accuracy)}")
    rng = np.random.default_rng(seed)
    team = _Team(y_pool, accuracy, n_classes, rng)
    twice = policy == "relabel_vs_new" and len(accuracy) > 1
    n_twice = round(overlap * initial) if twice else 0
    first = rng.choice(len(y_pool), size=max(1, initial // per_item - n_twice), replace=False)
    for i, row in enumerate(first):
        for _ in range(per_item + (i < n_twice)):
            team.ask(int(row))
    new_head = make_head or (lambda k: balanced_head(k, False))
    labels: list[int] = []
    scores: list[float] = []
    while True:
        rows = team.labeled
        proba = _fit_predict(new_head(n_classes), team, rows, X_pool, n_classes)
        head, pool_proba = proba
        labels.append(team.paid)
        scores.append(metrics.accuracy(y_test, head.predict_proba(X_test).argmax(axis=1)))
        room = budget - team.paid
        unl = np.setdiff1d(np.arange(len(y_pool)), rows)
        if room < 1 or (not len(unl) and not len(team.open_rows)):
            break
        n = min(batch_size, room)
        if policy == "always_new":
            for r in _least_confident(pool_proba, unl, n):
                team.ask(int(r))
        elif policy == "fixed_k":
            for r in _least_confident(pool_proba, unl, max(1, n // per_item)):
                for _ in range(per_item):
                    team.ask(int(r))
        else:
            open_rows = team.open_rows
            s = activelab_scores(team.R[rows], pool_proba[rows], pool_proba[unl])
            open_pos = np.searchsorted(rows, open_rows)
            cand = np.concatenate([open_rows, unl])
            cand_score = np.concatenate([s.labeled[open_pos], s.unlabeled])
            for r in cand[np.argsort(cand_score, kind="stable")[:n]]:
                team.ask(int(r))
    return CrowdCurve(labels, scores, team.relabels)


def _fit_predict(head: Head, team: _Team, rows: np.ndarray, X_pool: np.ndarray,
                 n_classes: int) -> tuple[Head, np.ndarray]:
    """Fit on the consensus of the labelled rows (ties to the previous model: here, to a
    model fitted on the untied rows) and predict the whole pool."""
    first = majority_vote(team.R[rows], n_classes)
    head.fit(X_pool[rows], first.labels)
    proba = np.asarray(head.predict_proba(X_pool))
    cons = majority_vote(team.R[rows], n_classes, proba=proba[rows])
    if (cons.labels != first.labels).any():
        head.fit(X_pool[rows], cons.labels)
        proba = np.asarray(head.predict_proba(X_pool))
    return head, proba


def simulate_crowd(
    X_pool: np.ndarray, y_pool: np.ndarray, X_test: np.ndarray, y_test: np.ndarray, *,
    n_classes: int, annotators: int, noise: float, budget: int, batch_size: int, initial: int,
    seeds: int = 5, k_fixed: int = 2, overlap: float = 0.1,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Every policy for ``seeds`` seeds (annotators drawn anew per seed, shared by the
    policies); the JSON-ready result with the mean curve and labels paid to reach 95 % of
    the clean full-data score per policy."""
    if len(X_pool) != len(y_pool) or len(X_test) != len(y_test):
        raise DataError("features and labels differ in length")
    if seeds < 1:
        raise DataError(f"seeds must be >= 1; got {seeds}")
    fs = full_score(X_pool, y_pool, X_test, y_test, n_classes=n_classes, multi_label=False)
    target = 0.95 * fs
    out: dict[str, Any] = {}
    done, total = 0, seeds * len(POLICIES)
    accs = [draw_accuracies(annotators, noise, np.random.default_rng(1000 + s)) for s in range(seeds)]
    for policy in POLICIES:
        curves = []
        for s in range(seeds):
            curves.append(run_crowd_curve(
                X_pool, y_pool, X_test, y_test, n_classes=n_classes, policy=policy,
                accuracy=accs[s], budget=budget, batch_size=batch_size, initial=initial, seed=s,
                k_fixed=k_fixed, overlap=overlap))
            done += 1
            if progress:
                progress(done, total)
        n = min(len(c.labels) for c in curves)
        labels = curves[0].labels[:n]
        mean = np.mean([c.scores[:n] for c in curves], axis=0)
        per_seed = [metrics.labels_to_target(c.labels, c.scores, target) for c in curves]
        out[policy] = {
            "labels": labels,
            "mean": [float(v) for v in mean],
            "scores": [c.scores for c in curves],
            "labels_to_95": metrics.labels_to_target(labels, list(mean), target),
            "labels_to_95_per_seed": per_seed,
            "relabels": [c.relabels for c in curves],
        }
    return {"n_pool": len(X_pool), "n_test": len(X_test), "metric": "accuracy",
            "full_score": fs, "annotators": annotators, "noise": noise, "k_fixed": k_fixed,
            "overlap": overlap,
            "annotator_accuracy": [a.tolist() for a in accs], "policies": out}
