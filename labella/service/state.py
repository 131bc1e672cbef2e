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
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from labella.al.audit import AuditEstimate
from labella.al.calibration import Calibrator
from labella.al.heads import Head
from labella.al.pipelines import Pipeline, pipeline_for
from labella.al.types import UNLABELED, labeled_mask
from labella.features.base import Featuriser
from labella.features.cache import EmbeddingCache
from labella.service.labels import current_labels
from labella.service.poolmap import PoolIndex
from labella.store.annotations import Annotation
from labella.store.items import Item
from labella.store.models import READY, ModelVersion
from labella.store.projects import Project
from labella.tasks import TaskType, get_task

DEFAULT_SETTINGS: dict[str, Any] = {
    "batch_size": 10,
    "queue_size": 100,
    "exploration": 0.0,
    "cold_start": None,
    "label_budget": None,
    "stop_set_size": 1000,
    "audit_share": None,
    "preselect_threshold": None,
    "hotkeys": None,
    "labels_per_item": 1,
    "overlap_share": 0.0,
    "consensus": "majority",
    "relabel": "off",
}
"""Loop settings of a new project; ``settings`` on the project overrides them."""


def project_settings(project: Project) -> dict[str, Any]:
    return {**DEFAULT_SETTINGS, **(project.settings or {})}


def overlap_item(item_id: int, share: float) -> bool:
    """Whether an item is one of the ``share`` of items that get ``labels_per_item``
    answers: a fixed pseudo-random draw per item id (stable across restarts)."""
    if share >= 1.0:
        return True
    return ((item_id * 0x9E3779B1) % 2**32) / 2**32 < share


RELABEL_MODES = ("off", "activelab")
"""``relabel`` setting: ``activelab`` asks for a second opinion on a labelled item where
ActiveLab finds one worth more than a new label (:mod:`labella.service.relabel`)."""


def relabel_on(settings: dict[str, Any]) -> bool:
    return settings.get("relabel") == "activelab"


def relabel_cap(settings: dict[str, Any]) -> int:
    """The most answers a second-opinion candidate may get."""
    return max(int(settings.get("labels_per_item") or 1), 2)


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
    share = cfg.get("audit_share")  # None: the pipeline's own (the default's is 10 %)
    return replace(base, strategy=strategy, head=project.head or base.head,
                   cold_start=None if cold in (None, "random") else str(cold),
                   strategy_params=params,
                   audit_share=base.audit_share if share is None else float(share))


@dataclass
class Ranked:
    """The queue: rows in priority order with the strategy's score and the reason."""

    rows: np.ndarray
    scores: np.ndarray
    strategy: str
    model_version: int
    audit: np.ndarray | None = None
    """Shape ``(len(rows),)`` bool: True where the row was drawn uniformly at random for
    the live audit (:mod:`labella.al.audit`); ``None``: no audit picks."""
    made_at: float = field(default_factory=time.monotonic)


@dataclass
class Served:
    """What an annotator was shown for an item (recorded with their answer)."""

    model_version: int | None
    suggestion: list[str] | None
    confidence: float | None
    audit: bool = False


@dataclass(frozen=True)
class Change:
    """One annotation's effect on the loop, by item id (row positions differ between a
    state and the state that replaces it after a reload).

    ``kind``: ``label`` (``value`` is the item's label now, ``None`` after an undo that
    left it unlabelled), ``skip`` or ``unskip`` (of ``user_id``), ``answered`` or
    ``retracted`` (``user_id``'s standing answer, for overlap). ``split``: ``pool`` or
    ``evaluation``.
    """

    item_id: int
    split: str
    kind: str
    value: list[str] | None = None
    user_id: int | None = None
    audit: bool = False
    """For ``label``: the item was an audit pick when it was served."""
    model: bool = False
    """For ``label``: the label was accepted from the model's suggestion (source ``model``)."""


ANSWERED, RETRACTED = "answered", "retracted"
"""Change kinds: ``user_id`` now has a standing answer on the item / no longer has one."""


