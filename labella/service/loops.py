"""Per-project loop states and the background refitter.

:class:`ProjectLoops` keeps one :class:`~labella.service.state.ProjectState` per
project: it loads it on first use, replaces it after the pool changed (a reload, in the
background, replaying onto the replacement whatever annotators did meanwhile), takes
settings changes in place, and refits each dirty project's head on a low-priority
thread, so no request waits for a model. The labelling use-cases on top of it live in
:mod:`labella.service.loop`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from labella._threads import run_in_background_priority
from labella.al import audit
from labella.service.errors import NotFoundError
from labella.service.labels import consensus_method
from labella.service.refit import RefitResult, Snapshot, refit
from labella.service.relabel import relabel_candidates, standing_answers
from labella.service.state import (
    ProjectState,
    Ranked,
    carry_over,
    inherit,
    load_state,
    project_pipeline,
    project_settings,
    relabel_on,
    stop_rows,
)
from labella.store.events import ProjectEvent
from labella.store.models import ModelVersion
from labella.store.projects import Project

log = logging.getLogger(__name__)

AUDIT_EVERY = 10
"""The live audit re-estimates once the labels have grown by this many (or by a tenth)."""


class ProjectLoops:
    """Per-project loop states and the background refitter.

    Args:
        session_factory: makes database sessions.
        featuriser_for: project -> its featuriser instance.
        cache: the embedding cache.
        read_factory: makes sessions that only read (default: ``session_factory``); states
            are loaded and settings read through it.
        lease_seconds: how long an item handed out stays reserved.
        refit_share: the largest share of the time the refitter may spend refitting. After
            a refit that took ``t`` seconds it rests ``t * (1 / refit_share - 1)`` seconds,
            so that under a burst of labels the requests keep most of the CPU (and of
            Python's interpreter lock). At human labelling speed it never rests: a refit
            of 100 000 items takes about a tenth of a second.
        first_refit_wait: how long ``next`` waits, at most, for the first refit of a project
            just loaded (after a restart) before it serves fallback picks.
    """

    def __init__(self, session_factory: Callable[[], Session], *,
                 featuriser_for: Callable[[Project], Any], cache: Any,
                 read_factory: Callable[[], Session] | None = None,
                 lease_seconds: float = 600.0, refit_share: float = 0.25,
                 first_refit_wait: float = 3.0) -> None:
        if not 0 < refit_share <= 1:
            raise ValueError(f"refit_share must be in (0, 1]; got {refit_share}")
        self._sessions = session_factory
        # loading a state and reading settings only read: on SQLite a read session takes
        # no write lock, so a reload of a large project never holds up the annotators
        self._readers = read_factory or session_factory
        self._featuriser_for = featuriser_for
        self._cache = cache
        self.lease_seconds = lease_seconds
        self.first_refit_wait = first_refit_wait
        self.refit_share = refit_share
        self._states: dict[int, ProjectState] = {}
        self._load_locks: dict[int, threading.Lock] = {}
        self._guard = threading.Lock()
        self._dirty: set[int] = set()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._version_lock = threading.Lock()
        self._reloading: set[int] = set()
        self._reload_again: set[int] = set()
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
        """The project's current loop state, loaded on first use. Its first refit runs on
        the refitter thread (``ready`` is set when it has a queue): no request fits a model.
        """
        st = self._states.get(project_id)
        if st is not None:
            return st
        with self._guard:
            lock = self._load_locks.setdefault(project_id, threading.Lock())
        with lock:
            st = self._states.get(project_id)
            if st is None:
                st = self._load(project_id)
                self._states[project_id] = st
                self.mark_dirty(project_id)
        return st

    def _load(self, project_id: int) -> ProjectState:
        with self._readers() as s:
            project = s.get(Project, project_id)
            if project is None:
                raise NotFoundError(f"no project with id {project_id}")
            return load_state(s, project, self._featuriser_for(project), self._cache,
                              seed=project_id)

    def reload(self, project_id: int) -> None:
        """Rebuild a project's state after its pool changed (an import, a featurisation)
        and swap it in. The caller waits (jobs call this); requests keep being served by
        the old state meanwhile, and nothing they do is lost: annotations committed while
        the new state is read and refitted are replayed onto it before the swap
        (:func:`~labella.service.state.carry_over`). Reloads of one project run one at a
        time."""
        with self._guard:
            lock = self._load_locks.setdefault(project_id, threading.Lock())
        with lock:
            old = self._states.get(project_id)
            if old is None:
                return
            with old.lock:
                old.journal = []  # from here on, every change is kept for the replay
            try:
                new = self._load(project_id)
                with old.lock:
                    inherit(old, new)
                self._refit_now(new)
            except BaseException:
                with old.lock:
                    old.journal = None
                raise
            with old.lock:
                replayed = carry_over(old, new)
                if new.settings != old.settings or new.pipeline != old.pipeline:
                    # settings changed while the new state was read: ``old`` has taken
                    # them in place (apply_settings), ``new`` has those of its read
                    _take_settings(new, old.pipeline, old.settings)
                self._states[project_id] = new
        if replayed:
            self.mark_dirty(project_id)

    def request_reload(self, project_id: int) -> None:
        """:meth:`reload` on a background thread (coalesced: requests made while one runs
        give one more reload after it)."""
        if project_id not in self._states:
            return
        with self._guard:
            if project_id in self._reloading:
                self._reload_again.add(project_id)
                return
            self._reloading.add(project_id)
        threading.Thread(target=self._reload_in_background, args=(project_id,),
                         name=f"labella-reload-{project_id}", daemon=True).start()

    def _reload_in_background(self, project_id: int) -> None:
        run_in_background_priority()
        while True:
            try:
                self.reload(project_id)
            except Exception:  # logged; the old state keeps serving
                log.exception("reload of project %d failed", project_id)
            with self._guard:
                if project_id not in self._reload_again:
                    self._reloading.discard(project_id)
                    return
                self._reload_again.discard(project_id)

    def apply_settings(self, project_id: int) -> bool:
        """Take a project's new strategy, head and loop settings into its running state, in
        place (milliseconds); the refitter refits with them in the background. Returns
        whether a refit is pending (False if the project's loop is not loaded)."""
        if project_id not in self._states:
            return False
        with self._readers() as s:
            project = s.get(Project, project_id)
            if project is None:
                raise NotFoundError(f"no project with id {project_id}")
            pipeline, settings = project_pipeline(project), project_settings(project)
        with self._current(self.state(project_id)) as st:
            relabel = _take_settings(st, pipeline, settings)
        self.mark_dirty(project_id)
        if relabel:  # every item with several answers may get another training target
            self.request_reload(project_id)
        return True

    def wait_idle(self, project_id: int, timeout: float = 30.0) -> bool:
        """Wait until no reload of the project runs and its head has caught up with every
        change (for tests, benchmarks and command-line tools); False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._guard:
                busy = project_id in self._reloading
            st = self._states.get(project_id)
            if not busy and (st is None or (st.ready.is_set() and not st.refit_pending)):
                return True
            time.sleep(0.02)
        return False

    @staticmethod
    @contextmanager
    def _current(st: ProjectState) -> Iterator[ProjectState]:
        """Lock the state that currently counts, following replacements from ``st``."""
        while True:
            st.lock.acquire()
            if st.successor is None:
                break
            nxt = st.successor
            st.lock.release()
            st = nxt
        try:
            yield st
        finally:
            st.lock.release()

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
            n_lab = st.n_labeled - st.n_model_accepted  # what the head is fitted on
            last = st.cv_at
            want_cv = n_lab >= 10 and (n_lab >= last * 1.2 or n_lab - last >= int(
                st.settings.get("batch_size") or 10))
            audited = st.audit_history[-1].n_labels if st.audit_history else 0
            want_audit = (st.pipeline.audit_share > 0 and n_lab >= audit.MIN_AUDIT
                          and n_lab >= audited + max(AUDIT_EVERY, audited // 10))
            return Snapshot(
                X=st.X, y=st.y.copy(), X_eval=st.X_eval, y_eval=st.y_eval.copy(),
                n_classes=st.n_classes, multi_label=st.multi_label, label_names=st.label_names,
                pipeline=st.pipeline, queue_size=int(st.settings.get("queue_size") or 100),
                stop_rows=st.stop_rows, labels_changed=st.labels_changed, want_cv=want_cv,
                seed=st.project_id * 1_000_003 + st.labels_changed, previous_head=st.head,
                audit_rows=st.audit_rows.copy(), want_audit=want_audit,
                model_rows=st.model_rows.copy() if len(st.model_rows) else None,
                first_batch=int(st.settings.get("batch_size") or 10),
            )

    def _refit_now(self, st: ProjectState) -> RefitResult:
        with st.refit_lock:  # one refit of a project at a time: versions are numbered in order
            return self._refit_locked(st)

    def _refit_locked(self, st: ProjectState) -> RefitResult:
        snap = self._snapshot(st)
        res = refit(snap)
        relabel = self._relabel_ids(st, res)
        version = self._record_version(st, res)
        with st.lock:
            if res.labels_changed >= st.applied_changes:
                st.head, st.proba = res.head, res.proba
                if relabel is not None:  # by item id: the answers may have moved on meanwhile
                    rows = {st.index.row(i): v for i, v in relabel.items()}
                    st.set_relabel({r: v for r, v in rows.items() if r is not None})
                st.ranked = Ranked(res.rows, res.scores, res.strategy, version, res.audit)
                st.version = version
                st.applied_changes = res.labels_changed
                if res.stop_pred is not None:
                    st.stop_history.append(res.stop_pred)
                if res.metrics.get("source") == "cross_validation":
                    st.cv_at = res.n_labels
                st.last_metrics = res.metrics
                if res.calibrator is not None:
                    st.calibrator = res.calibrator
            if res.estimate is not None:
                st.audit_history.append(res.estimate)
            switch = (res.estimate is not None and st.pipeline.switch_when_losing
                      and audit.should_switch(st.audit_history))
            if not relabel_on(st.settings) and st.relabel:
                st.set_relabel({})
            st.ready.set()
        self.refits += 1
        if switch and res.estimate is not None:
            self._switch_to_random(st.project_id, res.estimate)
        return res

    def _relabel_ids(self, st: ProjectState, res: RefitResult) -> dict[int, float] | None:
        """With the ``relabel`` setting on: the second-opinion candidates under this refit's
        model (:mod:`labella.service.relabel`), item id -> score; ``None`` when off."""
        with st.lock:
            on = relabel_on(st.settings) and res.proba is not None and not st.multi_label
        if not on:
            return None
        try:
            with self._readers() as s:
                answers = standing_answers(s, st.project_id)
            scores = relabel_candidates(st, answers, proba=res.proba, queue=res.rows)
        except Exception:  # no second opinions this time; the refit itself stands
            log.exception("relabel candidates of project %d failed", st.project_id)
            return None
        ids = st.index.ids(list(scores)).tolist() if scores else []
        return dict(zip(ids, scores.values(), strict=True))

    def _switch_to_random(self, project_id: int, est: audit.AuditEstimate) -> None:
        """The audit says active learning is losing: query at random from now on, and say so
        in the project's history."""
        with self._sessions() as s, s.begin():
            project = s.get(Project, project_id)
            if project is None or project.strategy == audit.FALLBACK_STRATEGY:
                return
            before = project.strategy
            project.strategy = audit.FALLBACK_STRATEGY
            s.add(ProjectEvent(
                project_id=project_id, kind="strategy_switched",
                message=(f"Switched the query strategy from {before} to "
                         f"{audit.FALLBACK_STRATEGY} sampling at {est.n_labels} labels: the live "
                         f"audit found active learning behind random sampling "
                         f"{audit.SWITCH_AFTER} times in a row. {est.reason}"),
                data={"from": before, "to": audit.FALLBACK_STRATEGY, "estimate": est.as_dict()}))
        log.warning("project %d: switched its strategy from %s to %s (the audit: %s)",
                    project_id, before, audit.FALLBACK_STRATEGY, est.reason)
        self.apply_settings(project_id)

    def _record_version(self, st: ProjectState, res: RefitResult) -> int:
        """Persist a model version for a fitted head; returns its number (unchanged if no head)."""
        if res.head is None:
            return st.version
        params: dict[str, Any] = getattr(res.head, "get_params", dict)()
        # one writer of version numbers at a time (a reload refits beside the refitter)
        with self._version_lock, self._sessions() as s, s.begin():
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


def _take_settings(st: ProjectState, pipeline: Any, settings: dict[str, Any]) -> bool:
    """Put new loop settings into a state in place (the caller holds its lock); returns
    whether the consensus method changed (every item with several answers may then get
    another training target: the caller reloads)."""
    old_stop = int(st.settings.get("stop_set_size") or 1000)
    old_consensus, old_settings = consensus_method(st.settings), st.settings
    st.pipeline, st.settings = pipeline, settings
    if int(settings.get("stop_set_size") or 1000) != old_stop:
        st.stop_rows = stop_rows(len(st.index), settings, seed=st.project_id)
        st.stop_history.clear()
    st.labels_changed += 1  # the head and queue are behind until the next refit
    overlap = ("labels_per_item", "overlap_share", "relabel")
    if any(settings.get(k) != old_settings.get(k) for k in overlap):
        st.update_pending()  # items may need more (or fewer) answers now
    return consensus_method(settings) != old_consensus


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
