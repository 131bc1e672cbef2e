"""Task types: label spaces, validation of annotations, training targets.

A task type is looked up by ``(modality, multi_label)``; a new kind of task
(e.g. named entities) is a new module registering itself here, not edits
across the tree.
"""

from labella.tasks.base import TASKS, TaskType, get_task
from labella.tasks.classification import ClassificationTask

__all__ = ["TASKS", "ClassificationTask", "TaskType", "get_task"]
