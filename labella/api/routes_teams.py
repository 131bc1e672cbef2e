"""Team endpoints: agreement between a project's annotators, the disagreement review
queue, and dataset versions."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from labella.api.deps import Ctx, CurrentUser
from labella.api.errors import responses
from labella.api.schemas import AckModel, LabelName, RequestId
from labella.api.validation import Body, PathId
from labella.config import REQUEST_LIMITS as LIMITS
from labella.service import agreement, disagreements, versions

router = APIRouter(prefix="/api")
IN_PROJECT = responses(401, 403, 404, 409, 422)
VersionName = Annotated[str, Path(min_length=1, max_length=100,
                                  description="a version's name")]


@router.get("/projects/{project_id}/agreement", tags=["teams"], responses=IN_PROJECT)
def project_agreement(project_id: PathId, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    """Agreement between the project's annotators: Krippendorff's alpha (nominal; per label
    for multi-label), pairwise Cohen's kappa, and per annotator their labels, median seconds
    per label and agreement with the majority-vote consensus, each with the number of items
    behind it."""
    return agreement.project_agreement(ctx, user, project_id)


# -- the disagreement review queue -------------------------------------------------------


class AnswerModel(BaseModel):
    user_id: int
    username: str
    labels: list[str]
    annotation_id: int
    annotated_at: datetime | None


class DisagreementModel(BaseModel):
    item_id: int
    text: str | None
    image_url: str | None
    image_name: str | None
    split: str
    answers: list[AnswerModel] = Field(description="each annotator's standing answer")
    consensus: list[str] = Field(description="the majority vote (ties: the label listed "
                                             "first in the project)")
    consensus_share: float
    reviewed: list[str] | None = Field(description="an earlier review's label, when the item "
                                                   "reopened since")


class QueueModel(BaseModel):
    n_open: int
    n_reviewed: int
    items: list[DisagreementModel]


class Resolution(Body):
    label: LabelName | None = None
    labels: Annotated[list[LabelName], Field(max_length=LIMITS.max_labels)] | None = None
    request_id: RequestId | None = None


@router.get("/projects/{project_id}/disagreements", response_model=QueueModel,
            tags=["teams"], responses=IN_PROJECT)
def list_disagreements(project_id: PathId, ctx: Ctx, user: CurrentUser,
                       limit: Annotated[int, Query(ge=1, le=disagreements.MAX_LIMIT)] = 50
                       ) -> QueueModel:
    """Items whose annotators' answers disagree and no reviewer has resolved since
    (reviewers and admins), each with every annotator's answer and the majority vote."""
    q = disagreements.disagreements(ctx, user, project_id, limit=limit)
    items = []
    for d in q.items:
        row = asdict(d)
        key = row.pop("image_key")
        row["image_url"] = f"/api/projects/{project_id}/items/{d.item_id}/image" if key else None
        items.append(DisagreementModel(**row))
    return QueueModel(n_open=q.n_open, n_reviewed=q.n_reviewed, items=items)


@router.post("/projects/{project_id}/items/{item_id}/resolve", response_model=AckModel,
             tags=["teams"], responses=IN_PROJECT)
def resolve(project_id: PathId, item_id: PathId, body: Resolution, ctx: Ctx,
            user: CurrentUser) -> AckModel:
    """The item's final label (reviewers and admins; ``label``, or ``labels`` for
    multi-label): an annotation with ``source="review"`` that wins over the annotators'
    answers. The item leaves the disagreement queue."""
    labels: list[str] | str | None = body.labels if body.labels is not None else body.label
    return AckModel.of(disagreements.resolve(ctx, user, project_id, item_id, labels=labels,
                                             request_id=body.request_id))


# -- dataset versions --------------------------------------------------------------------


class VersionModel(BaseModel):
    name: str
    note: str
    model_version: int | None = Field(description="the newest model version when frozen")
    n_labels: int
    created_by: str | None
    created_at: datetime
    label_counts: dict[str, int]


class FreezeBody(Body):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    note: Annotated[str, Field(max_length=2000)] = ""


class DiffModel(BaseModel):
    a: str
    b: str
    n_added: int
    n_changed: int
    n_removed: int
    n_unchanged: int
    transitions: dict[str, int] = Field(description='"old -> new" -> items')
    added: list[dict[str, Any]]
    changed: list[dict[str, Any]]
    removed: list[dict[str, Any]]


@router.post("/projects/{project_id}/versions", response_model=VersionModel, status_code=201,
             tags=["teams"], responses=IN_PROJECT)
def freeze(project_id: PathId, body: FreezeBody, ctx: Ctx, user: CurrentUser) -> VersionModel:
    """Freeze a dataset version (reviewers and admins): every labelled item's current label
    and the current model version, under a new name; it never changes afterwards."""
    return VersionModel(**asdict(versions.freeze(ctx, user, project_id, body.name,
                                                 note=body.note)))


@router.get("/projects/{project_id}/versions", response_model=list[VersionModel],
            tags=["teams"], responses=IN_PROJECT)
def list_versions(project_id: PathId, ctx: Ctx, user: CurrentUser) -> list[VersionModel]:
    """The project's dataset versions, oldest first."""
    return [VersionModel(**asdict(v)) for v in versions.list_versions(ctx, user, project_id)]


@router.get("/projects/{project_id}/versions/{name}/diff", response_model=DiffModel,
            tags=["teams"], responses=IN_PROJECT)
def diff(project_id: PathId, name: VersionName, ctx: Ctx, user: CurrentUser,
         against: Annotated[str, Query(min_length=1, max_length=100,
                                       description="another version, or 'now'")] = versions.NOW,
         limit: Annotated[int, Query(ge=0, le=10_000)] = 100) -> DiffModel:
    """What changed from version ``name`` to ``against`` (default: the labels now): added,
    changed (with the old and new labels) and removed labels, with counts."""
    return DiffModel(**asdict(versions.diff(ctx, user, project_id, name, against, limit=limit)))
