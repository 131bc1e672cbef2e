"""Similarity search endpoints: "more like this", text search by meaning, and acting on the
results (bulk label, queue for me). Each parses, calls one service function and renders."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from labella.api.deps import Ctx, CurrentUser
from labella.api.errors import responses
from labella.api.schemas import AckModel, LabelName, RequestId
from labella.api.validation import Body, Id, PathId, no_nul
from labella.config import REQUEST_LIMITS as LIMITS
from labella.service import similar
from labella.service.errors import InvalidRequestError

router = APIRouter(prefix="/api", tags=["search"])
IN_PROJECT = responses(401, 403, 404, 409, 422)

K = Annotated[int, Query(ge=1, le=similar.MAX_K, description="how many results")]
UnlabelledOnly = Annotated[bool, Query(description="leave labelled items out")]
ItemIds = Annotated[list[Id], Field(min_length=1, max_length=similar.MAX_BULK)]


class HitModel(BaseModel):
    id: int
    score: float = Field(description="cosine similarity to the query (1: same direction)")
    text: str | None
    image_url: str | None
    image_name: str | None
    labels: list[str] | None = Field(description="the current label; null: unlabelled")
    prediction: list[str] | None
    confidence: float | None


class SearchResultModel(BaseModel):
    hits: list[HitModel]
    method: str = Field(description="exact, or the approximate index's library")
    note: str | None = Field(description="why a large pool was searched exactly, if it was")
    n_searched: int = Field(description="how many pool items were candidates")

    @classmethod
    def of(cls, r: similar.SearchResult, project_id: int) -> SearchResultModel:
        hits = []
        for h in r.hits:
            d = asdict(h)
            key = d.pop("image_key")
            d["image_url"] = f"/api/projects/{project_id}/items/{h.id}/image" if key else None
            hits.append(HitModel(**d))
        return cls(hits=hits, method=r.method, note=r.note, n_searched=r.n_searched)


class BulkLabel(Body):
    item_ids: ItemIds
    label: LabelName | None = None
    labels: Annotated[list[LabelName], Field(max_length=LIMITS.max_labels)] | None = None
    request_id: RequestId | None = None


class BulkLabelResult(BaseModel):
    labelled: int = Field(description="new annotations (a resent request id adds none)")
    acks: list[AckModel]


class QueueAdd(Body):
    item_ids: ItemIds


class QueueModel(BaseModel):
    item_ids: list[int] = Field(description="your queued items, in the order next serves them")


@router.get("/projects/{project_id}/items/{item_id}/similar", response_model=SearchResultModel,
            responses=IN_PROJECT)
def more_like_this(project_id: PathId, item_id: PathId, ctx: Ctx, user: CurrentUser,
                   k: K = 10, unlabelled_only: UnlabelledOnly = False) -> SearchResultModel:
    """The pool items most like this item (any embedded item of the project), most similar
    first; the item itself is left out."""
    return SearchResultModel.of(similar.similar_to_item(
        ctx, user, project_id, item_id, k=k, unlabelled_only=unlabelled_only), project_id)


@router.get("/projects/{project_id}/search", response_model=SearchResultModel,
            responses=IN_PROJECT)
def search(project_id: PathId, ctx: Ctx, user: CurrentUser,
           q: Annotated[str, Query(min_length=1, max_length=LIMITS.max_text_chars,
                                   description="text to search for by meaning")],
           k: K = 10, unlabelled_only: UnlabelledOnly = False) -> SearchResultModel:
    """Pool items closest in meaning to ``q``, embedded with the project's featuriser (text
    projects only)."""
    no_nul(q, "q")
    return SearchResultModel.of(similar.search_text(
        ctx, user, project_id, q, k=k, unlabelled_only=unlabelled_only), project_id)


@router.post("/projects/{project_id}/bulk-label", response_model=BulkLabelResult,
             responses=IN_PROJECT)
def bulk_label(project_id: PathId, body: BulkLabel, ctx: Ctx, user: CurrentUser
               ) -> BulkLabelResult:
    """Give several items the same label (one annotation each, by you). Every id is checked
    first: an unknown one labels nothing."""
    labels = body.labels if body.labels is not None else body.label
    if labels is None:
        raise InvalidRequestError("give the label (single-label) or labels (multi-label)")
    res = similar.label_items(ctx, user, project_id, body.item_ids, labels=labels,
                              request_id=body.request_id)
    return BulkLabelResult(labelled=res.labelled, acks=[AckModel.of(a) for a in res.acks])


@router.post("/projects/{project_id}/queue", response_model=QueueModel, responses=IN_PROJECT)
def queue_add(project_id: PathId, body: QueueAdd, ctx: Ctx, user: CurrentUser) -> QueueModel:
    """Put items at the front of your own queue: your next ``next`` serves them first
    (while unlabelled and not held by another annotator). Kept in the server's memory."""
    return QueueModel(item_ids=similar.queue_items(ctx, user, project_id, body.item_ids))


@router.get("/projects/{project_id}/queue", response_model=QueueModel, responses=IN_PROJECT)
def queue_list(project_id: PathId, ctx: Ctx, user: CurrentUser) -> QueueModel:
    """Your queued items, in the order ``next`` serves them."""
    return QueueModel(item_ids=similar.queued(ctx, user, project_id))


@router.delete("/projects/{project_id}/queue", response_model=QueueModel, responses=IN_PROJECT)
def queue_clear(project_id: PathId, ctx: Ctx, user: CurrentUser) -> QueueModel:
    """Empty your queue (the items stay in the pool)."""
    similar.clear_queue(ctx, user, project_id)
    return QueueModel(item_ids=[])
