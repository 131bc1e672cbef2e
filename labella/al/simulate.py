"""Simulated labelling runs: an oracle labels what each pipeline asks for.

Pure numpy / scikit-learn: the caller featurises the data and splits it. All
indices here are row positions of the pool arrays.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from labella.al import metrics
from labella.al.heads import Head, fit_head, query_head
from labella.al.pipelines import DEFAULT_STRATEGY, Pipeline, plain_head
from labella.al.strategies import REGISTRY
from labella.al.types import Pool
from labella.errors import DataError

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Curve:
    """One learning curve: the score after each batch of labels."""

    labels: list[int]
    scores: list[float]
    seconds_per_query: float


def _score(head: Head, X: np.ndarray, y: np.ndarray, *, multi_label: bool) -> float:
    proba = head.predict_proba(X)
    if multi_label:
        return metrics.micro_f1_multilabel(y, (proba >= 0.5).astype(np.int8))
    return metrics.accuracy(y, proba.argmax(axis=1))


def _fit(head: Head, pool: Pool) -> Head:
    return fit_head(head, *pool.labeled_data(), unlabeled=pool.unlabeled_sample)


def checkpoints(*, initial: int, batch_size: int, budget: int, n_pool: int) -> list[int]:
    """Label counts at which a curve is scored: initial, initial + batch, ... up to budget."""
    if initial < 1 or batch_size < 1:
        raise DataError(f"initial and batch size must be >= 1; got {initial}, {batch_size}")
    top = min(budget, n_pool)
    if initial > top:
        raise DataError(f"initial ({initial}) is larger than the budget or pool ({top})")
    points = list(range(initial, top + 1, batch_size))
    return points


def run_curve(
    X_pool: np.ndarray,
    y_pool: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    *,
    n_classes: int,
    multi_label: bool,
    pipeline: Pipeline,
    budget: int,
    batch_size: int,
    initial: int,
    seed: int,
    on_step: Callable[[], None] | None = None,
) -> Curve:
    """Label ``initial`` items, then ``batch_size`` at a time up to ``budget``, scoring each step."""
    rng = np.random.default_rng(seed)
    pool = Pool.unlabeled(X_pool, n_classes, multi_label=multi_label)
    first = (
        REGISTRY.get(pipeline.cold_start).query(pool, initial, head=None, rng=rng).indices
        if pipeline.cold_start
        else rng.choice(pool.n_items, size=initial, replace=False)
    )
    pool = pool.with_labels(first, y_pool[first])
    strategy = REGISTRY.get(pipeline.strategy, **pipeline.strategy_params)
    labels: list[int] = []
    scores: list[float] = []
    query_seconds: list[float] = []
    points = checkpoints(initial=initial, batch_size=batch_size, budget=budget, n_pool=len(X_pool))
    # one head for the whole run, refitted each round: a head may carry state across
    # rounds (e.g. its tuned regularisation), as it does in the labelling loop
    head = pipeline.make_head(n_classes, multi_label)
    for i, n_labeled in enumerate(points):
        head = _fit(head, pool)
        labels.append(n_labeled)
        scores.append(_score(head, X_test, y_test, multi_label=multi_label))
        if on_step:
            on_step()
        if i + 1 == len(points):
            break
        t0 = time.perf_counter()
        res = strategy.query(pool, batch_size, head=query_head(head), rng=rng)
        query_seconds.append(time.perf_counter() - t0)
        pool = pool.with_labels(res.indices, y_pool[res.indices])
    spq = float(np.median(query_seconds)) if query_seconds else 0.0
    return Curve(labels, scores, spq)


def full_score(
    X_pool: np.ndarray, y_pool: np.ndarray, X_test: np.ndarray, y_test: np.ndarray,
    *, n_classes: int, multi_label: bool,
) -> float:
    """Plain logistic regression trained on the whole pool: the reference score."""
    head = plain_head(n_classes, multi_label).fit(X_pool, y_pool)
    return _score(head, X_test, y_test, multi_label=multi_label)


def simulate(
    X_pool: np.ndarray,
    y_pool: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    *,
    n_classes: int,
    multi_label: bool,
    pipelines: Mapping[str, Pipeline],
    budget: int,
    batch_size: int,
    initial: int,
    seeds: int = 3,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run every pipeline for ``seeds`` seeds; return the JSON-ready result body.

    Keys: ``n_pool``, ``n_test``, ``metric``, ``full_score``, ``default_strategy``,
    ``strategies`` (see the ``labella simulate`` contract in the README).
    """
    if len(X_pool) != len(y_pool) or len(X_test) != len(y_test):
        raise DataError("features and labels differ in length")
    if seeds < 1:
        raise DataError(f"seeds must be >= 1; got {seeds}")
    n_points = len(checkpoints(initial=initial, batch_size=batch_size, budget=budget, n_pool=len(X_pool)))
    total = n_points * seeds * len(pipelines)
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done, total)

    fs = full_score(X_pool, y_pool, X_test, y_test, n_classes=n_classes, multi_label=multi_label)
    target = 0.95 * fs
    out: dict[str, Any] = {}
    for name, pipe in pipelines.items():
        curves = [
            run_curve(
                X_pool, y_pool, X_test, y_test, n_classes=n_classes, multi_label=multi_label,
                pipeline=pipe, budget=budget, batch_size=batch_size, initial=initial, seed=s,
                on_step=step,
            )
            for s in range(seeds)
        ]
        labels = curves[0].labels
        mean = np.mean([c.scores for c in curves], axis=0)
        out[name] = {
            "labels": labels,
            "scores": [c.scores for c in curves],
            "mean": [float(v) for v in mean],
            "labels_to_95": metrics.labels_to_target(labels, list(mean), target),
            "seconds_per_query": float(np.median([c.seconds_per_query for c in curves])),
            "pipeline": {"strategy": pipe.strategy, "head": pipe.head, "cold_start": pipe.cold_start},
        }
    return {
        "n_pool": len(X_pool),
        "n_test": len(X_test),
        "metric": "micro_f1" if multi_label else "accuracy",
        "full_score": fs,
        "default_strategy": DEFAULT_STRATEGY,
        "strategies": out,
    }
