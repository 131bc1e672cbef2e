"""Reviewing suspected label errors.

A scan (the ``label_errors`` job) cross-validates the project's head on every current
label (pool and evaluation items), runs the confident-learning finder
(:mod:`labella.al.label_errors`) on the out-of-fold probabilities and stores the
suspects, most suspicious first, with the label each had and the model's alternative.
:func:`suspected_errors` lists the latest scan's suspects that nobody has answered since
(an item whose current label changed, or was confirmed, leaves the list).
:func:`review_item` answers one: ``relabel`` or ``confirm``. Both go through the labelling
loop as a new annotation (the history keeps the old label; the model learns the new one)
marked ``meta.review``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import select

from labella.al.label_errors import (
    cross_val_proba,
    find_label_issues,
    find_label_issues_multilabel,
)
from labella.al.types import labeled_mask
from labella.jobs.runner import JobContext
from labella.service import auth, labelling
from labella.service.errors import InvalidRequestError, NotFoundError
from labella.service.labels import current_labels
from labella.service.replies import AnnotationAck
from labella.store.items import Item
from labella.store.jobs import SUCCEEDED

if TYPE_CHECKING:
    from labella.service.context import ServiceContext

SCAN_KIND = "label_errors"
MIN_SCAN_LABELS = 20
"""A scan needs at least this many labels (five folds of four)."""
MAX_SUSPECTS = 1000
"""A scan keeps at most this many suspects (the most suspicious)."""
REVIEW_ACTIONS = ("relabel", "confirm")


@dataclass(frozen=True)
class Suspect:
    item_id: int
    text: str | None
    image_key: str | None
    image_name: str | None
    split: str
    given: list[str]
    """The label the item had when it was scanned (still its current label)."""
    suggested: list[str]
    """The model's alternative."""
    quality: float
    """The model's out-of-fold probability of the given label (low: likely wrong)."""
    alternative_confidence: float | None
    """The model's out-of-fold probability of the alternative (single-label)."""


@dataclass(frozen=True)
class ErrorReport:
    scan_job_id: int | None
    scan_status: str | None
    scanned_at: datetime | None
    n_checked: int
    n_suspected: int
    n_answered: int
    """Suspects of that scan answered since (relabelled or confirmed)."""
    items: list[Suspect]


def start_scan(ctx: ServiceContext, user: auth.UserPublic, project_id: int) -> Any:
    """Queue a scan of the project's labels for likely errors (a background job)."""
    with ctx.read_session() as s:
        auth.require_role(s, user, project_id)
    return ctx.enqueue(SCAN_KIND, params={"project_id": project_id}, project_id=project_id,
                       created_by=user.id)


def run_scan(ctx: ServiceContext, job: JobContext) -> dict[str, Any]:
    project_id = int(job.params["project_id"])
    st = ctx.loops.state(project_id)
    with ctx.loops._current(st) as cur:
        pool_rows = np.flatnonzero(labeled_mask(cur.y))
        eval_rows = np.flatnonzero(labeled_mask(cur.y_eval)) if len(cur.y_eval) else \
            np.zeros(0, dtype=np.int64)
        X = np.concatenate([cur.X[pool_rows], cur.X_eval[eval_rows]])
        y = np.concatenate([cur.y[pool_rows], cur.y_eval[eval_rows]])
        ids = np.concatenate([cur.index.ids(pool_rows.tolist()),
                              cur.eval_index.ids(eval_rows.tolist())]).astype(np.int64)
        names, multi, pipeline = list(cur.label_names), cur.multi_label, cur.pipeline
    n = len(y)
    if n < MIN_SCAN_LABELS:
        raise InvalidRequestError(
            f"a label-error scan needs at least {MIN_SCAN_LABELS} labels; the project has {n}")
    if not multi and len(np.unique(y)) < 2:
        raise InvalidRequestError("a label-error scan needs labels of at least two classes")
    job.progress(0, 2, f"cross-validating {pipeline.head} on {n} labels")
    oof = cross_val_proba(lambda: pipeline.make_head(len(names), multi), X, y,
                          seed=project_id)
    job.progress(1, 2, "finding likely label errors (confident learning)")
    found: list[dict[str, Any]] = []
    if multi:
        rows, flags = find_label_issues_multilabel(y, oof)
        for r, f in zip(rows.tolist(), flags, strict=True):
            given = y[r] == 1
            alt = given ^ f
            found.append({"item_id": int(ids[r]),
                          "given": [nm for nm, g in zip(names, given, strict=True) if g],
                          "suggested": [nm for nm, a in zip(names, alt, strict=True) if a],
                          "quality": float(np.where(given, oof[r], 1 - oof[r])[f].min()),
                          "alternative_confidence": None})
    else:
        res = find_label_issues(y, oof)
        for r, g, a, q in zip(res.indices.tolist(), res.given.tolist(),
                              res.suggested.tolist(), res.scores.tolist(), strict=True):
            found.append({"item_id": int(ids[r]), "given": [names[g]], "suggested": [names[a]],
                          "quality": float(q), "alternative_confidence": float(oof[r, a])})
    found = found[:MAX_SUSPECTS]
    with ctx.read_session() as s:  # the answer each suspect had: a later one takes it off
        cur_labels = current_labels(s, project_id, item_ids=[f["item_id"] for f in found])
    for f in found:
        cl = cur_labels.get(f["item_id"])
        f["annotation_id"] = cl.annotation_id if cl else None
    job.progress(2, 2, f"{len(found)} suspected among {n} labels")
    return {"n_checked": n, "n_suspected": len(found), "suspects": found}


