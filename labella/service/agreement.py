"""Agreement between a project's annotators, from the annotation history.

Each annotator's answer per item follows :mod:`labella.service.labels` (the last
``label`` row, retracted by an ``undo``); imported labels, labels accepted from the
model (``source="model"``) and reviewers' final labels (``source="review"``) are left out.
The figures come from :mod:`labella.al.agreement`; the consensus each annotator is
compared with is the majority vote (:mod:`labella.al.consensus`).
Items here are item ids and annotators user ids; the one translation to row and
column positions is in :func:`ratings_matrix`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import select

from labella.al import agreement as ag
from labella.al.consensus import majority_vote
from labella.al.types import UNLABELED
from labella.service import auth
from labella.store.annotations import Annotation
from labella.store.projects import Project
from labella.store.users import User

if TYPE_CHECKING:
    from labella.service.context import ServiceContext

MAX_GAP_SECONDS = 600.0
"""Gaps between one annotator's consecutive labels longer than this are breaks, not work."""


def _num(v: float) -> float | None:
    return None if math.isnan(v) else float(v)


@dataclass(frozen=True)
class Answers:
    """Each annotator's standing answer per item: ``{(item_id, user_id): label names}``,
    and the times of their label rows (for speed)."""

    answers: dict[tuple[int, int], list[str]]
    times: dict[int, list[datetime]]


def load_answers(rows: list[tuple[int, int | None, str, list[str] | None, datetime | None]]
                 ) -> Answers:
    """From ``(item_id, user_id, action, value, created_at)`` rows in id order."""
    answers: dict[tuple[int, int], list[str]] = {}
    times: dict[int, list[datetime]] = {}
    for item_id, user_id, action, value, created_at in rows:
        if user_id is None:
            continue
        if action == "label":
            answers[(item_id, user_id)] = list(value or [])
            if created_at is not None:
                times.setdefault(user_id, []).append(created_at)
        elif action == "undo":
            answers.pop((item_id, user_id), None)
    return Answers(answers, times)


def ratings_matrix(answers: dict[tuple[int, int], list[str]], label_names: list[str], *,
                   multi_label: bool) -> tuple[list[int], list[int], np.ndarray]:
    """``(item_ids, user_ids, R)``: ``R`` shape ``(n_items, n_users)`` of class indices
    (single-label) or ``(n_items, n_users, n_labels)`` of 0/1 (multi-label), ``UNLABELED``
    where the user gave no answer. Answers naming an unknown label are left out."""
    index = {n: i for i, n in enumerate(label_names)}
    item_ids = sorted({i for i, _ in answers})
    user_ids = sorted({u for _, u in answers})
    irow = {v: k for k, v in enumerate(item_ids)}
    ucol = {v: k for k, v in enumerate(user_ids)}
    shape = (len(item_ids), len(user_ids)) + ((len(label_names),) if multi_label else ())
    R = np.full(shape, UNLABELED, dtype=np.int64)
    for (item_id, user_id), value in answers.items():
        if any(v not in index for v in value):
            continue
        if multi_label:
            hot = np.zeros(len(label_names), dtype=np.int64)
            hot[[index[v] for v in value]] = 1
            R[irow[item_id], ucol[user_id]] = hot
        elif len(value) == 1:
            R[irow[item_id], ucol[user_id]] = index[value[0]]
    return item_ids, user_ids, R


def _seconds_per_label(times: list[datetime]) -> float | None:
    ts = sorted(times)
    gaps = [(b - a).total_seconds() for a, b in pairwise(ts)]
    gaps = [g for g in gaps if 0 <= g <= MAX_GAP_SECONDS]
    return float(np.median(gaps)) if gaps else None