@dataclass
class ProjectState:
    """Everything the loop keeps in memory for one project (guarded by ``lock``).

    A state is replaced, not edited, when the pool itself changes (an import, a
    featurisation): the new state is built and refitted in the background while this one
    keeps serving, then :func:`carry_over` moves what happened meanwhile (the
    annotations recorded in ``journal``, the leases, skips and what was served) onto it
    under this state's lock and sets ``successor``. Whoever finds a ``successor`` under
    the lock must follow it: the retired state no longer counts.
    """

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
    answers: dict[int, tuple[int | None, ...]] = field(default_factory=dict)
    """Per labelled pool row: who has a standing answer (``None``: an imported label)."""
    pending: dict[int, None] = field(default_factory=dict)
    """Pool rows answered but still short of their ``labels_per_item``, oldest first."""
    co_leases: dict[int, dict[int, float]] = field(default_factory=dict)
    """Leases on ``pending`` rows: row -> {annotator: until} (several may hold one row, as
    many as answers are still needed); ``leases`` holds unlabelled rows, one annotator each."""
    closed: set[int] = field(default_factory=set)
    """Pool rows a reviewer decided: they need no more answers."""
    relabel: dict[int, float] = field(default_factory=dict)
    """Pool rows worth a second opinion more than a new label (``relabel`` setting
    ``activelab``): row -> ActiveLab score, lowest first; set by the refitter."""
    stop_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    stop_history: deque[np.ndarray] = field(default_factory=lambda: deque(maxlen=6))
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    refit_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    labels_changed: int = 0
    """Counts changes of labels or settings; the refitter compares it to know whether it
    is behind."""
    applied_changes: int = -1
    """``labels_changed`` of the snapshot behind the current head and queue."""
    cv_at: int = 0
    """Number of labels at the last cross-validated evaluation."""
    last_metrics: dict[str, Any] = field(default_factory=dict)
    journal: list[Change] | None = None
    """While a replacement is being built: every change applied since it started reading
    the database (``None`` when no replacement is under way)."""
    successor: ProjectState | None = None
    """The state that replaced this one (set once, under ``lock``)."""
    ready: threading.Event = field(default_factory=threading.Event, repr=False)
    audit_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    """Per pool row: its current label came from an audit pick (an unbiased sample)."""
    audit_history: list[Any] = field(default_factory=list)
    """The live audit's estimates (:class:`labella.al.audit.AuditEstimate`), oldest first."""
    model_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    """Per pool row: its current label was accepted from the model (auto-accept): the head
    is neither fitted nor evaluated on it (:func:`labella.service.refit.training_mask`)."""
    calibrator: Calibrator | None = None
    """Temperature scaling of the head's confidences, fitted on held-out labels (evaluation
    items, or out-of-fold predictions); ``None`` until there are enough of them."""
    """Set once a refit has given this state a queue (or found nothing to rank)."""

    @property
    def refit_pending(self) -> bool:
        """True while labels or settings have changed since the current head was fitted."""
        return self.applied_changes < self.labels_changed

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

    @property
    def n_model_accepted(self) -> int:
        """Labelled pool rows whose label was accepted from the model."""
        return int(self.model_rows.sum()) if len(self.model_rows) else 0

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

    def needed_answers(self, row: int) -> int:
        """How many annotators' answers pool row ``row`` should get."""
        k = int(self.settings.get("labels_per_item") or 1)
        if row in self.relabel and relabel_on(self.settings):
            return relabel_cap(self.settings)  # a second opinion is worth more than a new label
        if k <= 1:
            return 1
        share = float(self.settings.get("overlap_share") or 0.0)
        return k if overlap_item(int(self.index.item_ids[row]), share) else 1

    def set_relabel(self, scores: dict[int, float]) -> None:
        """Replace the second-opinion candidates (row -> score) and recompute which rows
        still need answers (caller holds ``lock``)."""
        old, self.relabel = self.relabel, dict(scores)
        self.update_pending([*old, *(r for r in scores if r not in old)])

    def update_pending(self, rows: Any = None) -> None:
        """Recompute whether ``rows`` (default: every answered row) still need answers."""
        for row in (list(self.answers) if rows is None else rows):
            n = len(self.answers.get(row, ()))
            if 0 < n < self.needed_answers(row) and row not in self.closed:
                self.pending.setdefault(row, None)
            else:
                self.pending.pop(row, None)
                self.co_leases.pop(row, None)

    def can_share(self, row: int, user_id: int, now: float) -> bool:
        """Whether pending row ``row`` may go to ``user_id``: they have not answered it, and
        its answers plus the other live holders stay within the answers it needs."""
        who = self.answers.get(row, ())
        if user_id in who:
            return False
        holders = sum(1 for u, until in self.co_leases.get(row, {}).items()
                      if u != user_id and until >= now)
        return len(who) + holders < self.needed_answers(row)

    def apply(self, change: Change) -> None:
        """Apply one annotation's effect (caller holds ``lock``); recorded in ``journal``
        while a replacement is being built. Items this state does not hold (not yet
        featurised) are skipped: the database has them, and the next load reads them."""
        if self.journal is not None:
            self.journal.append(change)
        if change.split != "pool":
            row = self.eval_index.row(change.item_id)
            if row is not None and change.kind == "label":
                self.set_eval_label(row, change.value)
            return
        row = self.index.row(change.item_id)
        if row is None:
            return
        if change.kind == "label":
            self.set_label(row, change.value)
            if len(self.audit_rows):
                self.audit_rows[row] = change.audit and change.value is not None
            if len(self.model_rows):
                self.model_rows[row] = change.model and change.value is not None
        elif change.kind == "skip" and change.user_id is not None:
            self.skipped.setdefault(change.user_id, set()).add(row)
        elif change.kind == "unskip" and change.user_id is not None:
            self.skipped.get(change.user_id, set()).discard(row)
        elif change.kind in (ANSWERED, RETRACTED):
            who = tuple(u for u in self.answers.get(row, ()) if u != change.user_id)
            if change.kind == ANSWERED:
                who += (change.user_id,)
                lease = self.leases.pop(row, None)
                if lease is not None and lease[0] != change.user_id:  # they still answer it
                    self.co_leases.setdefault(row, {})[lease[0]] = lease[1]
            if who:
                self.answers[row] = who
            else:
                self.answers.pop(row, None)
            self.update_pending([row])
        if change.kind in ("label", "skip"):
            self.leases.pop(row, None)
        if change.kind in (ANSWERED, "skip") and change.user_id is not None:
            self.co_leases.get(row, {}).pop(change.user_id, None)


