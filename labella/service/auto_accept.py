"""Difficulty of the unlabelled pool and a preview of auto-accepting easy suggestions.

Read-only: :func:`preview` says, for one class and a target precision, which calibrated
confidence threshold the labelled evaluation items support (:mod:`labella.al.auto_accept`),
the precision measured there with its interval, and how many unlabelled items it would
accept. Accepting them (as labels marked model-accepted, kept out of evaluation) is not
built yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from labella.al import auto_accept as aa
from labella.al.types import labeled_mask
from labella.service import auth
from labella.service.errors import InvalidRequestError

if TYPE_CHECKING:
    from labella.service.context import ServiceContext


@dataclass(frozen=True)
class AcceptPreview:
    label: str
    target: float
    difficulty: dict[str, int]
    """Unlabelled pool items per band (``easy`` / ``medium`` / ``hard``), all classes."""
    n_evaluation: int
    """Labelled evaluation items the threshold was measured on."""
    threshold: float | None
    """``None``: no threshold reaches the target on the evaluation items."""
    precision: float | None
    low: float | None
    high: float | None
    n_measured: int
    n_would_accept: int


def preview(ctx: ServiceContext, user: auth.UserPublic, project_id: int, *, label: str,
            target: float = 0.95) -> AcceptPreview:
    if not 0.5 <= target < 1:
        raise InvalidRequestError(f"target precision must be in [0.5, 1); got {target}")
    with ctx.read_session() as s:
        auth.require_role(s, user, project_id)
    with ctx.loops._current(ctx.loops.state(project_id)) as st:
        if st.multi_label:
            raise InvalidRequestError("auto-accept is for single-label projects")
        if label not in st.label_names:
            raise InvalidRequestError(
                f"unknown label {label!r}; the project's labels: {', '.join(st.label_names)}")
        if st.head is None or st.proba is None:
            raise InvalidRequestError("no model yet: label a few items first")
        klass = st.label_names.index(label)
        head, cal, proba = st.head, st.calibrator, st.proba
        unl = ~labeled_mask(st.y)
        ev = labeled_mask(st.y_eval) if len(st.y_eval) else np.zeros(0, dtype=bool)
        X_eval, y_eval = st.X_eval[ev], st.y_eval[ev]
    q = cal.apply(proba[unl]) if cal is not None else proba[unl]
    conf, pred = q.max(axis=1), q.argmax(axis=1)
    bands = aa.difficulty(conf)
    counts = {b: int((bands == b).sum()) for b in ("easy", "medium", "hard")}
    t = None
    if len(y_eval):
        pe = head.predict_proba(X_eval)
        pe = cal.apply(pe) if cal is not None else pe
        t = aa.choose_threshold(pe.max(axis=1), pe.argmax(axis=1), pe.argmax(axis=1) == y_eval,
                                klass, target=target)
    if t is None:
        return AcceptPreview(label, target, counts, len(y_eval), None, None, None, None, 0, 0)
    n = int(((pred == klass) & (conf >= t.threshold)).sum())
    return AcceptPreview(label, target, counts, len(y_eval), t.threshold, t.precision, t.low,
                         t.high, t.n_held_out, n)
