"""Simulated labelling runs: an oracle labels what each pipeline asks for.

Pure numpy / scikit-learn: the caller featurises the data and splits it. All
indices here are row positions of the pool arrays.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from labella.al import audit_check, metrics
from labella.al.audit import FALLBACK_STRATEGY, AuditEstimate, compose_batch
from labella.al.heads import Head, fit_head, query_head
from labella.al.pipelines import DEFAULT_STRATEGY, Pipeline, plain_head
from labella.al.strategies import REGISTRY
from labella.al.types import Pool
from labella.errors import DataError

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Curve:
    """One learning curve: the score after each batch of labels.

    ``audit``: the live audit's estimates (:mod:`labella.al.audit`) made along the run,
    when its pipeline has an audit share; ``switched_at``: labels at which the run
    switched to random sampling because the audit said active learning was losing;
    ``rows`` / ``audit_flags``: the pool rows in the order they were labelled and which were
    audit picks (so the audit can be re-estimated on the same run).
    """

    labels: list[int]
    scores: list[float]
    seconds_per_query: float
    audit: list[AuditEstimate] = field(default_factory=list)
    switched_at: int | None = None
    rows: list[int] = field(default_factory=list)
    audit_flags: list[bool] = field(default_factory=list)


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
    track = audit_check.AuditTrack(pipeline.audit_share, pipeline.switch_when_losing)
    track.add(first, np.full(len(first), pipeline.cold_start is None))  # uniform = audit
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
        if track.due(n_labeled, last=i + 1 == len(points)):
            track.run(X_pool, y_pool, n_pool=len(X_pool), n_classes=n_classes,
                      multi_label=multi_label, head=head, seed=seed)
            if track.switched_at == n_labeled:
                strategy = REGISTRY.get(FALLBACK_STRATEGY)
        if on_step:
            on_step()
        if i + 1 == len(points):
            break
        t0 = time.perf_counter()
        res = strategy.query(pool, batch_size, head=query_head(head), rng=rng)
        query_seconds.append(time.perf_counter() - t0)
        picked, flags = res.indices, np.zeros(len(res), dtype=bool)
        if pipeline.audit_share > 0:
            batch = compose_batch(res, pool, share=pipeline.audit_share, rng=rng)
            picked, flags = batch.indices, batch.audit
        track.add(picked, flags)
        pool = pool.with_labels(picked, y_pool[picked])
    spq = float(np.median(query_seconds)) if query_seconds else 0.0
    return Curve(labels, scores, spq, track.history, track.switched_at, track.rows, track.flags)


def full_score(
    X_pool: np.ndarray, y_pool: np.ndarray, X_test: np.ndarray, y_test: np.ndarray,
    *, n_classes: int, multi_label: bool,
) -> float:
    """Plain logistic regression trained on the whole pool: the reference score."""
    head = plain_head(n_classes, multi_label).fit(X_pool, y_pool)
    return _score(head, X_test, y_test, multi_label=multi_label)


def random_extension(
    X_pool: np.ndarray, y_pool: np.ndarray, X_test: np.ndarray, y_test: np.ndarray,
    *, n_classes: int, multi_label: bool, start: int, seeds: int, full: float, points: int = 8,
) -> tuple[list[int], list[float]]:
    """Random sampling's mean curve beyond ``start`` labels, up to the whole pool (whose
    score is ``full``): plain logistic regression on random subsets of geometric sizes.
    The audit's truth needs it: a model may be one that random sampling reaches only
    far beyond the simulated budget, or never."""
    n_pool = len(X_pool)
    if start >= n_pool:
        return [], []
    sizes = [int(v) for v in np.unique(np.geomspace(start * 1.25, n_pool, points).round())
             if start < v < n_pool]
    means = []
    for k in sizes:
        vals = []
        for s in range(seeds):
            rows = np.random.default_rng(10_000 + s).permutation(n_pool)[:k]
            head = plain_head(n_classes, multi_label).fit(X_pool[rows], y_pool[rows])
            vals.append(_score(head, X_test, y_test, multi_label=multi_label))
        means.append(float(np.mean(vals)))
    return [*sizes, n_pool], [*means, full]


def audit_records(curves: list[Curve], reference: tuple[list[int], list[float]],
                  n_pool: int) -> list[list[dict[str, Any]]]:
    """Each run's audit estimates next to the truth (:func:`audit_check.compare`)."""
    labels, mean = reference
    return [[audit_check.compare(e, c.scores[c.labels.index(e.n_labels)], labels, mean, n_pool)
             for e in c.audit] for c in curves]


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
    runs: dict[str, list[Curve]] = {}
    for name, pipe in pipelines.items():
        curves = runs[name] = [
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
    if "random" in out and any(c.audit for cs in runs.values() for c in cs):
        rnd = out["random"]
        ext = random_extension(X_pool, y_pool, X_test, y_test, n_classes=n_classes,
                               multi_label=multi_label, start=rnd["labels"][-1], seeds=seeds,
                               full=fs)
        reference = (rnd["labels"] + ext[0], rnd["mean"] + ext[1])
        for name, curves in runs.items():
            if any(c.audit for c in curves):
                records = audit_records(curves, reference, len(X_pool))
                out[name]["audit"] = records
                out[name]["audit_coverage"] = audit_check.coverage(records)
                out[name]["switched_at"] = [c.switched_at for c in curves]
    return {
        "n_pool": len(X_pool),
        "n_test": len(X_test),
        "metric": "micro_f1" if multi_label else "accuracy",
        "full_score": fs,
        "default_strategy": DEFAULT_STRATEGY,
        "strategies": out,
    }
