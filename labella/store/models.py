"""Model versions and the predictions they made (aggregate: a trained head)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from labella.store.base import Base, utcnow

READY = "ready"
WRITING = "writing"


class ModelVersion(Base):
    """One fitted head of a project: what it was trained on and how good it was.

    ``version`` counts up per project. ``kind`` is ``online`` (refitted in the
    labelling loop) or ``retrain`` (a background job). ``metrics`` holds the
    evaluation (see :mod:`labella.service.metrics`); ``artifact_key`` the blob key
    of the saved head when it was saved. ``status`` is ``ready``, or ``writing`` while
    a retrain (job ``job_id``) stores its predictions and head: readers see only ready
    versions, and a version left ``writing`` by a dead job is deleted at recovery.
    """

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("project_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    version: Mapped[int]
    kind: Mapped[str] = mapped_column(String(20), default="online")
    featuriser_key: Mapped[str] = mapped_column(String(300))
    head: Mapped[str] = mapped_column(String(100))
    head_params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    strategy: Mapped[str] = mapped_column(String(100))
    n_labels: Mapped[int]
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    artifact_key: Mapped[str | None] = mapped_column(String(200), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(20), default=READY, server_default=READY)
    job_id: Mapped[int | None] = mapped_column(default=None)


class Prediction(Base):
    """What a model version predicted for an item, and how much the strategy wanted it."""

    __tablename__ = "predictions"
    __table_args__ = (UniqueConstraint("model_version_id", "item_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    suggestion: Mapped[list[str]] = mapped_column(default=list)
    confidence: Mapped[float]
    score: Mapped[float | None] = mapped_column(default=None)
