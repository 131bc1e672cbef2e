"""Use-cases of the labelling view: next items, annotate, skip, undo, an item's history.

Each function checks the caller's role, then delegates to the loop
(:mod:`labella.service.loop`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from labella.service import auth
from labella.service.errors import InvalidRequestError, NotFoundError
from labella.service.replies import AnnotationAck, NextItem
from labella.store.annotations import Annotation
from labella.store.items import Item
from labella.store.projects import Project
from labella.store.users import User
from labella.tasks import get_task

if TYPE_CHECKING:
    from labella.service.context import ServiceContext


def next_items(ctx: ServiceContext, user: auth.UserPublic, project_id: int, n: int = 1
               ) -> list[NextItem]:
    with ctx.read_session() as s:
        auth.require_role(s, user, project_id)
        return ctx.loops.next_items(s, project_id, user.id, n)


def annotate(ctx: ServiceContext, user: auth.UserPublic, project_id: int, item_id: int, *,
             labels: list[str] | str | None, request_id: str | None = None,
             meta: dict[str, Any] | None = None, source: str = "human") -> AnnotationAck:
    """Label an item (``labels``: one name for single-label, a list for multi-label).

    ``source="review"`` is a reviewer's final label (it needs the reviewer role)."""
    if labels is None:
        raise InvalidRequestError("give the label (single-label) or labels (multi-label)")
    with ctx.read_session() as s:
        auth.require_role(s, user, project_id, "reviewer" if source == "review" else "annotator")
        project = s.get(Project, project_id)
        assert project is not None  # require_role checked it exists
        task = get_task(project.task, project.multi_label)
        value = task.validate([labels] if isinstance(labels, str) else list(labels), project.labels)
    with ctx.sessions() as s:  # no transaction open: the loop commits its own
        return ctx.loops.annotate(s, project_id, user.id, item_id, action="label", labels=value,
                                  request_id=request_id, meta=meta, source=source)


def skip(ctx: ServiceContext, user: auth.UserPublic, project_id: int, item_id: int, *,
         request_id: str | None = None) -> AnnotationAck:
    with ctx.read_session() as s:
        auth.require_role(s, user, project_id)
    with ctx.sessions() as s:  # no transaction open: the loop commits its own
        return ctx.loops.annotate(s, project_id, user.id, item_id, action="skip",
                                  request_id=request_id)


def undo(ctx: ServiceContext, user: auth.UserPublic, project_id: int, item_id: int | None = None,
         *, request_id: str | None = None) -> AnnotationAck:
    """Retract the caller's label on ``item_id`` (default: their most recent label or skip)."""
    with ctx.session() as s:
        auth.require_role(s, user, project_id)
        if item_id is None:
            last = s.scalar(select(Annotation).where(
                Annotation.project_id == project_id, Annotation.user_id == user.id,
                Annotation.action.in_(("label", "skip", "undo")))
                .order_by(Annotation.id.desc()).limit(1))
            if last is None or last.action == "undo":
                raise InvalidRequestError("nothing to undo")
            item_id = last.item_id
    with ctx.sessions() as s:  # no transaction open: the loop commits its own
        return ctx.loops.annotate(s, project_id, user.id, item_id, action="undo",
                                  request_id=request_id)


@dataclass(frozen=True)
class HistoryEntry:
    id: int
    action: str
    labels: list[str] | None
    user: str | None
    source: str
    created_at: datetime
    model_version: int | None
    suggestion: list[str] | None


@dataclass(frozen=True)
class ItemDetail:
    id: int
    project_id: int
    text: str | None
    image_key: str | None
    image_name: str | None
    external_id: str | None
    split: str
    meta: dict[str, Any]
    labels: list[str] | None
    history: list[HistoryEntry]
    consensus_confidence: float | None = None
    """The label's consensus confidence (vote share or Dawid–Skene posterior; 1 for a single
    answer or a review decision); ``None`` when unlabelled."""
    n_answers: int = 0
    """Annotators' standing answers behind the label."""
    label_source: str | None = None
    """Where the current label came from (``model``: accepted from the model's suggestion)."""


def get_item(ctx: ServiceContext, user: auth.UserPublic, project_id: int, item_id: int) -> ItemDetail:
    from labella.service.labels import current_labels

    with ctx.sessions() as s:
        auth.require_role(s, user, project_id)
        item = s.get(Item, item_id)
        if item is None or item.project_id != project_id:
            raise NotFoundError(f"no item {item_id} in project {project_id}")
        rows = s.execute(select(Annotation, User.username).outerjoin(User, User.id == Annotation.user_id)
                         .where(Annotation.item_id == item_id).order_by(Annotation.id)).all()
        cur = current_labels(s, project_id, item_ids=[item_id],
                             proba_for=ctx.loops.proba_for(project_id)).get(item_id)
        hist = [HistoryEntry(a.id, a.action, a.value, name, a.source, a.created_at, a.model_version,
                             a.suggestion) for a, name in rows]
        return ItemDetail(item.id, project_id, item.text, item.blob_key, item.image_name,
                          item.external_id, item.split, dict(item.meta or {}),
                          cur.labels if cur else None, hist,
                          cur.confidence if cur else None, cur.n_answers if cur else 0,
                          cur.source if cur else None)


def image_bytes(ctx: ServiceContext, user: auth.UserPublic, project_id: int, item_id: int
                ) -> tuple[bytes, str]:
    """An image item's bytes and media type."""
    import mimetypes

    with ctx.sessions() as s:
        auth.require_role(s, user, project_id)
        item = s.get(Item, item_id)
        if item is None or item.project_id != project_id or not item.blob_key:
            raise NotFoundError(f"no image item {item_id} in project {project_id}")
        key, name = item.blob_key, item.image_name or item.blob_key
    media = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return ctx.blobs.get(key), media
