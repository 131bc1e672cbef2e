"""One online update of a project's model: refit the head, re-score the pool, re-rank.

Pure computation on a snapshot of a :class:`~labella.service.state.ProjectState`
(no database, no lock held): the loop takes a snapshot under the lock, calls
:func:`refit` outside it, and swaps the result in. A refit of a logistic
regression on a few hundred labels and re-scoring 100 000 items takes tens of
milliseconds, and it never runs inside a request.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import sklearn
from sklearn.model_selection import KFold, StratifiedKFold

from labella.al import audit
from labella.al import metrics as al_metrics
from labella.al.audit import AuditEstimate
from labella.al.calibration import MIN_CALIBRATION_LABELS, Calibrator, fit_calibrator
from labella.al.heads import Head, fit_head, query_head
from labella.al.pipelines import Pipeline
from labella.al.strategies import REGISTRY
from labella.al.types import Pool, labeled_mask
from labella.errors import PoolExhaustedError

log = logging.getLogger(__name__)

MIN_EVAL_LABELS = 5
"""Fewer labelled evaluation items than this: metrics come from cross-validation."""
MIN_CV_LABELS = 10
MIN_CV_CALIBRATION_LABELS = 50
"""Out-of-fold predictions of fewer labels than this fit no temperature: on few labels
(20, six classes) it made calibration worse (benchmarks/calibration.py)."""


@dataclass(frozen=True)
class Snapshot:
    """What a refit reads (arrays are not mutated by the refit)."""

    X: np.ndarray
    y: np.ndarray
    X_eval: np.ndarray
    y_eval: np.ndarray
    n_classes: int
    multi_label: bool
    label_names: list[str]
    pipeline: Pipeline
    queue_size: int
    stop_rows: np.ndarray
    labels_changed: int
    want_cv: bool
    seed: int
    previous_head: Head | None = None
    """The last refit's head: a head that keeps state across refits (a tuned ``C``) starts
    from its clone instead of from scratch."""
    audit_rows: np.ndarray | None = None
    """Per pool row: its label came from an audit pick (see :mod:`labella.al.audit`)."""
    want_audit: bool = False
    """Run the live audit's estimate in this refit (it costs a few fits)."""
    model_rows: np.ndarray | None = None
    """Per pool row: its label was accepted from the model (auto-accept). Such rows count
    as labelled (never queried again) but the head is neither fitted nor evaluated on them
    (:func:`training_mask`): no fit, cross-validation fold, calibration or audit sees the
    model's own accepted suggestions."""
    first_batch: int = 0
    """With a random first batch (no cold-start strategy), the queue stays uniformly random
    until this many items are labelled (the project's batch size)."""


@dataclass(frozen=True)
class RefitResult:
    head: Head | None
    proba: np.ndarray | None
    rows: np.ndarray
    scores: np.ndarray
    strategy: str
    n_labels: int
    metrics: dict[str, Any]
    stop_pred: np.ndarray | None
    labels_changed: int
    seconds: float
    audit: np.ndarray | None = None
    """Shape ``(len(rows),)``: which queued rows are audit picks (``None``: none)."""
    estimate: AuditEstimate | None = None
    calibrator: Calibrator | None = None
    """Temperature scaling fitted on this refit's held-out predictions (``None``: too few
    held-out labels this time; the previous calibrator stays)."""


def primary_metric(multi_label: bool) -> str:
    return "micro_f1" if multi_label else "accuracy"


def new_head(snap: Snapshot) -> Head:
    """The unfitted head of this refit: the pipeline's, or the previous refit's head cloned
    when it is of the same kind and keeps state across refits (``keeps_state``), so
    e.g. the tuned head re-tunes when its labels have grown, not on every refit."""
    head = snap.pipeline.make_head(snap.n_classes, snap.multi_label)
    prev = snap.previous_head
    if (prev is not None and getattr(head, "keeps_state", False) and type(prev) is type(head)
            and prev.n_classes == head.n_classes and prev.multi_label == head.multi_label):
        return prev.clone()
    return head


