"""Similarity search use-cases: "more like this", text search by meaning, and acting on
the results (label them in bulk, or queue them for the caller's next items).

Searches run over the project's labelling pool (the items the loop has embedded);
the query can be any embedded item of the project, held-out ones included, or a text
embedded with the project's own featuriser. Results name whether each item is
labelled already, and can leave labelled items out. The nearest-neighbour work is in
:mod:`labella.service.simindex` (exact below 200 000 items, an ANN index above).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import select

from labella.al.types import labeled_mask
from labella.errors import LabellaError
from labella.service import auth
from labella.service.errors import InvalidRequestError, NotFoundError
from labella.service.labels import current_labels
from labella.service.replies import AnnotationAck
from labella.service.simindex import Found, PoolView
from labella.store.items import Item
from labella.store.projects import Project
from labella.tasks import get_task

if TYPE_CHECKING:
    from labella.service.context import ServiceContext

MAX_K = 500
"""The most results one search returns."""
MAX_BULK = 1000
"""The most items one bulk label or queue request takes."""


@dataclass(frozen=True)
class Hit:
    """One result: the item, its similarity to the query, its current label (``None``:
    unlabelled) and the model's prediction."""

    id: int
    score: float
    text: str | None
    image_key: str | None
    image_name: str | None
    labels: list[str] | None
    prediction: list[str] | None
    confidence: float | None


@dataclass(frozen=True)
class SearchResult:
    hits: list[Hit]
    method: str
    """``exact`` or the ANN library that answered."""
    note: str | None
    """Why a large pool was searched exactly, when it was."""
    n_searched: int
    """How many pool items were candidates."""


@dataclass(frozen=True)
class BulkResult:
    labelled: int
    acks: list[AnnotationAck]


def _check_k(k: int) -> None:
    if not 1 <= k <= MAX_K:
        raise InvalidRequestError(f"k must be between 1 and {MAX_K}; got {k}")


def similar_to_item(ctx: ServiceContext, user: auth.UserPublic, project_id: int, item_id: int,
                    *, k: int = 10, unlabelled_only: bool = False) -> SearchResult:
    """The ``k`` pool items most like item ``item_id`` (the item itself left out)."""
    _check_k(k)
    with ctx.read_session() as s:
        auth.require_role(s, user, project_id)
        item = s.get(Item, item_id)
        if item is None or item.project_id != project_id:
            raise NotFoundError(f"no item {item_id} in project {project_id}")
    with ctx.loops.current(project_id) as st:
        row = st.index.row(item_id)
        if row is not None:
            query = st.X[row].copy()
        elif (erow := st.eval_index.row(item_id)) is not None:
            query = st.X_eval[erow].copy()
        else:
            raise InvalidRequestError(f"item {item_id} has no embedding yet (featurising is "
                                      "still running, or failed for it): nothing to compare")
    return _search(ctx, project_id, query, k, unlabelled_only=unlabelled_only, exclude=item_id)


def search_text(ctx: ServiceContext, user: auth.UserPublic, project_id: int, text: str, *,
                k: int = 10, unlabelled_only: bool = False) -> SearchResult:
    """The ``k`` pool items closest in meaning to ``text`` (embedded with the project's
    featuriser, the one its items were embedded with)."""
    _check_k(k)
    if not text.strip():
        raise InvalidRequestError("give the text to search for")
    with ctx.read_session() as s:
        auth.require_role(s, user, project_id)
        project = s.get(Project, project_id)
        if project is None:
            raise NotFoundError(f"no project with id {project_id}")
        if project.task != "text":
            raise InvalidRequestError(
                f"text search needs a text project; this one's items are {project.task}s "
                "(its featuriser cannot embed text): use 'more like this' from an item")
        featuriser = ctx.project_featuriser(project)
    st = ctx.loops.state(project_id)
    try:
        key = featuriser.key
    except LabellaError as exc:  # e.g. a corpus-fitted featuriser not fitted in this process
        raise InvalidRequestError(f"the project's featuriser cannot embed a query here: {exc}"
                                  ) from exc
    if key != st.featuriser_key:
        raise InvalidRequestError(
            f"the project's items were embedded with {st.featuriser_key}, but its featuriser "
            f"now gives {key}: re-featurise the project before searching by text")
    query = featuriser.embed([text])[0]
    return _search(ctx, project_id, query, k, unlabelled_only=unlabelled_only, exclude=None)


