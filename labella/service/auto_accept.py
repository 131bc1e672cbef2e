"""Difficulty of the unlabelled pool, and auto-accepting the model's easy suggestions.

:func:`preview` says, for one class and a target precision, which calibrated confidence
threshold the labelled evaluation items support (:mod:`labella.al.auto_accept`), the
precision measured there with its interval, and how many unlabelled items it would
accept. :func:`accept` (admins only) then labels those items with the model's suggestion:
one annotation row per item with ``source="model"``, by the admin who accepted, its
``meta["auto_accept"]`` recording the batch, threshold, target, measured precision and
model version. :func:`undo_batch` retracts a whole batch.

Model-accepted labels are kept apart from people's. They are the project's labels (the
export carries them, marked ``source``; the items are not queued again), but the head is
neither fitted nor evaluated on them (:func:`labella.service.refit.training_mask`: fitted
on its own suggestions, the model drifted towards the accepted class). Only pool items
are accepted, so the evaluation split holds people's labels only; cross-validated metrics,
calibration and the live audit leave them out, and so does agreement between
annotators. The precision that :func:`accept` re-measures comes from the evaluation
items, so it never rests on accepted labels either.

The accept request carries the threshold the preview showed, so what is accepted is what
was shown: if the model changed since (a refit) and that threshold no longer meets the
target on the evaluation items, :func:`accept` refuses (:class:`ConflictError`) and the
admin previews again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import select

from labella.al import auto_accept as aa
from labella.al.types import labeled_mask
from labella.service import auth
from labella.service.errors import ConflictError, InvalidRequestError, NotFoundError
from labella.service.labels import current_labels
from labella.store.annotations import Annotation
from labella.store.base import utcnow

if TYPE_CHECKING:
    from labella.service.context import ServiceContext
    from labella.service.state import ProjectState

REQUEST_PREFIX = "auto-accept:"
"""Accepted rows carry ``request_id = auto-accept:{batch}:{item_id}`` (an undo finds its
rows by it)."""


@dataclass(frozen=True)
class AcceptPreview:
    label: str
    target: float
    difficulty: dict[str, int]
    """Unlabelled pool items per band (``easy`` / ``medium`` / ``hard``), all classes."""
    n_evaluation: int
    """Labelled evaluation items the threshold was measured on."""
    threshold: float | None
    """``None``: no threshold reaches the target on the evaluation items."""
    precision: float | None
    low: float | None
    high: float | None
    n_measured: int
    n_would_accept: int
    model_version: int = 0


@dataclass(frozen=True)
class AcceptResult:
    batch: str | None
    """The batch id (for :func:`undo_batch`); ``None`` when nothing was accepted."""
    accepted: int
    label: str
    target: float
    threshold: float
    precision: float
    low: float
    high: float
    n_measured: int
    model_version: int
    n_labeled: int


@dataclass(frozen=True)
class _View:
    """What one measurement reads from the loop state (copied under its lock)."""

    klass: int
    version: int
    conf: np.ndarray
    """Calibrated confidence of each unlabelled pool row's top class."""
    pred: np.ndarray
    item_ids: np.ndarray
    """Item id of each unlabelled pool row."""
    eval_conf: np.ndarray
    eval_pred: np.ndarray
    eval_correct: np.ndarray


def calibrated(st: ProjectState, proba: np.ndarray) -> np.ndarray:
    """``proba`` through the project's calibrator (unchanged when it has none)."""
    return st.calibrator.apply(proba) if st.calibrator is not None else proba


def _check_target(target: float) -> None:
    if not 0.5 <= target < 1:
        raise InvalidRequestError(f"target precision must be in [0.5, 1); got {target}")


def _view(ctx: ServiceContext, project_id: int, label: str) -> _View:
    with ctx.loops.current(project_id) as st:
        if st.multi_label:
            raise InvalidRequestError("auto-accept is for single-label projects")
        if label not in st.label_names:
            raise InvalidRequestError(
                f"unknown label {label!r}; the project's labels: {', '.join(st.label_names)}")
        if st.head is None or st.proba is None:
            raise InvalidRequestError("no model yet: label a few items first")
        klass = st.label_names.index(label)
        head, proba, version = st.head, st.proba, st.version
        unl = np.flatnonzero(~labeled_mask(st.y))
        ids = st.index.ids(unl.tolist()) if len(unl) else np.zeros(0, dtype=np.int64)
        # people's labels only: the evaluation split never holds a model-accepted label
        ev = labeled_mask(st.y_eval) if len(st.y_eval) else np.zeros(0, dtype=bool)
        X_eval, y_eval = st.X_eval[ev], st.y_eval[ev]
        q = calibrated(st, proba[unl])
        pe = calibrated(st, head.predict_proba(X_eval)) if len(y_eval) else \
            np.zeros((0, st.n_classes))
    return _View(klass, version, q.max(axis=1), q.argmax(axis=1), np.asarray(ids, np.int64),
                 pe.max(axis=1), pe.argmax(axis=1), pe.argmax(axis=1) == y_eval)


def preview(ctx: ServiceContext, user: auth.UserPublic, project_id: int, *, label: str,
            target: float = 0.95) -> AcceptPreview:
    _check_target(target)
    with ctx.read_session() as s:
        auth.require_role(s, user, project_id)
    v = _view(ctx, project_id, label)
    bands = aa.difficulty(v.conf)
    counts = {b: int((bands == b).sum()) for b in ("easy", "medium", "hard")}
    n_eval = len(v.eval_correct)
    t = aa.choose_threshold(v.eval_conf, v.eval_pred, v.eval_correct, v.klass,
                            target=target) if n_eval else None
    if t is None:
        return AcceptPreview(label, target, counts, n_eval, None, None, None, None, 0, 0,
                             v.version)
    n = int(((v.pred == v.klass) & (v.conf >= t.threshold)).sum())
    return AcceptPreview(label, target, counts, n_eval, t.threshold, t.precision, t.low,
                         t.high, t.n_held_out, n, v.version)