def inherit(old: ProjectState, new: ProjectState) -> None:
    """Give a replacement ``new`` what ``old``'s model knows, so that its first refit is as
    cheap as an online one: the fitted head (a head that keeps state, such as a tuned
    ``C``, starts from it) and the last evaluation (no new cross-validation until the
    labels have grown). The caller holds ``old.lock``."""
    if new.n_classes != old.n_classes or new.multi_label != old.multi_label:
        return
    new.head = old.head
    new.cv_at, new.last_metrics = old.cv_at, dict(old.last_metrics)
    new.audit_history = list(old.audit_history)
    new.calibrator = old.calibrator


def carry_over(old: ProjectState, new: ProjectState) -> int:
    """Move onto ``new`` what ``old`` learnt while ``new`` was being built; returns the
    number of changes replayed. The caller holds ``old.lock`` and nobody else can see
    ``new`` yet.

    Replays ``old.journal`` (annotations committed since ``new`` started reading the
    database: replaying one that ``new`` already read sets the same value again), and
    translates the leases, skips and served suggestions from ``old``'s rows to ``new``'s
    through item ids (an import or featurisation can insert rows in the middle).
    """

    def moved(rows: list[int]) -> dict[int, int]:
        if not rows:
            return {}
        ids = old.index.ids(rows).tolist()
        out = {}
        for r, item_id in zip(rows, ids, strict=True):
            nr = new.index.row(item_id)
            if nr is not None:
                out[r] = nr
        return out

    journal = old.journal or []
    for change in journal:
        new.apply(change)
    rows = moved(sorted({*old.leases, *(r for rs in old.skipped.values() for r in rs),
                         *(r for _u, r in old.served), *old.co_leases}))
    new.leases = {rows[r]: lease for r, lease in old.leases.items() if r in rows}
    new.co_leases = {rows[r]: dict(held) for r, held in old.co_leases.items()
                     if r in rows and rows[r] in new.pending}
    new.skipped = {u: {rows[r] for r in rs if r in rows} for u, rs in old.skipped.items()}
    new.served = {(u, rows[r]): sv for (u, r), sv in old.served.items() if r in rows}
    new.version = max(new.version, old.version)
    old.journal = None
    old.successor = new
    return len(journal)


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
    audit_history = [AuditEstimate.from_dict(d) for d in s.scalars(
        select(ModelVersion.metrics["audit"]).where(
            ModelVersion.project_id == project.id, ModelVersion.status == READY)
        .order_by(ModelVersion.version)) if isinstance(d, dict)]
    audit_ids = set(s.scalars(select(Annotation.id).where(
        Annotation.project_id == project.id, Annotation.audit.is_(True)))) if labels else set()
    pool_ids = ids[pool_sel]
    last_version = s.scalar(select(func.max(ModelVersion.version))
                            .where(ModelVersion.project_id == project.id,
                                   ModelVersion.status == READY)) or 0
    dim = _featuriser_dim(featuriser)
    st = ProjectState(
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
        stop_rows=stop_rows(n_pool, settings, seed=seed),
        audit_history=audit_history,
        audit_rows=np.array([i in labels and labels[i].annotation_id in audit_ids
                             for i in pool_ids.tolist()], dtype=bool),
        model_rows=np.array([i in labels and labels[i].source == "model"
                             for i in pool_ids.tolist()], dtype=bool),
    )
    for item_id, cur in labels.items():
        row = st.index.row(item_id)
        if row is not None:
            if cur.annotators:
                st.answers[row] = cur.annotators
            if cur.reviewed:
                st.closed.add(row)
    st.update_pending()
    return st


def stop_rows(n_pool: int, settings: dict[str, Any], *, seed: int) -> np.ndarray:
    """The pool rows whose predictions the stopping rule watches (a fixed random sample)."""
    n = min(int(settings.get("stop_set_size") or 1000), n_pool)
    if not n:
        return np.zeros(0, dtype=np.int64)
    return np.sort(np.random.default_rng(seed).choice(n_pool, size=n, replace=False))
