"""What the labelling loop answers: the items to label next, and an annotation's receipt."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reason:
    """Why an item was chosen: the strategy, its score and the model version that ranked it."""

    strategy: str
    score: float | None
    model_version: int


@dataclass(frozen=True)
class NextItem:
    id: int
    text: str | None
    image_key: str | None
    image_name: str | None
    suggestion: list[str] | None
    confidence: float | None
    reason: Reason
    preselect: bool = False
    """Pre-select the suggestion (see :mod:`labella.service.suggestions`)."""
    explanation: str = ""
    """Why this item, for people (:func:`labella.service.explain.why_item`)."""
    model_version: int = 0
    """The model the suggestion and the explanation come from (the current one)."""
    top: list[tuple[str, float]] | None = None
    """The labels the explanation names with their probabilities under that model."""


@dataclass(frozen=True)
class AnnotationAck:
    annotation_id: int
    item_id: int
    action: str
    labels: list[str] | None
    n_labeled: int
    model_version: int
    duplicate: bool
    """True when this request id was seen before: the earlier answer stands."""
