"""A project's history of what Labella decided by itself (e.g. the audit's strategy switch)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from labella.service import auth
from labella.store.events import ProjectEvent

if TYPE_CHECKING:
    from labella.service.context import ServiceContext

MAX_EVENTS = 200


@dataclass(frozen=True)
class EventPublic:
    id: int
    kind: str
    message: str
    data: dict[str, Any]
    created_at: datetime


def list_events(ctx: ServiceContext, user: auth.UserPublic, project_id: int
                ) -> list[EventPublic]:
    """The project's events, newest first (at most :data:`MAX_EVENTS`)."""
    with ctx.read_session() as s:
        auth.require_role(s, user, project_id)
        rows = s.scalars(select(ProjectEvent).where(ProjectEvent.project_id == project_id)
                         .order_by(ProjectEvent.id.desc()).limit(MAX_EVENTS))
        return [EventPublic(e.id, e.kind, e.message, dict(e.data or {}), e.created_at)
                for e in rows]
