"""Request and response models of the REST API (``XCreate`` / ``XUpdate`` / ``XPublic``)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field

from labella.api.validation import Body, Id, Text, check_meta
from labella.config import REQUEST_LIMITS as LIMITS
from labella.service.events import EventPublic
from labella.service.projects import MemberPublic, ProjectPublic
from labella.service.replies import AnnotationAck, NextItem

Username = Annotated[str, Field(min_length=1, max_length=LIMITS.max_username_chars)]
Password = Annotated[str, Field(max_length=LIMITS.max_password_chars)]
LabelName = Annotated[str, Field(min_length=1, max_length=LIMITS.max_label_chars)]
Description = Annotated[str, Field(max_length=LIMITS.max_description_chars)]
Meta = Annotated[dict[str, Any], AfterValidator(check_meta)]
RequestId = Annotated[str, Field(min_length=1, max_length=LIMITS.max_request_id_chars,
                                 description="client-chosen id; resending it is a no-op")]
ProjectSettings = Annotated[dict[str, Any], AfterValidator(lambda v: check_meta(v, "settings"))]


class TokenCreate(Body):
    username: Username
    password: Password
    name: Annotated[str, Field(max_length=200)] = "api"


class TokenPublic(BaseModel):
    id: int
    name: str
    token: str
    username: str


class UserCreate(Body):
    username: Username
    password: Password | None = None
    is_admin: bool = False


class UserUpdate(Body):
    disabled: bool | None = Field(default=None, description="a disabled user's sign-ins, "
                                  "sessions and tokens stop working at once")
    is_admin: bool | None = None


class UserPublicModel(BaseModel):
    id: int
    username: str
    is_admin: bool
    disabled: bool = False


class ProjectCreate(Body):
    name: Annotated[str, Field(min_length=1, max_length=LIMITS.max_name_chars)]
    task: Literal["text", "image"]
    multi_label: bool = False
    labels: Annotated[list[LabelName], Field(min_length=1, max_length=LIMITS.max_labels)]
    description: Description = ""
    featuriser: Annotated[str, Field(max_length=100)] | None = None
    strategy: Annotated[str, Field(max_length=100)] = "labella"
    head: Annotated[str, Field(max_length=100)] | None = None
    settings: ProjectSettings = Field(default_factory=dict)


class ProjectUpdate(Body):
    strategy: Annotated[str, Field(max_length=100)] | None = None
    head: Annotated[str, Field(max_length=100)] | None = None
    settings: ProjectSettings | None = None
    description: Description | None = None


class ProjectSummaryModel(BaseModel):
    """A project in a list: its facts and counts, not its label names or settings (see
    ``GET /api/projects/{id}``), so a list does not grow with the number of labels."""

    id: int
    name: str
    description: str
    task: str
    multi_label: bool
    n_labels: int
    featuriser: str
    head: str
    strategy: str
    created_at: datetime
    role: str | None
    n_items: int
    n_pool: int
    n_evaluation: int
    n_labeled: int
    model_version: int

    @classmethod
    def of(cls, p: ProjectPublic) -> ProjectSummaryModel:
        d = asdict(p)
        d["n_labels"] = len(d.pop("labels"))
        d.pop("settings")
        return cls(**d)


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


class MemberSet(Body):
    username: Username
    role: Literal["admin", "reviewer", "annotator"] = "annotator"


class MemberPublicModel(BaseModel):
    user_id: int
    username: str
    role: str

    @classmethod
    def of(cls, m: MemberPublic) -> MemberPublicModel:
        return cls(**asdict(m))


class EventPublicModel(BaseModel):
    """Something Labella decided by itself for the project (e.g. ``strategy_switched``)."""

    id: int
    kind: str
    message: str
    data: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, e: EventPublic) -> EventPublicModel:
        return cls(**asdict(e))


class ImportSource(Body):
    source: Text = Field(description="s3://bucket/prefix-or-file, catalogue:<name>, or (site "
                                     "admins only) a path on the server")
    text_column: Text | None = None
    label_column: Text | None = None
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
    preselect: bool = Field(default=False, description=(
        "pre-select the suggestion: its calibrated chance of being right reaches the "
        "project's preselect_threshold"))
    explanation: str = Field(default="", description="why this item, for people: \"the model "
                             "is torn between cat (48 %) and dog (46 %) · model v14\"")
    model_version: int = Field(default=0, description="the model the suggestion and the "
                               "explanation come from (reason.model_version ranked the queue)")
    top: list[tuple[str, float]] | None = Field(default=None, description="the labels the "
                                                "explanation names, with their probabilities")

    @classmethod
    def of(cls, it: NextItem, project_id: int) -> NextItemModel:
        url = f"/api/projects/{project_id}/items/{it.id}/image" if it.image_key else None
        return cls(id=it.id, text=it.text, image_url=url, image_name=it.image_name,
                   suggestion=it.suggestion, confidence=it.confidence,
                   reason=ReasonModel(**asdict(it.reason)), preselect=it.preselect,
                   explanation=it.explanation, model_version=it.model_version,
                   top=it.top)


class AnnotationCreate(Body):
    item_id: Id
    label: LabelName | None = None
    labels: Annotated[list[LabelName], Field(max_length=LIMITS.max_labels)] | None = None
    request_id: RequestId | None = None
    meta: Meta | None = Field(default=None, description=(
        f"free-form JSON kept with the annotation: at most {LIMITS.max_meta_bytes:,} bytes "
        f"and {LIMITS.max_meta_depth} levels deep"))


class ItemAction(Body):
    item_id: Id | None = None
    request_id: RequestId | None = None


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