def accept(ctx: ServiceContext, user: auth.UserPublic, project_id: int, *, label: str,
           target: float, threshold: float) -> AcceptResult:
    """Label every unlabelled pool item whose calibrated suggestion is ``label`` at
    ``threshold`` or above, as model-accepted (admins only).

    ``threshold`` is the one :func:`preview` showed. It is measured again on the current
    model's evaluation predictions; if it no longer meets ``target`` (Wilson lower bound,
    at least :data:`labella.al.auto_accept.MIN_SUPPORT` predictions) nothing is written
    and :class:`ConflictError` says so. Items labelled meanwhile are left alone, so
    sending the request again accepts nothing twice.
    """
    _check_target(target)
    if not 0 < threshold <= 1:
        raise InvalidRequestError(f"threshold must be in (0, 1]; got {threshold}")
    with ctx.read_session() as s:
        auth.require_role(s, user, project_id, "admin")
    v = _view(ctx, project_id, label)
    sel = (v.eval_pred == v.klass) & (v.eval_conf >= threshold)
    n_meas, hits = int(sel.sum()), int(v.eval_correct[sel].sum())
    low, high = aa.wilson_interval(hits, n_meas)
    precision = hits / n_meas if n_meas else 0.0
    if n_meas < aa.MIN_SUPPORT or low < target:
        raise ConflictError(
            f"threshold {threshold:.3f} does not meet the target precision {target:.2f} for "
            f"{label!r} on model version {v.version}: {hits} of {n_meas} evaluation "
            f"predictions right (95 % interval {low:.3f}–{high:.3f}; at least "
            f"{aa.MIN_SUPPORT} needed). The model may have changed since the preview: "
            "preview again")
    batch = uuid.uuid4().hex[:16]
    take = (v.pred == v.klass) & (v.conf >= threshold)
    ids, confs = v.item_ids[take].tolist(), v.conf[take].tolist()
    record = {"batch": batch, "label": label, "threshold": threshold, "target": target,
              "precision": precision, "low": low, "high": high, "n_measured": n_meas,
              "model_version": v.version}
    with ctx.read_session() as s:
        # labelled meanwhile (by a person, or by an earlier send of this request): left alone
        labelled = set(current_labels(s, project_id, item_ids=ids)) if ids else set()
    now = utcnow()
    anns = [Annotation(project_id=project_id, item_id=i, user_id=user.id, action="label",
                       value=[label], source="model",
                       request_id=f"{REQUEST_PREFIX}{batch}:{i}", model_version=v.version,
                       suggestion=[label], confidence=float(c),
                       meta={"auto_accept": record}, created_at=now, audit=False)
            for i, c in zip(ids, confs, strict=True) if i not in labelled]
    with ctx.sessions() as s:  # no transaction open: the loop commits its own
        n_labeled = ctx.loops.record_batch(s, project_id, anns)
    return AcceptResult(batch if anns else None, len(anns), label, target, threshold,
                        precision, low, high, n_meas, v.version, n_labeled)


def undo_batch(ctx: ServiceContext, user: auth.UserPublic, project_id: int, batch: str
               ) -> dict[str, Any]:
    """Retract a batch of model-accepted labels (admins only): an ``undo`` row for each of
    its items whose accepted label still stands (a later answer by the same admin, or by
    anyone else, is left alone). Returns ``{"batch", "retracted", "n_labeled"}``."""
    with ctx.read_session() as s:
        auth.require_role(s, user, project_id, "admin")
        rows = s.execute(select(Annotation.id, Annotation.item_id, Annotation.user_id).where(
            Annotation.project_id == project_id, Annotation.source == "model",
            Annotation.action == "label",
            Annotation.request_id.like(f"{REQUEST_PREFIX}{batch}:%"))).all()
        if not rows:
            raise NotFoundError(f"no auto-accepted batch {batch!r} in project {project_id}")
        last = {}  # each (item, annotator)'s deciding row
        for ann_id, item_id, user_id in s.execute(
                select(Annotation.id, Annotation.item_id, Annotation.user_id).where(
                    Annotation.item_id.in_([r[1] for r in rows]),
                    Annotation.action.in_(("label", "undo"))).order_by(Annotation.id)):
            last[(item_id, user_id)] = ann_id
    now = utcnow()
    undo = [Annotation(project_id=project_id, item_id=item_id, user_id=user_id,
                       action="undo", source="model", created_at=now,
                       meta={"auto_accept_undo": {"batch": batch, "by": user.id}})
            for ann_id, item_id, user_id in rows if last.get((item_id, user_id)) == ann_id]
    with ctx.sessions() as s:
        n_labeled = ctx.loops.record_batch(s, project_id, undo)
    return {"batch": batch, "retracted": len(undo), "n_labeled": n_labeled}


def difficulty_bands(ctx: ServiceContext, project_id: int) -> tuple[np.ndarray, np.ndarray]:
    """``(item_ids, bands)`` of the unlabelled pool items under the current model's
    calibrated confidence (empty before the first model)."""
    with ctx.loops.current(project_id) as st:
        if st.proba is None:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=object)
        unl = np.flatnonzero(~labeled_mask(st.y))
        if not len(unl):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=object)
        ids = np.asarray(st.index.ids(unl.tolist()), dtype=np.int64)
        conf = st.task.confidence(calibrated(st, st.proba[unl]))
    return ids, aa.difficulty(conf)
