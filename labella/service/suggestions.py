"""The model's suggestion for an item in the labelling view: when to show it, and when to
pre-select it.

A suggestion is shown only once the head has seen enough to mean something: at least
:data:`MIN_SUGGEST_LABELS` labels and, single-label, two classes (a head that has seen one
class calls everything that class, "100 %"). Its confidence is calibrated (temperature
scaling fitted on held-out labels, :mod:`labella.al.calibration`). It is pre-selected
(Enter accepts it) only when the calibrator has been fitted and the calibrated chance that
the whole suggestion is right reaches the project's ``preselect_threshold`` (default
:data:`DEFAULT_PRESELECT`); multi-label suggestions are never pre-selected below
:data:`MIN_MULTI_PRESELECT_LABELS` labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labella.al.calibration import MIN_CALIBRATION_LABELS
from labella.al.types import labeled_mask
from labella.service.state import ProjectState

MIN_SUGGEST_LABELS = 4
"""No suggestion is shown with fewer labels than this."""
MIN_MULTI_PRESELECT_LABELS = 20
"""A multi-label suggestion is never pre-selected with fewer labels than this."""
DEFAULT_PRESELECT = 0.8
"""Pre-select a suggestion when its calibrated chance of being right is at least this."""


@dataclass(frozen=True)
class Suggestion:
    labels: list[str] | None
    confidence: float | None
    """Calibrated when the project has a calibrator, else the head's raw confidence."""
    preselect: bool = False


NONE = Suggestion(None, None, False)


def preselect_threshold(st: ProjectState) -> float:
    value = st.settings.get("preselect_threshold")
    return DEFAULT_PRESELECT if value is None else float(value)


def can_suggest(st: ProjectState) -> bool:
    """Whether the head has seen enough labels for its suggestions to be shown."""
    if st.proba is None:
        return False
    mask = labeled_mask(st.y)
    if int(mask.sum()) < MIN_SUGGEST_LABELS:
        return False
    if not st.multi_label and len(np.unique(st.y[mask])) < 2:
        return False
    return True


def suggest(st: ProjectState, rows: list[int]) -> list[Suggestion]:
    """Suggestions for pool rows ``rows`` (caller holds ``st.lock``)."""
    if not rows or st.proba is None or not can_suggest(st):
        return [NONE] * len(rows)
    raw = st.proba[rows]
    cal = st.calibrator
    fitted = (cal is not None and cal.n_fit >= MIN_CALIBRATION_LABELS
              and cal.multi_label == st.multi_label)
    proba = cal.apply(raw) if fitted and cal is not None else raw
    names = st.task.from_prediction(proba, st.label_names)
    conf = st.task.confidence(proba)
    if st.multi_label:  # the chance that every label's decision is right
        whole = np.prod(np.maximum(proba, 1.0 - proba), axis=1)
        enough = st.n_labeled >= MIN_MULTI_PRESELECT_LABELS
    else:
        whole, enough = conf, True
    threshold = preselect_threshold(st)
    return [Suggestion(n, float(c), bool(fitted and enough and w >= threshold))
            for n, c, w in zip(names, conf, whole, strict=True)]
