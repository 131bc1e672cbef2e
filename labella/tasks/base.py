"""The task-type contract and its registry."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from labella.errors import UnknownNameError


@runtime_checkable
class TaskType(Protocol):
    """How one kind of task turns annotations into training targets."""

    @property
    def name(self) -> str: ...

    @property
    def modality(self) -> str: ...

    @property
    def multi_label(self) -> bool: ...

    def validate(self, labels: Sequence[str], label_set: Sequence[str]) -> list[str]:
        """Checked, normalised label names for one annotation; raises ``AnnotationError``."""
        ...

    def to_target(self, values: Sequence[list[str] | None], label_set: Sequence[str]) -> np.ndarray:
        """Targets in :mod:`labella.al.types` conventions; ``None`` rows are unlabelled."""
        ...

    def from_prediction(self, proba: np.ndarray, label_set: Sequence[str]) -> list[list[str]]:
        """Suggested label names for each row of predicted probabilities."""
        ...

    def confidence(self, proba: np.ndarray) -> np.ndarray:
        """Confidence in [0, 1] of each row's suggestion."""
        ...


TASKS: dict[str, TaskType] = {}


def register_task(task: TaskType) -> TaskType:
    TASKS[task.name] = task
    return task


def task_name(modality: str, multi_label: bool) -> str:
    return f"{modality}_{'multi' if multi_label else 'single'}_label"


def get_task(modality: str, multi_label: bool) -> TaskType:
    name = task_name(modality, multi_label)
    if name not in TASKS:
        raise UnknownNameError("task", name, list(TASKS))
    return TASKS[name]
