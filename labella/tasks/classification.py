"""Classification tasks: text or image, single-label or multi-label."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from labella.al.types import UNLABELED
from labella.errors import LabellaError
from labella.tasks.base import register_task, task_name


class AnnotationError(LabellaError):
    """An annotation does not fit the project's task or label set."""


@dataclass(frozen=True)
class ClassificationTask:
    modality: str
    multi_label: bool

    @property
    def name(self) -> str:
        return task_name(self.modality, self.multi_label)

    def validate(self, labels: Sequence[str], label_set: Sequence[str]) -> list[str]:
        if isinstance(labels, str):
            labels = [labels]
        unknown = [lab for lab in labels if lab not in label_set]
        if unknown:
            raise AnnotationError(
                f"unknown label(s) {', '.join(map(repr, unknown))}; "
                f"this project's labels are {', '.join(map(repr, label_set))}")
        if self.multi_label:
            # keep the project's label order, drop repeats
            chosen = set(labels)
            return [lab for lab in label_set if lab in chosen]
        if len(labels) != 1:
            raise AnnotationError(
                f"a single-label project takes exactly one label per item; got {len(labels)}")
        return [labels[0]]

    def to_target(self, values: Sequence[list[str] | None], label_set: Sequence[str]) -> np.ndarray:
        col = {name: j for j, name in enumerate(label_set)}
        n = len(values)
        if self.multi_label:
            y = np.full((n, len(label_set)), UNLABELED, dtype=np.int8)
            for i, v in enumerate(values):
                if v is not None:
                    y[i] = 0
                    y[i, [col[name] for name in v if name in col]] = 1
            return y
        y1 = np.full(n, UNLABELED, dtype=np.int64)
        for i, v in enumerate(values):
            if v and v[0] in col:
                y1[i] = col[v[0]]
        return y1

    def from_prediction(self, proba: np.ndarray, label_set: Sequence[str]) -> list[list[str]]:
        names = list(label_set)
        if self.multi_label:
            return [[names[j] for j in np.flatnonzero(row >= 0.5)] for row in proba]
        return [[names[int(j)]] for j in proba.argmax(axis=1)]

    def confidence(self, proba: np.ndarray) -> np.ndarray:
        """Confidence of the suggestion: top probability, or for multi-label the mean
        distance of each label's decision from the 0.5 boundary, mapped to [0.5, 1]."""
        if self.multi_label:
            return np.asarray(np.mean(np.maximum(proba, 1 - proba), axis=1), dtype=np.float64)
        return np.asarray(proba.max(axis=1), dtype=np.float64)


for _modality in ("text", "image"):
    for _multi in (False, True):
        register_task(ClassificationTask(_modality, _multi))
