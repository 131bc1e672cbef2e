"""Heavy retraining: the ``retrain`` job.

The loop refits its light head after every label (in memory). A retrain is the
durable, thorough version, run as a background job with progress: it fits the
project's head on every label, evaluates it (evaluation set, and always
cross-validation on the labels), stores its prediction and query score for
every pool item under a new model version, and saves the head in the safe
format of :mod:`labella.al.serialize` (no pickle).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import delete, insert, or_, select
from sqlalchemy.orm import Session

from labella.al.heads import fit_head, query_head
from labella.al.serialize import can_save, save_head
from labella.al.strategies import REGISTRY
from labella.al.types import Pool, labeled_mask
from labella.jobs.runner import JobContext
from labella.service import auth
from labella.service.errors import InvalidRequestError
from labella.service.refit import evaluate, training_mask
from labella.store.jobs import QUEUED, RUNNING, Job
from labella.store.models import READY, WRITING, ModelVersion, Prediction

if TYPE_CHECKING:
    from labella.service.context import ServiceContext

log = logging.getLogger(__name__)

CHUNK = 5000


def start_retrain(ctx: ServiceContext, user: auth.UserPublic, project_id: int) -> Any:
    with ctx.session() as s:
        auth.require_role(s, user, project_id, "admin")
    return ctx.enqueue("retrain", params={"project_id": project_id}, project_id=project_id,
                       created_by=user.id)


def run_retrain(ctx: ServiceContext, job: JobContext) -> dict[str, Any]:
    project_id = int(job.params["project_id"])
    st = ctx.loops.state(project_id)
    snap = replace(ctx.loops._snapshot(st), want_cv=True)
    mask = training_mask(snap)  # not the labels accepted from the model
    n_labels = int(mask.sum())
    if n_labels == 0:
        raise InvalidRequestError("nothing to train on: the project has no labels yet")
    steps = 4
    job.progress(0, steps, f"fitting {snap.pipeline.head} on {n_labels} labels")
    pool = Pool(snap.X, snap.y, snap.n_classes, snap.multi_label)
    head = fit_head(snap.pipeline.make_head(snap.n_classes, snap.multi_label), snap.X[mask],
                    snap.y[mask], unlabeled=pool.unlabeled_sample)
    job.progress(1, steps, "evaluating (cross-validation and evaluation set)")
    metrics = evaluate(snap, head, snap.X[mask], snap.y[mask])
    cv = evaluate(replace(snap, y_eval=snap.y_eval[:0], X_eval=snap.X_eval[:0]), head,
                  snap.X[mask], snap.y[mask])
    metrics["cross_validation"] = {k: cv.get(k) for k in ("score", "metric")}
    job.progress(2, steps, "scoring the pool")
    proba = head.predict_proba(snap.X)
    strategy = REGISTRY.get(snap.pipeline.strategy, **snap.pipeline.strategy_params)
    scores = np.full(len(snap.X), np.nan)
    unl = np.flatnonzero(~labeled_mask(snap.y))
    if len(unl) and hasattr(strategy, "scores"):
        scores[unl] = strategy.scores(pool, unl, head=query_head(head), rng=np.random.default_rng(0))
    suggestions = st.task.from_prediction(proba, snap.label_names)
    conf = st.task.confidence(proba)
    # the version stays ``writing`` (invisible) until its predictions and head are stored;
    # a run killed meanwhile leaves it to be deleted (below on a retry, or at recovery)
    with ctx.session() as s:
        discard_unfinished(s, job_id=job.job.id)
        last = s.scalar(select(ModelVersion.version).where(ModelVersion.project_id == project_id)
                        .order_by(ModelVersion.version.desc()).limit(1)) or 0
        mv = ModelVersion(project_id=project_id, version=last + 1, kind="retrain",
                          featuriser_key=st.featuriser_key, head=snap.pipeline.head,
                          head_params={}, strategy=snap.pipeline.strategy, n_labels=n_labels,
                          metrics=metrics, status=WRITING, job_id=job.job.id)
        s.add(mv)
        s.flush()
        mv_id, version = mv.id, mv.version
    try:
        artifact = _store(ctx, job, st, mv_id, version, head, suggestions, conf, scores)
    except BaseException:
        with ctx.session() as s:
            discard_unfinished(s, job_id=job.job.id)
        raise
    job.progress(steps, steps, "done")
    return {"model_version": version, "n_labels": n_labels, "metrics": {
        k: metrics.get(k) for k in ("source", "metric", "score")}, "artifact": artifact}


def _store(ctx: ServiceContext, job: JobContext, st: Any, mv_id: int, version: int, head: Any,
           suggestions: list[list[str]], conf: np.ndarray, scores: np.ndarray) -> str | None:
    """Store a retrain's predictions and head, then make its version ``ready``."""
    steps = 4
    snap_names = st.label_names
    ids = st.index.item_ids
    job.progress(3, steps, f"storing {len(ids)} predictions")
    for start in range(0, len(ids), CHUNK):
        rows = [{"model_version_id": mv_id, "item_id": int(ids[i]), "suggestion": suggestions[i],
                 "confidence": float(conf[i]),
                 "score": None if np.isnan(scores[i]) else float(scores[i])}
                for i in range(start, min(start + CHUNK, len(ids)))]
        with ctx.session() as s:
            s.execute(insert(Prediction), rows)
        job.progress(3, steps, f"stored {min(start + CHUNK, len(ids))} of {len(ids)} predictions")
    artifact = None
    if can_save(head):
        out = ctx.settings.data_dir / "models" / f"project-{st.project_id}" / f"v{version}"
        try:
            save_head(head, out, featuriser_key=st.featuriser_key, class_names=snap_names)
            artifact = str(out.relative_to(ctx.settings.data_dir))
        except Exception as exc:  # a head the safe format cannot hold is still usable
            job.log(f"head not saved: {type(exc).__name__}: {exc}")
    with ctx.session() as s:
        row = s.get(ModelVersion, mv_id)
        if row is not None:
            row.artifact_key = artifact
            row.status = READY
    return artifact


def discard_unfinished(s: Session, *, job_id: int | None = None) -> int:
    """Delete model versions left ``writing`` (their predictions go with them): those of
    ``job_id``, or, without it, those whose job is no longer running (after a crash).
    Returns how many were deleted."""
    q = select(ModelVersion.id).where(ModelVersion.status == WRITING)
    if job_id is not None:
        q = q.where(ModelVersion.job_id == job_id)
    else:
        running = select(Job.id).where(Job.status.in_((RUNNING, QUEUED)))
        q = q.where(or_(ModelVersion.job_id.is_(None), ModelVersion.job_id.not_in(running)))
    ids = list(s.scalars(q))
    if ids:
        s.execute(delete(Prediction).where(Prediction.model_version_id.in_(ids)))
        s.execute(delete(ModelVersion).where(ModelVersion.id.in_(ids)))
    return len(ids)
