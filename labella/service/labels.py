"""Deriving an item's current label from its append-only annotation history.

Per (item, annotator) the last ``label`` or ``undo`` row decides that annotator's
answer (an ``undo`` retracts it). The item's current label is the most recent
answer among its annotators who still have one, except that a reviewer's final
label (the newest ``label`` row with ``source="review"``) wins over every
annotator's answer. ``skip`` rows never change a label.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from labella.store.annotations import Annotation


@dataclass(frozen=True)
class CurrentLabel:
    item_id: int
    labels: list[str]
    user_id: int | None
    annotation_id: int
    created_at: datetime | None = None


Row = tuple[int, int, int | None, str, list[str] | None, datetime | None] \
    | tuple[int, int, int | None, str, list[str] | None, datetime | None, str]


def fold(rows: Iterable[Row]) -> dict[int, CurrentLabel]:
    """Current labels from ``(annotation_id, item_id, user_id, action, value, created_at
    [, source])`` rows in id order."""
    per_user: dict[tuple[int, int | None], tuple[int, list[str], datetime | None] | None] = {}
    reviewed: dict[int, CurrentLabel] = {}
    for ann_id, item_id, user_id, action, value, created_at, *source in rows:
        if source and source[0] == "review":
            if action == "label":
                reviewed[item_id] = CurrentLabel(item_id, list(value or []), user_id, ann_id,
                                                 created_at)
        elif action == "label":
            per_user[(item_id, user_id)] = (ann_id, list(value or []), created_at)
        elif action == "undo":
            per_user[(item_id, user_id)] = None
    best: dict[int, CurrentLabel] = {}
    for (item_id, user_id), answer in per_user.items():
        if answer is None:
            continue
        ann_id, value, created_at = answer
        cur = best.get(item_id)
        if cur is None or ann_id > cur.annotation_id:
            best[item_id] = CurrentLabel(item_id, value, user_id, ann_id, created_at)
    best.update(reviewed)  # a reviewer's final label wins over the annotators' answers
    return best


def current_labels(s: Session, project_id: int, *, item_ids: Sequence[int] | None = None
                   ) -> dict[int, CurrentLabel]:
    """Current labels of a project's items (or only of ``item_ids``)."""
    q = (select(Annotation.id, Annotation.item_id, Annotation.user_id, Annotation.action,
                Annotation.value, Annotation.created_at, Annotation.source)
         .where(Annotation.project_id == project_id, Annotation.action.in_(("label", "undo")))
         .order_by(Annotation.id))
    if item_ids is not None:
        q = q.where(Annotation.item_id.in_(list(item_ids)))
    return fold(s.execute(q).all())
