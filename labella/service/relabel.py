"""Relabel or label new, in a project's queue (the ``relabel`` setting ``activelab``).

ActiveLab (:mod:`labella.al.activelab`) gives one score per item, lower = a label
there is worth more, comparable across labelled items (a second opinion on their
consensus) and unlabelled items (a new label). After each refit the refitter scores
the labelled pool items from the annotators' standing answers and the model's
probabilities, and the unlabelled items from the model alone; the labelled items that
score lower than the best unlabelled item of the queue become the state's second-opinion
candidates (:attr:`~labella.service.state.ProjectState.relabel`), served like overlap
items (:meth:`~labella.service.state.ProjectState.needed_answers`). Never items a
reviewer decided, nor items with :func:`~labella.service.state.relabel_cap` answers.

This reads every standing answer of the project: it runs on the refitter thread, never
inside a request. Single-label projects only (ActiveLab scores one class per answer).
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from labella.al.activelab import activelab_scores
from labella.al.types import UNLABELED, labeled_mask
from labella.service.agreement import load_answers, ratings_matrix
from labella.service.state import ProjectState, relabel_cap, relabel_on
from labella.store.annotations import Annotation


def standing_answers(s: Session, project_id: int) -> dict[tuple[int, int], list[str]]:
    """Each annotator's standing answer per item, ``{(item_id, user_id): label names}``
    (annotators only: no imports, accepted suggestions or reviewers' decisions)."""
    rows = s.execute(
        select(Annotation.item_id, Annotation.user_id, Annotation.action, Annotation.value,
               Annotation.created_at)
        .where(Annotation.project_id == project_id, Annotation.action.in_(("label", "undo")),
               Annotation.source == "human")
        .order_by(Annotation.id)).all()
    return load_answers([tuple(r) for r in rows]).answers  # type: ignore[misc]


def relabel_candidates(st: ProjectState, answers: dict[tuple[int, int], list[str]], *,
                       proba: np.ndarray | None = None, queue: np.ndarray | None = None
                       ) -> dict[int, float]:
    """Pool row -> ActiveLab score of the labelled rows worth a second opinion more than
    the best unlabelled item of the queue, lowest score first (at most the queue size of
    them); empty when the mode is off, before the first model, or multi-label. ``proba``
    and ``queue`` (pool rows): a refit's, before it is swapped in (default: ``st``'s)."""
    with st.lock:
        proba = st.proba if proba is None else proba
        if proba is None or st.multi_label or not relabel_on(st.settings):
            return {}
        if queue is None:
            queue = st.ranked.rows if st.ranked is not None else np.zeros(0, dtype=np.int64)
        index, names = st.index, st.label_names
        unlabeled = np.flatnonzero(~labeled_mask(st.y))
        closed = set(st.closed)
        cap, limit = relabel_cap(st.settings), int(st.settings.get("queue_size") or 100)
    item_ids, _users, R = ratings_matrix(answers, names, multi_label=False)
    if not item_ids:
        return {}
    rows = np.array([-1 if (r := index.row(i)) is None else r for i in item_ids], dtype=np.int64)
    keep = (rows >= 0) & (R != UNLABELED).any(axis=1)  # pool items with a usable answer
    rows, R = rows[keep], R[keep]
    if not len(rows):
        return {}
    scores = activelab_scores(R, proba[rows], proba[unlabeled])
    # the best new label the queue would serve next (none left: any second opinion helps)
    queued = np.isin(unlabeled, queue) if len(queue) else np.zeros(len(unlabeled), dtype=bool)
    best_new = float(scores.unlabeled[queued].min()) if queued.any() else (
        float(scores.unlabeled.min()) if len(unlabeled) else np.inf)
    n_answers = (R != UNLABELED).sum(axis=1)
    want = (scores.labeled < best_new) & (n_answers < cap) \
        & ~np.isin(rows, np.fromiter(closed, dtype=np.int64, count=len(closed)))
    order = np.flatnonzero(want)
    order = order[np.argsort(scores.labeled[order], kind="stable")][:limit]
    return {int(rows[i]): float(scores.labeled[i]) for i in order}
