"""Dataset versions: named, immutable snapshots of a project's labels (aggregate: a version).

A version holds every labelled item's current label at the moment it was frozen (the
history folded as :mod:`labella.service.labels` does: a reviewer's final label wins)
and the model version that was online then. Rows are written once and never changed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from labella.store.base import Base, utcnow


class DatasetVersion(Base):
    __tablename__ = "dataset_versions"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"),
                                            index=True)
    name: Mapped[str] = mapped_column(String(100))
    note: Mapped[str] = mapped_column(Text, default="")
    model_version: Mapped[int | None] = mapped_column(default=None)
    """The project's newest ready model version when the snapshot was taken."""
    n_labels: Mapped[int]
    label_counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """Items per label name in the snapshot (multi-label: once per label)."""
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class VersionLabel(Base):
    """One item's label in a version (items removed from the project later leave it)."""

    __tablename__ = "dataset_version_labels"

    version_id: Mapped[int] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="CASCADE"), primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"),
                                         primary_key=True, index=True)
    labels: Mapped[list[str]] = mapped_column(default=list)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    """Who gave the label (the reviewer for a reviewed item)."""
    annotation_id: Mapped[int]
    annotated_at: Mapped[datetime | None] = mapped_column(default=None)