def _search(ctx: ServiceContext, project_id: int, query: np.ndarray, k: int, *,
            unlabelled_only: bool, exclude: int | None) -> SearchResult:
    with ctx.loops.current(project_id) as st:
        view = PoolView(project_id, st.featuriser_key, st.index, st.X)
        labelled = labeled_mask(st.y).copy()
        proba = st.proba
        task, names = st.task, st.label_names
    allowed = ~labelled if unlabelled_only else np.ones(len(view.index), dtype=bool)
    if exclude is not None and (row := view.index.row(exclude)) is not None:
        allowed[row] = False
    found: Found = ctx.similar.search(view, query, k, allowed=allowed)
    ids = [int(i) for i in found.item_ids]
    rows = view.index.rows(ids) if ids else np.zeros(0, dtype=np.int64)
    preds: list[list[str] | None] = [None] * len(ids)
    confs: list[float | None] = [None] * len(ids)
    if proba is not None and len(rows) and len(proba) == len(view.index):
        preds = list(task.from_prediction(proba[rows], names))
        confs = [float(c) for c in task.confidence(proba[rows])]
    with ctx.read_session() as s:
        items = {r[0]: r for r in s.execute(
            select(Item.id, Item.text, Item.blob_key, Item.image_name)
            .where(Item.id.in_(ids))).all()} if ids else {}
        labels = current_labels(s, project_id, item_ids=ids) if ids else {}
    hits = []
    for item_id, score, pred, conf in zip(ids, found.scores.tolist(), preds, confs, strict=True):
        it = items.get(item_id)
        if it is None:  # deleted meanwhile
            continue
        cur = labels.get(item_id)
        hits.append(Hit(item_id, float(score), it[1], it[2], it[3],
                        cur.labels if cur else None, pred, conf))
    return SearchResult(hits, found.method, found.note, int(allowed.sum()))


def _check_items(ctx: ServiceContext, project_id: int, item_ids: list[int]) -> list[int]:
    """``item_ids`` deduplicated (order kept), each checked to be an item of the project."""
    ids = list(dict.fromkeys(int(i) for i in item_ids))
    if not ids:
        raise InvalidRequestError("give at least one item id")
    if len(ids) > MAX_BULK:
        raise InvalidRequestError(f"at most {MAX_BULK} items at once; got {len(ids)}")
    with ctx.read_session() as s:
        have = set(s.scalars(select(Item.id).where(Item.project_id == project_id,
                                                   Item.id.in_(ids))))
    missing = [i for i in ids if i not in have]
    if missing:
        raise NotFoundError(f"no item {missing[0]} in project {project_id}"
                            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    return ids


def label_items(ctx: ServiceContext, user: auth.UserPublic, project_id: int,
                item_ids: list[int], *, labels: list[str] | str,
                request_id: str | None = None) -> BulkResult:
    """Give every item of ``item_ids`` the same label (each one an annotation of the
    caller, durable before this returns). Every id is checked first: an unknown one
    labels nothing. ``request_id``: resending it labels nothing twice."""
    with ctx.read_session() as s:
        auth.require_role(s, user, project_id)
        project = s.get(Project, project_id)
        if project is None:
            raise NotFoundError(f"no project with id {project_id}")
        task = get_task(project.task, project.multi_label)
        value = task.validate([labels] if isinstance(labels, str) else list(labels),
                              project.labels)
    ids = _check_items(ctx, project_id, item_ids)
    acks = []
    for item_id in ids:
        rid = f"{request_id}:{item_id}" if request_id else None
        with ctx.sessions() as s:  # no transaction open: the loop commits its own
            acks.append(ctx.loops.annotate(s, project_id, user.id, item_id, action="label",
                                           labels=value, request_id=rid,
                                           meta={"via": "similarity search"}))
    return BulkResult(sum(not a.duplicate for a in acks), acks)


def queue_items(ctx: ServiceContext, user: auth.UserPublic, project_id: int,
                item_ids: list[int]) -> list[int]:
    """Put items at the front of the caller's own queue: their next ``next`` serves them
    first (while unlabelled and not held by another annotator). Returns the caller's
    queued item ids, in order. Only items in the labelling pool can be queued."""
    with ctx.read_session() as s:
        auth.require_role(s, user, project_id)
    ids = _check_items(ctx, project_id, item_ids)
    with ctx.loops.current(project_id) as cur:
        not_pool = [i for i in ids if cur.index.row(i) is None]
    if not_pool:
        raise InvalidRequestError(
            f"item {not_pool[0]} is not in the labelling pool (held out for evaluation, or "
            "not featurised yet): it cannot be queued")
    return ctx.loops.pins.add(project_id, user.id, ids)


def queued(ctx: ServiceContext, user: auth.UserPublic, project_id: int) -> list[int]:
    """The caller's queued item ids, in the order ``next`` serves them."""
    with ctx.read_session() as s:
        auth.require_role(s, user, project_id)
    return ctx.loops.pins.get(project_id, user.id)


def clear_queue(ctx: ServiceContext, user: auth.UserPublic, project_id: int) -> int:
    """Empty the caller's queue; returns how many items it held."""
    with ctx.read_session() as s:
        auth.require_role(s, user, project_id)
    return ctx.loops.pins.clear(project_id, user.id)
