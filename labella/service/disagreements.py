"""The disagreement review queue: items whose annotators' standing answers differ.

Each annotator's standing answer per item follows :mod:`labella.service.agreement` (the
last ``label`` row, retracted by an ``undo``; only ``human`` rows: imports and review
rows are not annotators' answers). An item is open when

- it has no review yet and two or more standing answers that are not all the same, or
- it was reviewed, and an annotator answered after the (newest) review with a label
  other than the reviewed one (a later answer that agrees with the review does not
  reopen it).

:func:`resolve` writes the reviewer's final label as an annotation with
``source="review"`` (kept in the history); the item's current label is then the
reviewed one until another review (:mod:`labella.service.labels`). Listing needs the
project's reviewer or admin role, and so does resolving.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from labella.al.consensus import majority_vote
from labella.al.types import UNLABELED
from labella.service import auth, labelling
from labella.service.agreement import ratings_matrix
from labella.service.errors import InvalidRequestError
from labella.service.replies import AnnotationAck
from labella.store.annotations import Annotation
from labella.store.items import Item
from labella.store.projects import Project
from labella.store.users import User

if TYPE_CHECKING:
    from labella.service.context import ServiceContext

MAX_LIMIT = 1000


@dataclass(frozen=True)
class Answer:
    user_id: int
    username: str
    labels: list[str]
    annotation_id: int
    annotated_at: datetime | None


@dataclass(frozen=True)
class Disagreement:
    item_id: int
    text: str | None
    image_key: str | None
    image_name: str | None
    split: str
    answers: list[Answer]
    """Each annotator's standing answer, oldest first."""
    consensus: list[str]
    """The majority vote (single-label: ties go to the label listed first in the project;
    multi-label: the labels more than half of the answers chose)."""
    consensus_share: float
    """Share of the answers equal to the consensus."""
    reviewed: list[str] | None
    """The label of an earlier review (the item reopened since), else ``None``."""


@dataclass(frozen=True)
class Queue:
    n_open: int
    n_reviewed: int
    """Items with a review row (open again or not)."""
    items: list[Disagreement]


@dataclass
class ItemHistory:
    answers: dict[int, tuple[int, list[str], datetime | None]]
    """user id -> (annotation id, labels, time) of their standing answer."""
    review: tuple[int, list[str]] | None = None


def _histories(s: Session, project_id: int) -> dict[int, ItemHistory]:
    rows = s.execute(
        select(Annotation.id, Annotation.item_id, Annotation.user_id, Annotation.action,
               Annotation.value, Annotation.created_at, Annotation.source)
        .where(Annotation.project_id == project_id, Annotation.action.in_(("label", "undo")),
               Annotation.source.in_(("human", "review")))
        .order_by(Annotation.id)).all()
    out: dict[int, ItemHistory] = {}
    for ann_id, item_id, user_id, action, value, created_at, source in rows:
        h = out.setdefault(item_id, ItemHistory({}))
        if source == "review":
            if action == "label":
                h.review = (ann_id, sorted(value or []))
        elif user_id is not None:
            if action == "label":
                h.answers[user_id] = (ann_id, sorted(value or []), created_at)
            else:
                h.answers.pop(user_id, None)
    return out


def is_open(h: ItemHistory) -> bool:
    """Whether an item's history puts it in the queue (see the module's rule)."""
    if h.review is None:
        return len(h.answers) >= 2 and len({tuple(a[1]) for a in h.answers.values()}) > 1
    since, final = h.review
    return any(ann_id > since and labels != final for ann_id, labels, _ in h.answers.values())


def majority(answers: list[list[str]], label_names: list[str], multi_label: bool
               ) -> tuple[list[str], float]:
    if multi_label:
        won = [n for n in label_names if 2 * sum(n in a for a in answers) > len(answers)]
    else:
        ans = {(0, u): a for u, a in enumerate(answers)}
        _, _, R = ratings_matrix(ans, label_names, multi_label=False)
        winner = int(majority_vote(R, len(label_names)).labels[0]) if R.size else UNLABELED
        won = [label_names[winner]] if winner != UNLABELED else []
    share = float(np.mean([sorted(a) == sorted(won) for a in answers])) if answers else 0.0
    return won, share


def disagreements(ctx: ServiceContext, user: auth.UserPublic, project_id: int, *,
                  limit: int = 50) -> Queue:
    """The open items, oldest disagreement first (by their newest answer), each with every
    annotator's answer and the majority-vote consensus."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequestError(f"limit must be between 1 and {MAX_LIMIT}; got {limit}")
    with ctx.read_session() as s:
        auth.require_role(s, user, project_id, "reviewer")
        project = s.get(Project, project_id)
        assert project is not None  # require_role found it
        hist = _histories(s, project_id)
        open_ids = [i for i, h in hist.items() if is_open(h)]
        open_ids.sort(key=lambda i: max(a[0] for a in hist[i].answers.values()))
        shown = open_ids[:limit]
        items = {it.id: it for it in s.scalars(select(Item).where(Item.id.in_(shown)))} \
            if shown else {}
        uids = {u for i in shown for u in hist[i].answers}
        names = dict(s.execute(select(User.id, User.username).where(User.id.in_(uids))).all()) \
            if uids else {}
        out = []
        for i in shown:
            it, h = items.get(i), hist[i]
            if it is None:
                continue
            answers = sorted((Answer(u, names.get(u, str(u)), labels, ann_id, at)
                              for u, (ann_id, labels, at) in h.answers.items()),
                             key=lambda a: a.annotation_id)
            won, share = majority([a.labels for a in answers], list(project.labels),
                                    project.multi_label)
            out.append(Disagreement(i, it.text, it.blob_key, it.image_name, it.split, answers,
                                    won, share, h.review[1] if h.review else None))
        n_reviewed = sum(h.review is not None for h in hist.values())
    return Queue(len(open_ids), n_reviewed, out)


def resolve(ctx: ServiceContext, user: auth.UserPublic, project_id: int, item_id: int, *,
            labels: list[str] | str | None, request_id: str | None = None) -> AnnotationAck:
    """Set an item's final label (reviewers and admins): an annotation with
    ``source="review"``; the model learns it like any label."""
    if labels is None:
        raise InvalidRequestError("give the final label (single-label) or labels (multi-label)")
    return labelling.annotate(ctx, user, project_id, item_id, labels=labels,
                              request_id=request_id, meta={"review": "disagreement"},
                              source="review")
