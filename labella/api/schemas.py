"""Request and response models of the REST API (``XCreate`` / ``XUpdate`` / ``XPublic``)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from labella.service.projects import MemberPublic, ProjectPublic
from labella.service.replies import AnnotationAck, NextItem


class TokenCreate(BaseModel):
    username: str
    password: str
    name: str = "api"


class TokenPublic(BaseModel):
    id: int
    name: str
    token: str
    username: str


class UserCreate(BaseModel):
    username: str
    password: str | None = None
    is_admin: bool = False


class UserPublicModel(BaseModel):
    id: int
    username: str
    is_admin: bool


class ProjectCreate(BaseModel):
    name: str
    task: Literal["text", "image"]
    multi_label: bool = False
    labels: list[str]
    description: str = ""
    featuriser: str | None = None
    strategy: str = "labella"
    head: str | None = None
    settings: dict[str, Any] = Field(default_factory=dict)


class ProjectUpdate(BaseModel):
    strategy: str | None = None
    head: str | None = None
    settings: dict[str, Any] | None = None
    description: str | None = None


class ProjectPublicModel(BaseModel):
    id: int
    name: str
    description: str
    task: str
    multi_label: bool
    labels: list[str]
    featuriser: str
    head: str
    strategy: str
    settings: dict[str, Any]
    created_at: datetime
    role: str | None
    n_items: int
    n_pool: int
    n_evaluation: int
    n_labeled: int
    model_version: int
    refit_pending: bool = Field(False, description=(
        "true when this reply's change (e.g. new settings) is being refitted in the "
        "background: the model and the queue follow within seconds"))

    @classmethod
    def of(cls, p: ProjectPublic) -> ProjectPublicModel:
        return cls(**asdict(p))


class MemberSet(BaseModel):
    username: str
    role: Literal["admin", "annotator"] = "annotator"


class MemberPublicModel(BaseModel):
    user_id: int
    username: str
    role: str

    @classmethod
    def of(cls, m: MemberPublic) -> MemberPublicModel:
        return cls(**asdict(m))


class ImportSource(BaseModel):
    source: str = Field(description="s3://bucket/prefix-or-file, catalogue:<name>, or (site "
                                    "admins only) a path on the server")
    text_column: str | None = None
    label_column: str | None = None
    labels: Literal["all", "evaluation", "none"] = Field(
        default="all", description="which labels in the source become annotations")


class ReasonModel(BaseModel):
    strategy: str
    score: float | None
    model_version: int


class NextItemModel(BaseModel):
    id: int
    text: str | None
    image_url: str | None
    image_name: str | None
    suggestion: list[str] | None
    confidence: float | None
    reason: ReasonModel

    @classmethod
    def of(cls, it: NextItem, project_id: int) -> NextItemModel:
        url = f"/api/projects/{project_id}/items/{it.id}/image" if it.image_key else None
        return cls(id=it.id, text=it.text, image_url=url, image_name=it.image_name,
                   suggestion=it.suggestion, confidence=it.confidence,
                   reason=ReasonModel(**asdict(it.reason)))


class AnnotationCreate(BaseModel):
    item_id: int
    label: str | None = None
    labels: list[str] | None = None
    request_id: str | None = Field(default=None, max_length=100,
                                   description="client-chosen id; resending it is a no-op")
    meta: dict[str, Any] | None = None


class ItemAction(BaseModel):
    item_id: int | None = None
    request_id: str | None = Field(default=None, max_length=100)


class AckModel(BaseModel):
    annotation_id: int
    item_id: int
    action: str
    labels: list[str] | None
    n_labeled: int
    model_version: int
    duplicate: bool

    @classmethod
    def of(cls, a: AnnotationAck) -> AckModel:
        return cls(**asdict(a))


class JobPublic(BaseModel):
    id: int
    project_id: int | None
    kind: str
    status: str
    progress: float | None
    done: int
    total: int | None
    message: str | None
    eta_seconds: float | None
    error: str | None
    result: dict[str, Any] | None
    log_tail: list[str]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, j: Any) -> JobPublic:
        return cls(id=j.id, project_id=j.project_id, kind=j.kind, status=j.status,
                   progress=j.progress, done=j.done, total=j.total, message=j.message,
                   eta_seconds=j.eta_seconds, error=j.error, result=j.result,
                   log_tail=list(j.log_tail), created_at=j.created_at, started_at=j.started_at,
                   finished_at=j.finished_at)
