"""The data browser: a project's items, filtered by label, prediction, confidence,
annotator, split, label source (people or model-accepted), difficulty and region of the
data map, a page at a time.

Current labels come from the annotation history; predictions and confidences
from the loop's current model (pool items only; evaluation items are scored by
the same model on demand).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
from sqlalchemy import select

from labella.service import auth, auto_accept
from labella.service.errors import InvalidRequestError
from labella.service.labels import current_labels
from labella.store.items import Item
from labella.store.users import User

if TYPE_CHECKING:
    from labella.service.context import ServiceContext

MAX_LIMIT = 500
UNLABELED = "__unlabeled__"
"""``label`` filter value for items without a label."""


@dataclass(frozen=True)
class ItemRow:
    id: int
    text: str | None
    image_url: str | None
    image_name: str | None
    split: str
    labels: list[str] | None
    annotator: str | None
    prediction: list[str] | None
    confidence: float | None
    consensus_confidence: float | None = None
    """The label's consensus confidence (1 for a single answer); ``None``: unlabelled."""
    n_answers: int = 0
    """Annotators' standing answers behind the label."""
    source: str | None = None
    """Where the current label came from: ``human``, ``import`` or ``model`` (accepted
    from the model's suggestion, :mod:`labella.service.auto_accept`); ``None`` unlabelled."""
    difficulty: str | None = None
    """Unlabelled pool items: ``easy`` / ``medium`` / ``hard`` from the current model's
    calibrated confidence (:func:`labella.al.auto_accept.difficulty`)."""


SOURCES = ("human", "import", "review", "model")
DIFFICULTIES = ("easy", "medium", "hard")


@dataclass(frozen=True)
class ItemPage:
    items: list[ItemRow]
    total: int
    offset: int
    limit: int


def list_items(ctx: ServiceContext, user: auth.UserPublic, project_id: int, *,
               label: str | None = None, prediction: str | None = None,
               min_confidence: float | None = None, max_confidence: float | None = None,
               annotator: str | None = None, split: str | None = None, q: str | None = None,
               source: str | None = None, difficulty: str | None = None,
               region: str | None = None, sort: Literal["id", "confidence", "-confidence"] = "id",
               offset: int = 0, limit: int = 50) -> ItemPage:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequestError(f"limit must be between 1 and {MAX_LIMIT}; got {limit}")
    if offset < 0:
        raise InvalidRequestError(f"offset must be >= 0; got {offset}")
    if split not in (None, "pool", "evaluation"):
        raise InvalidRequestError(f"split must be pool or evaluation; got {split!r}")
    if source not in (None, *SOURCES):
        raise InvalidRequestError(f"source must be one of {', '.join(SOURCES)}; got {source!r}")
    if difficulty not in (None, *DIFFICULTIES):
        raise InvalidRequestError(
            f"difficulty must be one of {', '.join(DIFFICULTIES)}; got {difficulty!r}")
    polygon = None
    if region:
        from labella.service.datamap import parse_region

        polygon = parse_region(region)
    with ctx.sessions() as s:
        auth.require_role(s, user, project_id)
        rows = s.execute(select(Item.id, Item.split, Item.text).where(Item.project_id == project_id)
                         .order_by(Item.id)).all()
        labels = current_labels(s, project_id, proba_for=ctx.loops.proba_for(project_id))
        users = dict(s.execute(select(User.id, User.username)).all())
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    keep = np.ones(len(ids), dtype=bool)
    if split:
        keep &= np.array([r[1] == split for r in rows], dtype=bool)
    if polygon is not None:
        from labella.service.datamap import items_in_region

        keep &= np.isin(ids, items_in_region(ctx, project_id, polygon))
    if q:
        needle = q.lower()
        keep &= np.array([needle in (r[2] or "").lower() for r in rows], dtype=bool)
    if label is not None:
        keep &= np.array([(i not in labels) if label == UNLABELED
                          else (i in labels and label in labels[i].labels) for i in ids.tolist()],
                         dtype=bool)
    if annotator is not None:
        keep &= np.array([i in labels and users.get(labels[i].user_id or -1) == annotator
                          for i in ids.tolist()], dtype=bool)
    if source is not None:
        keep &= np.array([i in labels and labels[i].source == source for i in ids.tolist()],
                         dtype=bool)
    band_ids, bands = auto_accept.difficulty_bands(ctx, project_id)
    band = dict(zip(band_ids.tolist(), bands.tolist(), strict=True))
    if difficulty is not None:
        keep &= np.array([band.get(i) == difficulty for i in ids.tolist()], dtype=bool)
    pred, conf = predictions(ctx, project_id, ids)
    if prediction is not None:
        keep &= np.array([p is not None and prediction in p for p in pred], dtype=bool)
    if min_confidence is not None:
        keep &= np.nan_to_num(conf, nan=-1.0) >= min_confidence
    if max_confidence is not None:
        keep &= np.nan_to_num(conf, nan=2.0) <= max_confidence
    sel = np.flatnonzero(keep)
    if sort != "id":
        key = np.nan_to_num(conf[sel], nan=np.inf if sort == "confidence" else -np.inf)
        sel = sel[np.argsort(key if sort == "confidence" else -key, kind="stable")]
    page = sel[offset:offset + limit]
    page_ids = ids[page].tolist()
    with ctx.sessions() as s:
        items = {it.id: it for it in s.scalars(select(Item).where(Item.id.in_(page_ids)))}
    out = []
    for pos, iid in zip(page.tolist(), page_ids, strict=True):
        it, cur = items[iid], labels.get(iid)
        out.append(ItemRow(
            iid, it.text,
            f"/api/projects/{project_id}/items/{iid}/image" if it.blob_key else None,
            it.image_name, it.split, cur.labels if cur else None,
            users.get(cur.user_id) if cur and cur.user_id else None,
            pred[pos], None if np.isnan(conf[pos]) else float(conf[pos]),
            cur.confidence if cur else None, cur.n_answers if cur else 0,
            cur.source if cur else None, None if cur else band.get(iid)))
    return ItemPage(out, len(sel), offset, limit)


def predictions(ctx: ServiceContext, project_id: int, ids: np.ndarray
                 ) -> tuple[list[list[str] | None], np.ndarray]:
    """The current model's suggestion and confidence for each of ``ids`` (sorted item ids;
    ``None`` / NaN where there is none)."""
    st = ctx.loops.state(project_id)
    pred: list[list[str] | None] = [None] * len(ids)
    conf = np.full(len(ids), np.nan)
    with st.lock:
        head, proba = st.head, st.proba
        pool_ids, eval_ids, X_eval = st.index.item_ids, st.eval_index.item_ids, st.X_eval
    if head is None or proba is None or not len(ids):
        return pred, conf
    for where, p in ((pool_ids, proba), (eval_ids, head.predict_proba(X_eval) if len(eval_ids)
                                         else None)):
        if p is None or not len(where):
            continue
        pos = np.minimum(np.searchsorted(ids, where), len(ids) - 1)
        asked = ids[pos] == where
        names = st.task.from_prediction(p, st.label_names)
        c = st.task.confidence(p)
        for k, i in zip(np.flatnonzero(asked).tolist(), pos[asked].tolist(), strict=True):
            pred[i] = names[k]
            conf[i] = c[k]
    return pred, conf