def summarise(ans: Answers, label_names: list[str], *, multi_label: bool,
              usernames: dict[int, str]) -> dict[str, Any]:
    """The agreement figures of a project as a JSON-ready dict (see :func:`project_agreement`)."""
    item_ids, user_ids, R = ratings_matrix(ans.answers, label_names, multi_label=multi_label)
    k = len(label_names)
    n_answers = (R != UNLABELED).all(axis=2).sum(axis=1) if multi_label and R.size else \
        (R != UNLABELED).sum(axis=1) if R.size else np.zeros(0, dtype=np.int64)
    out: dict[str, Any] = {
        "n_items_labelled": len(item_ids),
        "n_items_overlap": int((n_answers >= 2).sum()),
        "n_annotators": len(user_ids),
    }
    per_label: list[dict[str, Any]] = []
    if multi_label:
        figs = ag.krippendorff_alpha_multilabel(R) if R.size else []
        per_label = [{"label": n, "alpha": _num(f.value), "n_items": f.n_items}
                     for n, f in zip(label_names, figs, strict=True)]
        vals = [f.value for f in figs if not math.isnan(f.value)]
        out["alpha"] = float(np.mean(vals)) if vals else None
        out["alpha_n_items"] = out["n_items_overlap"]
        consensus = None  # agreement with consensus: single-label only for now
    else:
        alpha = ag.krippendorff_alpha(R, k) if R.size else ag.Figure(math.nan, 0)
        out["alpha"], out["alpha_n_items"] = _num(alpha.value), alpha.n_items
        if R.size:
            for j, name in enumerate(label_names):  # one label against the rest
                f = ag.krippendorff_alpha(np.where(R == UNLABELED, UNLABELED, (R == j).astype(np.int64)), 2)
                per_label.append({"label": name, "alpha": _num(f.value), "n_items": f.n_items})
        consensus = majority_vote(R, k).labels if R.size else None
    out["per_label"] = per_label
    pairs = []
    if not multi_label and R.size:
        for (a, b), f in ag.pairwise_kappa(R, k).items():
            pairs.append({"annotators": [usernames.get(user_ids[a], str(user_ids[a])),
                                         usernames.get(user_ids[b], str(user_ids[b]))],
                          "kappa": _num(f.value), "n_items": f.n_items})
    out["pairwise_kappa"] = pairs
    agree = ag.agreement_with_consensus(R, consensus) if consensus is not None else []
    table = []
    for j, uid in enumerate(user_ids):
        n_labels = int((R[:, j] != UNLABELED).all(axis=-1).sum()) if multi_label else \
            int((R[:, j] != UNLABELED).sum())
        row: dict[str, Any] = {"user_id": uid, "username": usernames.get(uid, str(uid)),
                               "labels": n_labels,
                               "seconds_per_label": _seconds_per_label(ans.times.get(uid, [])),
                               "agreement_with_consensus": None, "agreement_n_items": 0}
        if agree:
            row["agreement_with_consensus"] = _num(agree[j].value)
            row["agreement_n_items"] = agree[j].n_items
        table.append(row)
    out["annotators"] = table
    return out


def project_agreement(ctx: ServiceContext, user: auth.UserPublic, project_id: int) -> dict[str, Any]:
    """Krippendorff's alpha for the project (and per label, one against the rest; per label
    for multi-label), pairwise Cohen's kappa (single-label), and per annotator: labels,
    median seconds per label, agreement with the majority-vote consensus — each figure with
    the number of items behind it."""
    with ctx.read_session() as s:
        auth.require_role(s, user, project_id)
        project = s.get(Project, project_id)
        assert project is not None  # require_role found it
        rows = s.execute(
            select(Annotation.item_id, Annotation.user_id, Annotation.action, Annotation.value,
                   Annotation.created_at)
            .where(Annotation.project_id == project_id, Annotation.action.in_(("label", "undo")),
                   Annotation.source == "human")  # not imports, the model's, reviewers' final labels
            .order_by(Annotation.id)).all()
        ans = load_answers([tuple(r) for r in rows])  # type: ignore[misc]
        uids = {u for _, u in ans.answers}
        names = dict(s.execute(select(User.id, User.username).where(User.id.in_(uids))).all()) \
            if uids else {}
        return summarise(ans, list(project.labels), multi_label=project.multi_label,
                         usernames=names)
