"""Items: what is labelled (aggregate: an item and its payload reference)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from labella.store.base import Base, utcnow

SPLITS = ("pool", "evaluation")


class Item(Base):
    """One text or image of a project.

    ``content_hash`` is the hex SHA-256 of the text's UTF-8 bytes or the image's
    bytes (the same hash the embedding cache files vectors under); it is unique
    per project, so re-importing the same data adds nothing. ``split`` is
    ``pool`` (may be queued) or ``evaluation`` (hidden from the queue; used for
    honest metrics).
    """

    __tablename__ = "items"
    __table_args__ = (
        UniqueConstraint("project_id", "content_hash"),
        Index("ix_items_project_split", "project_id", "split"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    content_hash: Mapped[str] = mapped_column(String(64))
    text: Mapped[str | None] = mapped_column(Text, default=None)
    blob_key: Mapped[str | None] = mapped_column(String(100), default=None)
    image_name: Mapped[str | None] = mapped_column(String(1000), default=None)
    external_id: Mapped[str | None] = mapped_column(String(500), default=None)
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    split: Mapped[str] = mapped_column(String(20), default="pool")
    import_job_id: Mapped[int | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
