"""Project metrics: scores of the current model, the learning curve and when to stop.

Scores come from the evaluation set (items imported with ``split=test``) when
enough of it is labelled, otherwise from cross-validation on the labels; each
model version records which (``source``). The stopping recommendation combines
the core's criteria: budget, stabilising predictions on a fixed stop set,
overall uncertainty of the pool and a plateau of the learning curve.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import select

from labella.al import stopping
from labella.al.types import labeled_mask
from labella.service import auth, explain
from labella.store.models import READY, ModelVersion

if TYPE_CHECKING:
    from labella.service.context import ServiceContext


def learning_curve(rows: Sequence[tuple[int, int, float | None, str | None]]) -> list[dict[str, Any]]:
    """One point per number of labels (the newest version with a score wins).

    ``rows``: ``(version, n_labels, score, source)`` per model version.
    """
    by_n: dict[int, dict[str, Any]] = {}
    for version, n_labels, score, source in sorted(rows, key=lambda r: r[0]):
        if score is None:
            continue
        by_n[n_labels] = {"n_labels": n_labels, "score": float(score), "source": source,
                          "model_version": version}
    return [by_n[n] for n in sorted(by_n)]


PLATEAU_MIN_LABELS = 50
PLATEAU_GROWTH = 1.25


def plateau_points(curve: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The learning curve thinned for the plateau test: from ``PLATEAU_MIN_LABELS`` labels on,
    each kept point has at least 25 % more labels than the one before, so "flat over the last
    3 points" means "about twice the labels brought no gain", not "the last three labels"."""
    kept: list[dict[str, Any]] = []
    for point in curve:
        if point["n_labels"] < PLATEAU_MIN_LABELS:
            continue
        if not kept or point["n_labels"] >= kept[-1]["n_labels"] * PLATEAU_GROWTH:
            kept.append(point)
    return kept


AUDIT_POINTS = 200
"""The most audit estimates the metrics reply carries (the newest)."""


def project_metrics(ctx: ServiceContext, user: auth.UserPublic, project_id: int) -> dict[str, Any]:
    with ctx.read_session() as s:
        auth.require_role(s, user, project_id)
        # only the curve's columns: a project keeps one version per refit, each with its
        # confusion matrix and per-class figures, and the dashboard polls this
        rows = [tuple(r) for r in s.execute(
            select(ModelVersion.version, ModelVersion.n_labels, ModelVersion.metrics["score"].as_float(),
                   ModelVersion.metrics["source"].as_string())
            .where(ModelVersion.project_id == project_id, ModelVersion.status == READY)
            .order_by(ModelVersion.version))]
    st = ctx.loops.state(project_id)
    with st.lock:
        n_labeled = st.n_labeled
        n_model = st.n_model_accepted
        version = st.version
        refit_pending = st.refit_pending or not st.ready.is_set()
        audit_history = list(st.audit_history)
        audit_on = st.pipeline.audit_share > 0
        latest = dict(st.last_metrics)
        history = list(st.stop_history)
        proba = st.proba
        mask = labeled_mask(st.y)
        budget = st.settings.get("label_budget")
        n_pool, n_eval = len(st.index), len(st.eval_index)
        n_eval_labeled = int(labeled_mask(st.y_eval).sum()) if n_eval else 0
        multi = st.multi_label
        counts = _label_counts(st.y, st.label_names, multi)
    curve = learning_curve(rows)
    if latest.get("score") is None and curve:  # e.g. after a restart: the newest stored evaluation
        newest = max(curve, key=lambda c: c["model_version"])["model_version"]
        with ctx.read_session() as s:
            stored = s.scalar(select(ModelVersion.metrics).where(
                ModelVersion.project_id == project_id, ModelVersion.version == newest))
        latest = dict(stored or {})
    thin = plateau_points(curve)
    uncertainty = None
    if proba is not None and (~mask).any():
        p = proba[~mask]
        if multi:
            uncertainty = 1.0 - 2.0 * np.abs(p - 0.5).mean(axis=1)
        else:
            k = p.shape[1]
            uncertainty = (1.0 - p.max(axis=1)) * k / max(k - 1, 1)
    rec = stopping.recommend(
        labels_used=n_labeled - n_model if budget else None, label_budget=budget,
        predictions=history if len(history) >= 2 else None,
        pool_uncertainty=uncertainty,
        curve_labels=[c["n_labels"] for c in thin] if len(thin) >= 2 else None,
        curve_scores=[c["score"] for c in thin] if len(thin) >= 2 else None,
    )
    return {
        "n_labeled": n_labeled,
        "n_labeled_by_people": n_labeled - n_model,
        "n_model_accepted": n_model,
        "model_version": version,
        "refit_pending": refit_pending,
        "audit": _audit_summary(audit_history, on=audit_on),
        "n_pool": n_pool,
        "n_evaluation": n_eval,
        "n_evaluation_labeled": n_eval_labeled,
        "n_unfeaturised": st.n_unfeaturised,
        "label_counts": counts,
        "scores": latest,
        "learning_curve": curve,
        "stop": {"stop": rec.stop, "reason": rec.reason, "criterion": rec.criterion,
                 "details": rec.details,
                 "advice": explain.stop_advice(rec.stop, rec.criterion, rec.details,
                                               explain.change_rates(history))},
    }


def _audit_summary(history: list[Any], *, on: bool) -> dict[str, Any]:
    """The live audit for the dashboard: the latest estimate (labels saved against random
    sampling, with its interval) and the estimates so far, compactly."""
    latest = history[-1].as_dict() if history else None
    return {
        "enabled": on,
        "latest": latest,
        "history": [{k: d[k] for k in ("n_labels", "labels_saved", "labels_saved_low",
                                       "labels_saved_high", "verdict")}
                    for d in (e.as_dict() for e in history[-AUDIT_POINTS:])],
    }


def _label_counts(y: np.ndarray, names: list[str], multi: bool) -> dict[str, int]:
    mask = labeled_mask(y)
    if multi:
        sums = y[mask].sum(axis=0) if mask.any() else np.zeros(len(names))
        return {n: int(c) for n, c in zip(names, sums, strict=True)}
    counts = np.bincount(y[mask], minlength=len(names)) if mask.any() else np.zeros(len(names))
    return {n: int(c) for n, c in zip(names, counts, strict=True)}