def training_mask(snap: Snapshot) -> np.ndarray:
    """The pool rows the head is fitted and evaluated on: labelled by people (or imported),
    not accepted from the model. Fitting on its own accepted suggestions fed the model's
    mistakes and its class balance back to it: on the test project of
    ``tests/service/test_auto_accept.py`` 75 accepted ``pos`` labels (89 % precise) took
    held-out accuracy from 0.83 to 0.57."""
    mask = labeled_mask(snap.y)
    if snap.model_rows is not None and len(snap.model_rows) == len(mask):
        mask &= ~snap.model_rows
    return mask


def _cv_proba(snap: Snapshot, head: Head, X: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    """Out-of-fold probabilities on the labelled rows (``None`` if too few labels)."""
    n = len(y)
    if n < MIN_CV_LABELS:
        return None
    if snap.multi_label:
        splitter: Any = KFold(min(5, n), shuffle=True, random_state=snap.seed)
    else:
        counts = np.bincount(y, minlength=snap.n_classes)
        k = min(5, int(counts[counts > 0].min()))
        if k < 2:
            splitter = KFold(min(5, n), shuffle=True, random_state=snap.seed)
        else:
            splitter = StratifiedKFold(k, shuffle=True, random_state=snap.seed)
    out = np.zeros((n, snap.n_classes))
    unlabeled = Pool(snap.X, snap.y, snap.n_classes, snap.multi_label).unlabeled_sample
    for train, test in splitter.split(X, y if not snap.multi_label else None):
        # a clone of the fitted head: same parameters (a tuned head keeps its C, no re-tune)
        fold = fit_head(head.clone(), X[train], y[train], unlabeled=unlabeled)
        out[test] = fold.predict_proba(X[test])
    return out


def evaluate(snap: Snapshot, head: Head | None, X_lab: np.ndarray, y_lab: np.ndarray) -> dict[str, Any]:
    """Metrics of ``head``: on the labelled evaluation items when there are enough,
    otherwise cross-validated on the labels (when ``snap.want_cv``)."""
    return evaluate_held_out(snap, head, X_lab, y_lab)[0]


def evaluate_held_out(snap: Snapshot, head: Head | None, X_lab: np.ndarray, y_lab: np.ndarray
                      ) -> tuple[dict[str, Any], tuple[np.ndarray, np.ndarray] | None]:
    """:func:`evaluate`, plus the held-out predictions it measured (probabilities and
    labels of the evaluation items, or out-of-fold ones of the labels; ``None`` if none)."""
    metric = primary_metric(snap.multi_label)
    eval_mask = labeled_mask(snap.y_eval) if len(snap.y_eval) else np.zeros(0, dtype=bool)
    if head is not None and eval_mask.sum() >= MIN_EVAL_LABELS:
        proba = head.predict_proba(snap.X_eval[eval_mask])
        y_eval = snap.y_eval[eval_mask]
        m = al_metrics.evaluate(y_eval, proba, multi_label=snap.multi_label,
                                class_names=snap.label_names)
        return {"source": "evaluation", "metric": metric, "score": m[metric], **m}, (proba, y_eval)
    if snap.want_cv and head is not None:
        oof = _cv_proba(snap, head, X_lab, y_lab)
        if oof is not None:
            m = al_metrics.evaluate(y_lab, oof, multi_label=snap.multi_label,
                                    class_names=snap.label_names)
            return ({"source": "cross_validation", "metric": metric, "score": m[metric], **m},
                    (oof, y_lab))
    return {"source": None, "metric": metric, "score": None}, None


def refit(snap: Snapshot) -> RefitResult:
    """Fit the pipeline's head on the labelled rows, score the pool and rank the queue."""
    # the features were checked finite when they were computed: skip scikit-learn's
    # re-check of the whole pool (a third of a refit's time at 100 000 items)
    with sklearn.config_context(assume_finite=True):
        return _refit(snap)


def _refit(snap: Snapshot) -> RefitResult:
    t0 = time.perf_counter()
    rng = np.random.default_rng(snap.seed)
    mask = training_mask(snap)  # model-accepted labels: labelled, but not trained on
    n_labels = int(mask.sum())
    pool = Pool(snap.X, snap.y, snap.n_classes, snap.multi_label)
    n_free = pool.n_items - int(labeled_mask(snap.y).sum())
    k = min(snap.queue_size, n_free)
    head: Head | None
    proba: np.ndarray | None
    stop_pred: np.ndarray | None
    share = snap.pipeline.audit_share
    audit_mask: np.ndarray | None = None
    estimate: AuditEstimate | None = None
    calibrator: Calibrator | None = None
    if n_labels == 0:
        name = snap.pipeline.cold_start or "random"
        head, proba, stop_pred = None, None, None  # no labels: no model yet
        res = REGISTRY.get(name).query(pool, k, head=None, rng=rng) if k else None
        if res is not None and share > 0 and snap.pipeline.cold_start is None:
            audit_mask = np.ones(len(res.indices), dtype=bool)  # a uniform first batch
        metrics: dict[str, Any] = {"source": None, "metric": primary_metric(snap.multi_label),
                                   "score": None}
    else:
        X_lab, y_lab = snap.X[mask], snap.y[mask]
        head = fit_head(new_head(snap), X_lab, y_lab, unlabeled=pool.unlabeled_sample)
        proba = head.predict_proba(snap.X)
        pool.remember_proba(head, proba)  # a strategy scoring with ``head`` reuses these
        stop_pred = _predict(proba[snap.stop_rows], snap.multi_label) if len(snap.stop_rows) else None
        first_batch = snap.pipeline.cold_start is None and n_labels < snap.first_batch
        # a random first batch is served whole (as ``labella simulate --initial`` does): the
        # model's suggestions show from the first label, its queries once the batch is in
        strategy = REGISTRY.get("random" if first_batch else snap.pipeline.strategy,
                                **({} if first_batch else snap.pipeline.strategy_params))
        try:
            res = strategy.query(pool, k, head=query_head(head), rng=rng) if k else None
        except PoolExhaustedError:
            res = None
        if first_batch and res is not None and share > 0:
            audit_mask = np.ones(len(res.indices), dtype=bool)
        metrics, held_out = evaluate_held_out(snap, head, X_lab, y_lab)
        least = (MIN_CALIBRATION_LABELS if metrics["source"] == "evaluation"
                 else MIN_CV_CALIBRATION_LABELS)
        if held_out is not None and len(held_out[1]) >= least:
            calibrator = fit_calibrator(*held_out, multi_label=snap.multi_label)
            metrics["calibration"] = {**calibrator.as_dict(), "source": metrics["source"]}
        if snap.want_audit and snap.audit_rows is not None:
            estimate = audit.estimate(X_lab, y_lab, snap.audit_rows[mask], n_pool=pool.n_items,
                                      n_classes=snap.n_classes, head=head,
                                      multi_label=snap.multi_label, seed=snap.seed)
            metrics["audit"] = estimate.as_dict()
    rows = res.indices if res is not None else np.zeros(0, dtype=np.int64)
    scores = res.scores if res is not None else np.zeros(0)
    if res is not None and share > 0 and audit_mask is None and len(rows):
        batch = audit.compose_batch(res, pool, share=share, rng=rng)
        rows, scores, audit_mask = batch.indices, batch.scores, batch.audit
    strategy_name = res.strategy if res is not None else snap.pipeline.strategy
    if res is not None and res.params.get("fallback"):
        strategy_name = f"{strategy_name} (fallback: {res.params['fallback']})"
    return RefitResult(head, proba, rows, scores, strategy_name, n_labels, metrics, stop_pred,
                       snap.labels_changed, time.perf_counter() - t0, audit_mask, estimate,
                       calibrator)


def _predict(proba: np.ndarray, multi_label: bool) -> np.ndarray:
    if multi_label:
        return (proba >= 0.5).astype(np.int8)
    return proba.argmax(axis=1)
