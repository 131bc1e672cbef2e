"""The in-memory state of a project's labelling loop.

A :class:`ProjectState` holds what the loop needs to answer ``next`` in
microseconds: the pool's embeddings, the current labels, the latest head's
probabilities and the ranked queue, plus who holds which item. It is built
from the database and the embedding cache (:func:`load_state`) and kept in step
by the loop; the database stays the source of truth, so a restart rebuilds the
same state.

Index space: rows of ``X`` / ``y`` are pool row positions; :attr:`index`
translates them to item ids (:mod:`labella.service.poolmap`).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from labella.al.heads import Head
from labella.al.pipelines import Pipeline, pipeline_for
from labella.al.types import UNLABELED, labeled_mask
from labella.features.base import Featuriser
from labella.features.cache import EmbeddingCache
from labella.service.labels import current_labels
from labella.service.poolmap import PoolIndex
from labella.store.items import Item
from labella.store.models import ModelVersion
from labella.store.projects import Project
from labella.tasks import TaskType, get_task

DEFAULT_SETTINGS: dict[str, Any] = {
    "batch_size": 10,
    "queue_size": 100,
    "exploration": 0.0,
    "cold_start": None,
    "label_budget": None,
    "stop_set_size": 1000,
}
"""Loop settings of a new project; ``settings`` on the project overrides them."""


def project_settings(project: Project) -> dict[str, Any]:
    return {**DEFAULT_SETTINGS, **(project.settings or {})}


def project_pipeline(project: Project) -> Pipeline:
    """The pipeline the project's loop runs: its strategy, head and cold start."""
    base = pipeline_for(project.strategy)
    cfg = project_settings(project)
    params = dict(base.strategy_params)
    strategy = base.strategy
    p = float(cfg.get("exploration") or 0.0)
    if p > 0:
        # exploration rate p: a random pick with probability p, uncertainty otherwise
        measure = strategy if strategy in ("margin", "entropy", "least_confidence", "ratio") else "margin"
        strategy, params = "exploration_mix", {"p": 1.0 - p, "measure": measure}
    cold = cfg.get("cold_start") or base.cold_start  # None: the pipeline's own choice
    return Pipeline(strategy, head=project.head or base.head,
                    cold_start=None if cold in (None, "random") else str(cold),
                    strategy_params=params)


@dataclass
class Ranked:
    """The queue: rows in priority order with the strategy's score and the reason."""

    rows: np.ndarray
    scores: np.ndarray
    strategy: str
    model_version: int
    made_at: float = field(default_factory=time.monotonic)


@dataclass
class Served:
    """What an annotator was shown for an item (recorded with their answer)."""

    model_version: int | None
    suggestion: list[str] | None
    confidence: float | None


@dataclass
class ProjectState:
    """Everything the loop keeps in memory for one project (guarded by ``lock``)."""

    project_id: int
    task: TaskType
    label_names: list[str]
    featuriser_key: str
    pipeline: Pipeline
    settings: dict[str, Any]
    index: PoolIndex
    X: np.ndarray
    y: np.ndarray
    eval_index: PoolIndex
    X_eval: np.ndarray
    y_eval: np.ndarray
    n_unfeaturised: int = 0
    version: int = 0
    head: Head | None = None
    proba: np.ndarray | None = None
    ranked: Ranked | None = None
    leases: dict[int, tuple[int, float]] = field(default_factory=dict)
    skipped: dict[int, set[int]] = field(default_factory=dict)
    served: dict[tuple[int, int], Served] = field(default_factory=dict)
    stop_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    stop_history: deque[np.ndarray] = field(default_factory=lambda: deque(maxlen=6))
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    refit_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    labels_changed: int = 0
    """Counts label changes; the refitter compares it to know whether it is behind."""
    applied_changes: int = -1
    """``labels_changed`` of the snapshot behind the current head and queue."""
    cv_at: int = 0
    """Number of labels at the last cross-validated evaluation."""
    last_metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def multi_label(self) -> bool:
        return self.task.multi_label

    @property
    def n_classes(self) -> int:
        return len(self.label_names)

    def labeled_rows(self) -> np.ndarray:
        return np.flatnonzero(labeled_mask(self.y))

    @property
    def n_labeled(self) -> int:
        return int(labeled_mask(self.y).sum())

    def set_label(self, row: int, value: list[str] | None) -> None:
        """Set (or clear, with ``None``) the current label of pool row ``row``."""
        target = self.task.to_target([value], self.label_names)[0]
        self.y[row] = target
        self.labels_changed += 1

    def set_eval_label(self, row: int, value: list[str] | None) -> None:
        self.y_eval[row] = self.task.to_target([value], self.label_names)[0]

    def is_labeled(self, row: int) -> bool:
        v = self.y[row]
        return bool(np.all(v != UNLABELED))


def _featuriser_dim(featuriser: Featuriser) -> int:
    return int(featuriser.dim)


def load_state(s: Session, project: Project, featuriser: Featuriser, cache: EmbeddingCache,
               *, seed: int = 0) -> ProjectState:
    """Build a project's loop state from the database and the embedding cache."""
    task = get_task(project.task, project.multi_label)
    rows = s.execute(select(Item.id, Item.content_hash, Item.split)
                     .where(Item.project_id == project.id).order_by(Item.id)).all()
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    hashes = [r[1].encode("ascii") for r in rows]
    is_eval = np.array([r[2] == "evaluation" for r in rows], dtype=bool)
    vecs, found = cache.lookup(featuriser, hashes)
    pool_sel = found & ~is_eval
    eval_sel = found & is_eval
    labels = current_labels(s, project.id)
    names = list(project.labels)

    def targets(sel: np.ndarray) -> np.ndarray:
        return task.to_target([labels[i].labels if i in labels else None for i in ids[sel]], names)

    settings = project_settings(project)
    n_pool = int(pool_sel.sum())
    rng = np.random.default_rng(seed)
    stop_n = min(int(settings.get("stop_set_size") or 1000), n_pool)
    last_version = s.scalar(select(func.max(ModelVersion.version))
                            .where(ModelVersion.project_id == project.id)) or 0
    dim = _featuriser_dim(featuriser)
    return ProjectState(
        project_id=project.id,
        task=task,
        label_names=names,
        featuriser_key=featuriser.key,
        pipeline=project_pipeline(project),
        settings=settings,
        index=PoolIndex(ids[pool_sel]),
        X=np.ascontiguousarray(vecs[pool_sel]).reshape(-1, dim),
        y=targets(pool_sel),
        eval_index=PoolIndex(ids[eval_sel]),
        X_eval=np.ascontiguousarray(vecs[eval_sel]).reshape(-1, dim),
        y_eval=targets(eval_sel),
        n_unfeaturised=int((~found).sum()),
        version=int(last_version),
        stop_rows=np.sort(rng.choice(n_pool, size=stop_n, replace=False)) if stop_n else
        np.zeros(0, dtype=np.int64),
    )