def suspected_errors(ctx: ServiceContext, user: auth.UserPublic, project_id: int, *,
                     limit: int = 50) -> ErrorReport:
    """The latest scan's suspects not answered since, most suspicious first."""
    if not 1 <= limit <= MAX_SUSPECTS:
        raise InvalidRequestError(f"limit must be between 1 and {MAX_SUSPECTS}; got {limit}")
    with ctx.read_session() as s:
        auth.require_role(s, user, project_id)
    latest = ctx.jobs.list(project_id=project_id, kinds=[SCAN_KIND], limit=1)
    done = ctx.jobs.list(project_id=project_id, kinds=[SCAN_KIND], status=SUCCEEDED, limit=1)
    status = latest[0].status if latest else None
    if not done or not done[0].result:
        return ErrorReport(latest[0].id if latest else None, status, None, 0, 0, 0, [])
    scan = done[0]
    result = scan.result or {}
    suspects = result.get("suspects", [])
    with ctx.read_session() as s:
        now = current_labels(s, project_id, item_ids=[f["item_id"] for f in suspects])
        open_ = [f for f in suspects if (cl := now.get(f["item_id"])) is not None
                 and cl.annotation_id == f["annotation_id"]]
        shown = open_[:limit]
        items = {i.id: i for i in s.scalars(select(Item).where(
            Item.id.in_([f["item_id"] for f in shown])))} if shown else {}
        out = [Suspect(f["item_id"], it.text, it.blob_key, it.image_name, it.split, f["given"],
                       f["suggested"], f["quality"], f["alternative_confidence"])
               for f in shown if (it := items.get(f["item_id"])) is not None]
    return ErrorReport(latest[0].id, status, scan.finished_at, int(result.get("n_checked", 0)),
                       len(suspects), len(suspects) - len(open_), out)


def review_item(ctx: ServiceContext, user: auth.UserPublic, project_id: int, item_id: int, *,
                action: str, labels: list[str] | str | None = None,
                request_id: str | None = None) -> AnnotationAck:
    """Answer a suspect: ``confirm`` keeps its current label, ``relabel`` gives ``labels``.

    Either way a new annotation row goes through the labelling loop (the history keeps
    the earlier label; the model is refitted on the new one), with ``meta.review``.
    """
    if action not in REVIEW_ACTIONS:
        raise InvalidRequestError(
            f"review action must be one of {', '.join(REVIEW_ACTIONS)}; got {action!r}")
    if action == "confirm":
        if labels is not None:
            raise InvalidRequestError("confirm keeps the current label: send no labels")
        with ctx.read_session() as s:
            auth.require_role(s, user, project_id)
            item = s.get(Item, item_id)
            if item is None or item.project_id != project_id:
                raise NotFoundError(f"no item {item_id} in project {project_id}")
            cur = current_labels(s, project_id, item_ids=[item_id]).get(item_id)
        if cur is None:
            raise InvalidRequestError(f"item {item_id} has no label to confirm")
        labels = cur.labels
    elif labels is None:
        raise InvalidRequestError("relabel needs the new label (or labels, multi-label)")
    return labelling.annotate(ctx, user, project_id, item_id, labels=labels,
                              request_id=request_id, meta={"review": action})
