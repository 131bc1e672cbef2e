"""Deriving an item's current label from its append-only annotation history.

Per (item, annotator) the last ``label`` or ``undo`` row decides that annotator's
answer (an ``undo`` retracts it); ``skip`` rows never change a label. Then, per item:

* a standing ``review`` answer (a reviewer's final decision, ``source="review"``)
  wins; the latest one if there are several;
* else, with one answer, that answer (as before teams: confidence 1);
* else, in a project that asks for one answer per item (``labels_per_item`` 1), the
  latest answer, as before teams (confidence: the share of answers equal to it);
* else the consensus of the annotators' answers, by the project's ``consensus``
  setting (:mod:`labella.al.consensus`): ``majority`` (ties go to the tied class the
  model finds most probable, when a model is at hand; else to the first tied label in
  the project's label order) or ``dawid_skene`` (fitted on the project's items with two
  or more answers). Multi-label: each label is voted on alone (present or not).
  ``confidence`` is the winner's vote share (majority) or its posterior (Dawid–Skene;
  multi-label: the mean over the labels).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from labella.al.consensus import consolidate
from labella.al.types import UNLABELED
from labella.store.annotations import Annotation
from labella.store.projects import Project

ProbaFor = Callable[[Sequence[int]], dict[int, np.ndarray]]
"""Item ids -> the model's probabilities per item (over the label names; items the model
has no probabilities for are left out). Breaks majority-vote ties."""


@dataclass(frozen=True)
class CurrentLabel:
    item_id: int
    labels: list[str]
    user_id: int | None
    """Who gave the latest answer that counts (the reviewer when a review decided)."""
    annotation_id: int
    created_at: datetime | None = None
    confidence: float = 1.0
    """The consensus's confidence: 1 for a single answer or a review decision."""
    n_answers: int = 1
    """Annotators' standing answers behind the label (a review is not counted)."""
    annotators: tuple[int | None, ...] = ()
    """Who has a standing answer (``None``: an imported label)."""
    reviewed: bool = False
    source: str = "human"
    """The deciding row's source: ``human``, ``import``, ``review``, or ``model`` (accepted
    from the model's suggestions, see :mod:`labella.service.auto_accept`). A consensus of
    several answers is ``human`` if any of them is."""


Row = tuple[int, int, int | None, str, list[str] | None, datetime | None, str]
"""``(annotation_id, item_id, user_id, action, value, created_at, source)``."""

Answer = tuple[int, list[str], datetime | None, int | None, str]


def fold(rows: Iterable[Row], *, label_names: Sequence[str] = (), multi_label: bool = False,
         method: str = "majority", proba_for: ProbaFor | None = None) -> dict[int, CurrentLabel]:
    """Current labels from annotation rows in id order (see the module); ``method``:
    ``latest``, ``majority`` or ``dawid_skene``."""
    per_user: dict[tuple[int, int | None, bool], Answer | None] = {}
    for ann_id, item_id, user_id, action, value, created_at, source in rows:
        key = (item_id, user_id, source == "review")
        if action == "label":
            per_user[key] = (ann_id, list(value or []), created_at, user_id, source)
        elif action == "undo":  # retracts this user's answer, as annotator or reviewer
            per_user[(item_id, user_id, False)] = None
            per_user[(item_id, user_id, True)] = None
    answers: dict[int, list[Answer]] = {}
    reviews: dict[int, Answer] = {}
    for (item_id, _user, review), answer in per_user.items():
        if answer is None:
            continue
        if review:
            if item_id not in reviews or answer[0] > reviews[item_id][0]:
                reviews[item_id] = answer
        else:
            answers.setdefault(item_id, []).append(answer)
    out: dict[int, CurrentLabel] = {}
    multi: dict[int, list[Answer]] = {}
    for item_id, given in answers.items():
        latest = max(given, key=lambda a: a[0])
        who = tuple(a[3] for a in given)
        if item_id in reviews:
            r = reviews[item_id]
            out[item_id] = CurrentLabel(item_id, r[1], r[3], r[0], r[2], 1.0, len(given), who,
                                        reviewed=True, source=r[4])
        elif len(given) == 1 or not label_names or method == "latest":
            share = sum(sorted(a[1]) == sorted(latest[1]) for a in given) / len(given)
            out[item_id] = CurrentLabel(item_id, latest[1], latest[3], latest[0], latest[2],
                                        share, len(given), who, source=latest[4])
        else:
            multi[item_id] = given
    for item_id, r in reviews.items():
        if item_id not in out:
            out[item_id] = CurrentLabel(item_id, r[1], r[3], r[0], r[2], 1.0, 0, (), reviewed=True,
                                        source=r[4])
    if multi:
        out.update(_consensus(multi, list(label_names), multi_label, method, proba_for))
    return out


