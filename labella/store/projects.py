"""Projects and their members (aggregate: a project's definition)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from labella.store.base import Base, utcnow

ROLES = ("admin", "reviewer", "annotator")
"""Project roles, highest first: each role may do everything the ones after it may."""


class Project(Base):
    """A labelling project.

    ``labels`` is the ordered label set (class index = position). ``settings`` holds
    the loop's knobs (batch size, exploration rate, cold start, ...), see
    :mod:`labella.service.projects`.
    """

    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    task: Mapped[str] = mapped_column(String(20))
    multi_label: Mapped[bool] = mapped_column(default=False)
    labels: Mapped[list[str]] = mapped_column(default=list)
    featuriser: Mapped[str] = mapped_column(String(200))
    head: Mapped[str] = mapped_column(String(100))
    strategy: Mapped[str] = mapped_column(String(100))
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Member(Base):
    __tablename__ = "project_members"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(20))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
