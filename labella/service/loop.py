"""The online labelling loop: ``next``, ``annotate``, ``skip``, ``undo``.

``annotate`` commits the annotation row before it returns (durable before it is
acknowledged), is idempotent per (annotator, request id), updates the in-memory
labels at once and wakes the refitter; the refit (head, pool scores, queue)
runs on a background thread, so no request waits for a model. ``next`` hands
out the highest-ranked unlabelled items that no other annotator holds, each
with the model's suggestion, its confidence and why it was chosen.

The :class:`LoopManager` owns the per-project states and the refitter thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from labella._threads import run_in_background_priority
from labella.al.types import labeled_mask
from labella.service.errors import InvalidRequestError, NotFoundError
from labella.service.refit import RefitResult, Snapshot, refit
from labella.service.replies import AnnotationAck, NextItem, Reason
from labella.service.state import ProjectState, Ranked, Served, load_state
from labella.store.annotations import Annotation
from labella.store.base import utcnow
from labella.store.items import Item
from labella.store.models import ModelVersion
from labella.store.projects import Project

log = logging.getLogger(__name__)

MAX_NEXT = 100


class LoopManager:
    """Per-project loop states and the background refitter.

    Args:
        session_factory: makes database sessions.
        featuriser_for: project -> its featuriser instance.
        cache: the embedding cache.
        lease_seconds: how long an item handed out stays reserved.
        refit_share: the largest share of the time the refitter may spend refitting. After
            a refit that took ``t`` seconds it rests ``t * (1 / refit_share - 1)`` seconds,
            so that under a burst of labels the requests keep most of the CPU (and of
            Python's interpreter lock). At human labelling speed it never rests: a refit
            of 100 000 items takes about a tenth of a second.
    """

    def __init__(self, session_factory: Callable[[], Session], *,
                 featuriser_for: Callable[[Project], Any], cache: Any,
                 lease_seconds: float = 600.0, refit_share: float = 0.25) -> None:
        if not 0 < refit_share <= 1:
            raise ValueError(f"refit_share must be in (0, 1]; got {refit_share}")
        self._sessions = session_factory
        self._featuriser_for = featuriser_for
        self._cache = cache
        self.lease_seconds = lease_seconds
        self.refit_share = refit_share
        self._states: dict[int, ProjectState] = {}
        self._load_locks: dict[int, threading.Lock] = {}
        self._guard = threading.Lock()
        self._dirty: set[int] = set()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.refits = 0

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="labella-refit", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    # -- states ------------------------------------------------------------------------

    def state(self, project_id: int) -> ProjectState:
        """The project's loop state, loaded (and first refitted) on first use."""
        st = self._states.get(project_id)
        if st is not None:
            return st
        with self._guard:
            lock = self._load_locks.setdefault(project_id, threading.Lock())
        with lock:
            st = self._states.get(project_id)
            if st is None:
                st = self._load(project_id)
                self._refit_now(st)
                self._states[project_id] = st
        return st

    def _load(self, project_id: int, *, carry: ProjectState | None = None) -> ProjectState:
        with self._sessions() as s:
            project = s.get(Project, project_id)
            if project is None:
                raise NotFoundError(f"no project with id {project_id}")
            st = load_state(s, project, self._featuriser_for(project), self._cache, seed=project_id)
        if carry is not None:
            st.leases, st.skipped, st.served = carry.leases, carry.skipped, carry.served
            st.version = max(st.version, carry.version)
        return st

    def reload(self, project_id: int) -> None:
        """Rebuild a project's state (after an import, featurisation or settings change)
        and swap it in; requests keep using the old one until the new one is ready."""
        old = self._states.get(project_id)
        if old is None:
            return
        new = self._load(project_id, carry=old)
        self._refit_now(new)
        self._states[project_id] = new

    def forget(self, project_id: int) -> None:
        self._states.pop(project_id, None)

    def loaded(self, project_id: int) -> ProjectState | None:
        return self._states.get(project_id)

    # -- refitting ---------------------------------------------------------------------

    def mark_dirty(self, project_id: int) -> None:
        with self._wake:
            self._dirty.add(project_id)
            self._wake.notify_all()

    def _run(self) -> None:
        run_in_background_priority()  # requests first: refits take the CPU they leave
        while True:
            with self._wake:
                while not self._dirty and not self._stopping:
                    self._wake.wait()
                if self._stopping:
                    return
                pid = self._dirty.pop()
            st = self._states.get(pid)
            if st is None:
                continue
            t0 = time.monotonic()
            try:
                self._refit_now(st)
            except Exception:  # the refitter must survive a bad refit; the error is logged
                log.exception("online refit of project %d failed", pid)
            end = time.monotonic()
            resume = end + (end - t0) * (1 / self.refit_share - 1)
            with self._wake:  # rest (new labels do not cut it short; stop() does)
                while not self._stopping and (left := resume - time.monotonic()) > 0:
                    self._wake.wait(left)

    def _snapshot(self, st: ProjectState) -> Snapshot:
        with st.lock:
            n_lab = st.n_labeled
            last = st.cv_at
            want_cv = n_lab >= 10 and (n_lab >= last * 1.2 or n_lab - last >= int(
                st.settings.get("batch_size") or 10))
            return Snapshot(
                X=st.X, y=st.y.copy(), X_eval=st.X_eval, y_eval=st.y_eval.copy(),
                n_classes=st.n_classes, multi_label=st.multi_label, label_names=st.label_names,
                pipeline=st.pipeline, queue_size=int(st.settings.get("queue_size") or 100),
                stop_rows=st.stop_rows, labels_changed=st.labels_changed, want_cv=want_cv,
                seed=st.project_id * 1_000_003 + st.labels_changed, previous_head=st.head,
            )

    def _refit_now(self, st: ProjectState) -> RefitResult:
        with st.refit_lock:  # one refit of a project at a time: versions are numbered in order
            return self._refit_locked(st)

    def _refit_locked(self, st: ProjectState) -> RefitResult:
        snap = self._snapshot(st)
        res = refit(snap)
        version = self._record_version(st, res)
        with st.lock:
            if res.labels_changed >= st.applied_changes:
                st.head, st.proba = res.head, res.proba
                st.ranked = Ranked(res.rows, res.scores, res.strategy, version)
                st.version = version
                st.applied_changes = res.labels_changed
                if res.stop_pred is not None:
                    st.stop_history.append(res.stop_pred)
                if res.metrics.get("source") == "cross_validation":
                    st.cv_at = res.n_labels
                st.last_metrics = res.metrics
        self.refits += 1
        return res

    def _record_version(self, st: ProjectState, res: RefitResult) -> int:
        """Persist a model version for a fitted head; returns its number (unchanged if no head)."""
        if res.head is None:
            return st.version
        params: dict[str, Any] = getattr(res.head, "get_params", dict)()
        with self._sessions() as s, s.begin():
            last = s.scalar(select(ModelVersion.version).where(
                ModelVersion.project_id == st.project_id).order_by(
                ModelVersion.version.desc()).limit(1)) or 0
            mv = ModelVersion(
                project_id=st.project_id, version=last + 1, kind="online",
                featuriser_key=st.featuriser_key, head=st.pipeline.head,
                head_params=_json_safe(params), strategy=st.pipeline.strategy,
                n_labels=res.n_labels, metrics=res.metrics)
            s.add(mv)
        return last + 1

    # -- the loop ----------------------------------------------------------------------

    def next_items(self, s: Session, project_id: int, user_id: int, n: int) -> list[NextItem]:
        if not 1 <= n <= MAX_NEXT:
            raise InvalidRequestError(f"n must be between 1 and {MAX_NEXT}; got {n}")
        st = self.state(project_id)
        now = time.monotonic()
        picked: list[tuple[int, float | None, str, int]] = []
        with st.lock:
            skipped = st.skipped.get(user_id, set())

            def free(row: int) -> bool:
                # unlabelled, not skipped by this user, and not held by another annotator
                # (an item this user already holds is theirs to get again: a page that
                # prefetches asks repeatedly and keeps what it already has)
                if st.is_labeled(row) or row in skipped:
                    return False
                lease = st.leases.get(row)
                return lease is None or lease[0] == user_id or lease[1] < now

            rk = st.ranked
            if rk is not None:
                for row, score in zip(rk.rows.tolist(), rk.scores.tolist(), strict=True):
                    if len(picked) == n:
                        break
                    if free(row):
                        picked.append((row, None if score != score else float(score),
                                       rk.strategy, rk.model_version))
            if len(picked) < n:
                # the ranked queue is used up until the refitter catches up: fall back to
                # the most uncertain free items under the current model, or random ones
                taken = [p[0] for p in picked]
                for row, score, why in self._fallback(st, n - len(picked), taken, user_id, now):
                    picked.append((row, score, why, st.version))
                if len(picked) < n:
                    self.mark_dirty(project_id)
            for row, _score, _why, _v in picked:
                st.leases[row] = (user_id, now + self.lease_seconds)
            suggestions = self._suggest(st, [p[0] for p in picked])
            for (row, *_), (sugg, conf) in zip(picked, suggestions, strict=True):
                st.served[(user_id, row)] = Served(st.version if sugg is not None else None,
                                                   sugg, conf)
            ids = st.index.ids([p[0] for p in picked]).tolist() if picked else []
        items = {i.id: i for i in s.scalars(select(Item).where(Item.id.in_(ids)))} if ids else {}
        out = []
        for item_id, (_row, score, why, version), (sugg, conf) in zip(
                ids, picked, suggestions, strict=True):
            it = items[item_id]
            out.append(NextItem(item_id, it.text, it.blob_key, it.image_name, sugg, conf,
                                Reason(why, score, version)))
        return out

    @staticmethod
    def _fallback(st: ProjectState, k: int, taken: list[int], user_id: int,
                  now: float) -> list[tuple[int, float | None, str]]:
        """``k`` free rows when the ranked queue is used up (vectorised: this runs inside a
        request, over the whole pool)."""
        free = ~labeled_mask(st.y)
        blocked = list(taken) + list(st.skipped.get(user_id, ()))
        blocked += [row for row, (holder, until) in st.leases.items()
                    if holder != user_id and until >= now]
        if blocked:
            free[np.asarray(blocked, dtype=np.int64)] = False
        cand = np.flatnonzero(free)
        if len(cand) == 0:
            return []
        if st.proba is not None:
            if st.multi_label:  # closeness of each label's probability to 1/2, averaged
                margin = np.abs(st.proba[cand] - 0.5).mean(axis=1)
            else:
                p = np.sort(st.proba[cand], axis=1)
                margin = p[:, -1] - p[:, -2]
            top = np.argpartition(margin, k - 1)[:k] if k < len(cand) else np.arange(len(cand))
            order = top[np.argsort(margin[top], kind="stable")]
            return [(int(cand[i]), float(-margin[i]), "margin (queue refilling)") for i in order]
        rng = np.random.default_rng(st.project_id + st.labels_changed)
        sel = rng.choice(len(cand), size=min(k, len(cand)), replace=False)
        return [(int(cand[i]), None, "random (cold start)") for i in sel]

    @staticmethod
    def _suggest(st: ProjectState, rows: list[int]) -> list[tuple[list[str] | None, float | None]]:
        if st.proba is None or not rows:
            return [(None, None)] * len(rows)
        proba = st.proba[rows]
        names = st.task.from_prediction(proba, st.label_names)
        conf = st.task.confidence(proba)
        return [(n, float(c)) for n, c in zip(names, conf, strict=True)]

    def annotate(self, s: Session, project_id: int, user_id: int, item_id: int, *,
                 action: str, labels: list[str] | None = None, request_id: str | None = None,
                 meta: dict[str, Any] | None = None) -> AnnotationAck:
        """Record one annotation (``label``, ``skip`` or ``undo``) durably, then update the loop.

        ``s`` must not be inside a transaction; this commits.
        """
        st = self.state(project_id)
        if request_id is not None:
            ack = self._seen_request(s, st, user_id, item_id, action, request_id)
            if ack is not None:
                return ack
        item = s.get(Item, item_id)
        if item is None or item.project_id != project_id:
            raise NotFoundError(f"no item {item_id} in project {project_id}")
        row = st.index.row(item_id) if item.split == "pool" else st.eval_index.row(item_id)
        with st.lock:
            served = st.served.pop((user_id, row), None) if row is not None and item.split == "pool" \
                else None
        ann = Annotation(
            project_id=project_id, item_id=item_id, user_id=user_id, action=action,
            value=labels if action == "label" else None, request_id=request_id,
            model_version=served.model_version if served else None,
            suggestion=served.suggestion if served else None,
            confidence=served.confidence if served else None,
            meta=meta or {}, created_at=utcnow())
        s.add(ann)
        try:
            s.commit()  # durable before it is acknowledged
        except IntegrityError:
            # a concurrent retry of the same request committed first: its answer stands
            s.rollback()
            ack = self._seen_request(s, st, user_id, item_id, action, request_id) \
                if request_id is not None else None
            if ack is None:
                raise
            return ack
        new_value: list[str] | None = None
        changed = action in ("label", "undo")
        if action == "undo":
            from labella.service.labels import current_labels

            cur = current_labels(s, project_id, item_ids=[item_id]).get(item_id)
            new_value = cur.labels if cur else None
        elif action == "label":
            new_value = labels
        with st.lock:
            if row is not None:
                if item.split == "pool":
                    if changed:
                        st.set_label(row, new_value)
                    if action == "skip":
                        st.skipped.setdefault(user_id, set()).add(row)
                    if action == "undo":
                        st.skipped.get(user_id, set()).discard(row)
                    st.leases.pop(row, None)
                elif changed:
                    st.set_eval_label(row, new_value)
            n_labeled, version = st.n_labeled, st.version
        if changed:
            self.mark_dirty(project_id)
        return AnnotationAck(ann.id, item_id, action, ann.value, n_labeled, version,
                             duplicate=False)

    @staticmethod
    def _seen_request(s: Session, st: ProjectState, user_id: int, item_id: int, action: str,
                      request_id: str) -> AnnotationAck | None:
        """The ack of this annotator's earlier request with this id, if there was one."""
        prev = s.scalar(select(Annotation).where(Annotation.user_id == user_id,
                                                 Annotation.request_id == request_id))
        if prev is None:
            return None
        if prev.item_id != item_id or prev.action != action:
            raise InvalidRequestError(
                f"request id {request_id!r} was already used for a different annotation")
        return AnnotationAck(prev.id, prev.item_id, prev.action, prev.value,
                             st.n_labeled, st.version, duplicate=True)


def _json_safe(params: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in params.items():
        if isinstance(v, (bool, int, float, str)) or v is None:
            out[k] = v
        elif isinstance(v, np.generic):
            out[k] = v.item()
        else:
            out[k] = repr(v)
    return out
