"""Annotations: the append-only record of what each annotator did to each item.

Rows are never updated or deleted: a relabel adds a ``label`` row, an undo adds
an ``undo`` row, a skip adds a ``skip`` row. The history is the label's version
record; an item's current label is derived (see
:mod:`labella.service.labels`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from labella.store.base import Base, utcnow

ACTIONS = ("label", "skip", "undo")
SOURCES = ("human", "import", "review")
"""``review``: a reviewer's final label for an item whose annotators disagreed."""


class Annotation(Base):
    __tablename__ = "annotations"
    __table_args__ = (
        UniqueConstraint("user_id", "request_id"),
        Index("ix_annotations_project_id_id", "project_id", "id"),
        Index("ix_annotations_item", "item_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(10))
    value: Mapped[list[str] | None] = mapped_column(default=None)
    """Label names for ``label`` rows (one name for single-label); ``None`` otherwise."""
    source: Mapped[str] = mapped_column(String(10), default="human")
    request_id: Mapped[str | None] = mapped_column(String(100), default=None)
    model_version: Mapped[int | None] = mapped_column(default=None)
    """The model version whose suggestion the annotator saw, if any."""
    suggestion: Mapped[list[str] | None] = mapped_column(default=None)
    confidence: Mapped[float | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    audit: Mapped[bool] = mapped_column(default=False, server_default=false())
    """The item was drawn uniformly at random for the live audit (:mod:`labella.al.audit`)
    when it was served: such labels are an unbiased sample of the pool."""