def _consensus(multi: dict[int, list[Answer]], names: list[str], multi_label: bool, method: str,
               proba_for: ProbaFor | None) -> dict[int, CurrentLabel]:
    """The consensus of items with two or more answers (one matrix over those items)."""
    item_ids = sorted(multi)
    users = sorted({a[3] for given in multi.values() for a in given}, key=lambda u: (u is None, u or 0))
    col = {u: j for j, u in enumerate(users)}
    index = {n: i for i, n in enumerate(names)}
    k = len(names)
    R = np.full((len(item_ids), len(users), k if multi_label else 1), UNLABELED, dtype=np.int64)
    for i, item_id in enumerate(item_ids):
        for a in multi[item_id]:
            if any(v not in index for v in a[1]) or (not multi_label and len(a[1]) != 1):
                continue  # an answer naming a label the project no longer has
            if multi_label:
                R[i, col[a[3]], :] = 0
                R[i, col[a[3]], [index[v] for v in a[1]]] = 1
            else:
                R[i, col[a[3]], 0] = index[a[1][0]]
    proba = proba_for(item_ids) if proba_for is not None and method == "majority" else {}
    P = np.full((len(item_ids), k), np.nan)
    for i, item_id in enumerate(item_ids):
        if item_id in proba:
            P[i] = proba[item_id]
    has_p = ~np.isnan(P).any(axis=1)
    if multi_label:
        chosen = np.zeros((len(item_ids), k), dtype=bool)
        conf = np.zeros((len(item_ids), k))
        for j in range(k):
            pj = np.stack([1.0 - P[:, j], P[:, j]], axis=1)
            c = _vote(R[:, :, j], 2, method, pj, has_p)
            chosen[:, j], conf[:, j] = c[0] == 1, c[1]
        values: list[list[str] | None] = [[names[j] for j in np.flatnonzero(row)] for row in chosen]
        confidence = conf.mean(axis=1) if k else np.ones(len(item_ids))
    else:
        lab, confidence = _vote(R[:, :, 0], k, method, P, has_p)
        values = [[names[c]] if c != UNLABELED else None for c in lab.tolist()]
    out = {}
    for i, item_id in enumerate(item_ids):
        given = multi[item_id]
        latest = max(given, key=lambda a: a[0])
        value = values[i]
        if value is None:  # no answer names a label the project has: keep the latest
            value = latest[1]
        sources = {a[4] for a in given}
        out[item_id] = CurrentLabel(item_id, value, latest[3], latest[0], latest[2],
                                    float(confidence[i]), len(given), tuple(a[3] for a in given),
                                    source="human" if "human" in sources else latest[4])
    return out


def _vote(R: np.ndarray, n_classes: int, method: str, P: np.ndarray, has_p: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray]:
    """Labels and confidences of one ratings matrix; majority ties use ``P`` where ``has_p``."""
    if method != "majority":
        c = consolidate(R, n_classes, method=method)
        return c.labels, c.confidence
    plain = consolidate(R, n_classes)
    if not has_p.any():
        return plain.labels, plain.confidence
    with_p = consolidate(R, n_classes, proba=np.where(has_p[:, None], P, 0.0))
    return np.where(has_p, with_p.labels, plain.labels), plain.confidence


def consensus_method(settings: dict[str, object]) -> str:
    """``latest`` (one answer per item asked for and no second opinions: the latest answer
    counts, as before teams), else the project's ``consensus`` setting."""
    per_item = int(settings.get("labels_per_item") or 1)  # type: ignore[call-overload]
    if per_item <= 1 and settings.get("relabel") != "activelab":
        return "latest"
    return str(settings.get("consensus") or "majority")


def current_labels(s: Session, project_id: int, *, item_ids: Sequence[int] | None = None,
                   proba_for: ProbaFor | None = None) -> dict[int, CurrentLabel]:
    """Current labels of a project's items (or only of ``item_ids``). ``proba_for`` gives
    the model's probabilities for majority-vote ties (none: the deterministic fallback).
    Dawid–Skene weighs each annotator over the whole project, so with it every item's
    answers are read even when ``item_ids`` is given."""
    project = s.get(Project, project_id)
    method = consensus_method(project.settings or {}) if project else "latest"
    q = (select(Annotation.id, Annotation.item_id, Annotation.user_id, Annotation.action,
                Annotation.value, Annotation.created_at, Annotation.source, Annotation.meta)
         .where(Annotation.project_id == project_id, Annotation.action.in_(("label", "undo")))
         .order_by(Annotation.id))
    if item_ids is not None and method != "dawid_skene":
        q = q.where(Annotation.item_id.in_(list(item_ids)))
    rows = ((*r[:6], "review" if r[6] == "review" or (r[7] or {}).get("review") else r[6])
            for r in s.execute(q))  # a label-error review's answer is a reviewer's decision
    out = fold(rows,
               label_names=list(project.labels) if project else (),
               multi_label=bool(project and project.multi_label), method=method,
               proba_for=proba_for)
    if item_ids is not None and method == "dawid_skene":
        keep = set(item_ids)
        out = {i: c for i, c in out.items() if i in keep}
    return out
