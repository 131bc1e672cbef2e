"""REST endpoints of the label-error review: scan, list the suspects, answer one."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from labella.api.deps import Ctx, CurrentUser
from labella.api.errors import responses
from labella.api.schemas import AckModel, JobPublic, LabelName, RequestId
from labella.api.validation import Body, PathId
from labella.config import REQUEST_LIMITS as LIMITS
from labella.service import auto_accept, review

router = APIRouter(prefix="/api")
IN_PROJECT = responses(401, 403, 404, 409, 422)


class SuspectModel(BaseModel):
    item_id: int
    text: str | None
    image_url: str | None
    image_name: str | None
    split: str
    given: list[str] = Field(description="the item's current label")
    suggested: list[str] = Field(description="the model's alternative")
    quality: float = Field(description="the model's out-of-fold probability of the given "
                                       "label (low: likely wrong)")
    alternative_confidence: float | None


class ErrorReportModel(BaseModel):
    scan_job_id: int | None = Field(description="the latest scan (any status)")
    scan_status: str | None
    scanned_at: datetime | None = Field(description="when the listed suspects were found")
    n_checked: int
    n_suspected: int
    n_answered: int
    items: list[SuspectModel]

    @classmethod
    def of(cls, r: review.ErrorReport, project_id: int) -> ErrorReportModel:
        items = []
        for it in r.items:
            d = asdict(it)
            key = d.pop("image_key")
            d["image_url"] = f"/api/projects/{project_id}/items/{it.item_id}/image" if key else None
            items.append(SuspectModel(**d))
        return cls(scan_job_id=r.scan_job_id, scan_status=r.scan_status,
                   scanned_at=r.scanned_at, n_checked=r.n_checked,
                   n_suspected=r.n_suspected, n_answered=r.n_answered, items=items)


class ReviewAnswer(Body):
    action: Literal["relabel", "confirm"]
    label: LabelName | None = None
    labels: Annotated[list[LabelName], Field(max_length=LIMITS.max_labels)] | None = None
    request_id: RequestId | None = None


@router.post("/projects/{project_id}/label-errors/scan", response_model=JobPublic,
             status_code=202, tags=["review"], responses=IN_PROJECT)
def scan(project_id: PathId, ctx: Ctx, user: CurrentUser) -> JobPublic:
    """Look for likely label errors among the current labels (confident learning on
    cross-validated predictions), as a background job."""
    return JobPublic.of(review.start_scan(ctx, user, project_id))


@router.get("/projects/{project_id}/label-errors", response_model=ErrorReportModel,
            tags=["review"], responses=IN_PROJECT)
def suspects(project_id: PathId, ctx: Ctx, user: CurrentUser,
             limit: Annotated[int, Query(ge=1, le=review.MAX_SUSPECTS)] = 50) -> ErrorReportModel:
    """The latest scan's suspected label errors not answered since, most suspicious first,
    each with its current label and the model's alternative."""
    return ErrorReportModel.of(review.suspected_errors(ctx, user, project_id, limit=limit),
                               project_id)


@router.post("/projects/{project_id}/label-errors/{item_id}", response_model=AckModel,
             tags=["review"], responses=IN_PROJECT)
def answer(project_id: PathId, item_id: PathId, body: ReviewAnswer, ctx: Ctx,
           user: CurrentUser) -> AckModel:
    """Answer a suspect: ``confirm`` its label, or ``relabel`` it (``label``, or ``labels``
    for multi-label). Either adds an annotation to the item's history."""
    labels: list[str] | str | None = body.labels if body.labels is not None else body.label
    return AckModel.of(review.review_item(ctx, user, project_id, item_id, action=body.action,
                                          labels=labels, request_id=body.request_id))


class AcceptPreviewModel(BaseModel):
    label: str
    target: float
    difficulty: dict[str, int] = Field(description="unlabelled items per band (calibrated "
                                                   "confidence: easy >= 0.9, hard < 0.6)")
    n_evaluation: int
    threshold: float | None = Field(description="null: the evaluation labels support no "
                                                "threshold for this target")
    precision: float | None
    low: float | None = Field(description="95 % Wilson interval of the measured precision")
    high: float | None
    n_measured: int
    n_would_accept: int
    model_version: int = Field(description="the model the figures come from")


class AcceptRequest(Body):
    label: LabelName
    target: float = Field(ge=0.5, lt=1)
    threshold: float = Field(gt=0, le=1, description="the threshold the preview showed")


class AcceptResultModel(BaseModel):
    batch: str | None = Field(description="for the undo; null when nothing was accepted")
    accepted: int
    label: str
    target: float
    threshold: float
    precision: float = Field(description="re-measured on the evaluation items at accept time")
    low: float
    high: float
    n_measured: int
    model_version: int
    n_labeled: int


class UndoAcceptRequest(Body):
    batch: Annotated[str, Field(min_length=1, max_length=64)]


class UndoAcceptResult(BaseModel):
    batch: str
    retracted: int
    n_labeled: int


@router.get("/projects/{project_id}/auto-accept", response_model=AcceptPreviewModel,
            tags=["review"], responses=IN_PROJECT)
def auto_accept_preview(project_id: PathId, ctx: Ctx, user: CurrentUser,
                        label: Annotated[str, Query(min_length=1,
                                                    max_length=LIMITS.max_label_chars)],
                        target: Annotated[float, Query(ge=0.5, lt=1)] = 0.95
                        ) -> AcceptPreviewModel:
    """Difficulty of the unlabelled items, and the threshold at which the model's
    suggestions of ``label`` meet ``target`` precision on the labelled evaluation items
    (with the measured precision and its interval). Read-only: ``POST`` accepts."""
    return AcceptPreviewModel(**asdict(auto_accept.preview(ctx, user, project_id, label=label,
                                                           target=target)))


@router.post("/projects/{project_id}/auto-accept", response_model=AcceptResultModel,
             tags=["review"], responses=IN_PROJECT)
def auto_accept_items(project_id: PathId, body: AcceptRequest, ctx: Ctx, user: CurrentUser
                      ) -> AcceptResultModel:
    """Accept the model's suggestion ``label`` on every unlabelled pool item at or above
    ``threshold`` (admins only). The labels are marked model-accepted (``source: model``)
    and kept out of evaluation. 409 if ``threshold`` no longer meets ``target`` on the
    evaluation items (the model changed since the preview)."""
    return AcceptResultModel(**asdict(auto_accept.accept(
        ctx, user, project_id, label=body.label, target=body.target,
        threshold=body.threshold)))


@router.post("/projects/{project_id}/auto-accept/undo", response_model=UndoAcceptResult,
             tags=["review"], responses=IN_PROJECT)
def undo_auto_accept(project_id: PathId, body: UndoAcceptRequest, ctx: Ctx,
                     user: CurrentUser) -> UndoAcceptResult:
    """Retract a batch of model-accepted labels (admins only); labels given since by
    people stand."""
    return UndoAcceptResult(**auto_accept.undo_batch(ctx, user, project_id, body.batch))
