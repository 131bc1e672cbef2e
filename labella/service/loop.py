"""The online labelling loop: ``next``, ``annotate``, ``skip``, ``undo``.

``annotate`` commits the annotation row before it returns (durable before it is
acknowledged), is idempotent per (annotator, request id), updates the in-memory
labels at once and wakes the refitter; the refit (head, pool scores, queue)
runs on a background thread, so no request waits for a model. ``next`` hands
out the highest-ranked unlabelled items that no other annotator holds, each
with the model's suggestion, its confidence and why it was chosen.

:class:`LoopManager` adds these use-cases to :class:`~labella.service.loops.ProjectLoops`,
which owns the per-project states and the refitter thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from labella.al.types import labeled_mask
from labella.service import explain
from labella.service.errors import ConflictError, InvalidRequestError, NotFoundError
from labella.service.labels import CurrentLabel, ProbaFor, consensus_method, current_labels
from labella.service.loops import ProjectLoops
from labella.service.pins import Pins
from labella.service.replies import AnnotationAck, NextItem, Reason
from labella.service.state import (
    ANSWERED,
    RETRACTED,
    Change,
    ProjectState,
    Served,
)
from labella.service.suggestions import suggest
from labella.store.annotations import Annotation
from labella.store.base import utcnow
from labella.store.items import Item

log = logging.getLogger(__name__)

MAX_NEXT = 100
COLD_REASON = "random (cold start)"
AUDIT_REASON = "random (audit: checks active learning against random sampling)"
"""The reason shown for an item drawn uniformly at random for the live audit."""
PINNED_REASON = "queued by you (similarity search)"
"""The reason shown for an item the annotator queued for themselves (:mod:`labella.service.pins`)."""
OVERLAP_REASON = "another opinion (the project asks for several answers per item)"
"""The reason shown for an item served again because it needs more answers (overlap)."""
RELABEL_REASON = ("second opinion: the answers so far disagree or the model doubts them "
                  "(ActiveLab)")
"""The reason shown for a labelled item whose second opinion is worth more than a new label
(the ``relabel`` setting, :mod:`labella.service.relabel`)."""


class LoopManager(ProjectLoops):
    """The labelling loop of every project: :class:`ProjectLoops` plus ``next`` and
    ``annotate`` (see :class:`ProjectLoops` for the arguments).

    ``pins``: per annotator, the items they queued for themselves; ``next`` serves them
    first, while they are unlabelled and not held by another annotator."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pins = Pins()

    @contextmanager
    def current(self, project_id: int) -> Iterator[ProjectState]:
        """The project's loop state that counts now, locked (loaded on first use)."""
        with self._current(self.state(project_id)) as st:
            yield st

    # -- the loop ----------------------------------------------------------------------

    def next_items(self, s: Session, project_id: int, user_id: int, n: int) -> list[NextItem]:
        if not 1 <= n <= MAX_NEXT:
            raise InvalidRequestError(f"n must be between 1 and {MAX_NEXT}; got {n}")
        st = self.state(project_id)
        if not st.ready.is_set():  # just loaded: its first refit is on the refitter thread
            st.ready.wait(self.first_refit_wait)
        now = time.monotonic()
        picked: list[tuple[int, float | None, str, int]] = []
        with self._current(st) as st:
            skipped = st.skipped.get(user_id, set())

            def free(row: int) -> bool:
                # unlabelled, not skipped by this user, and not held by another annotator
                # (an item this user already holds is theirs to get again: a page that
                # prefetches asks repeatedly and keeps what it already has)
                if st.is_labeled(row) or row in skipped:
                    return False
                lease = st.leases.get(row)
                return lease is None or lease[0] == user_id or lease[1] < now

            chosen: set[int] = set()
            stale: list[int] = []
            for item_id in self.pins.get(project_id, user_id):
                if len(picked) == n:
                    break
                row = st.index.row(item_id)
                if row is None or st.is_labeled(row) or row in skipped:
                    stale.append(item_id)  # labelled, skipped by this user, or gone
                elif free(row):
                    chosen.add(row)
                    picked.append((row, None, PINNED_REASON, st.version))
            self.pins.discard(project_id, stale, user_id=user_id)
            shared: set[int] = set()  # answered by others and still short of answers
            for row in st.pending:
                if len(picked) == n:
                    break
                if row not in chosen and row not in skipped and st.can_share(row, user_id, now):
                    chosen.add(row)
                    shared.add(row)
                    score = st.relabel.get(row)
                    picked.append((row, score, OVERLAP_REASON if score is None else RELABEL_REASON,
                                   st.version))
            rk = st.ranked
            audit_picks: set[int] = set()
            if rk is not None:
                flags = rk.audit.tolist() if rk.audit is not None else [False] * len(rk.rows)
                for row, score, is_audit in zip(rk.rows.tolist(), rk.scores.tolist(), flags,
                                                strict=True):
                    if len(picked) == n:
                        break
                    if row not in chosen and free(row):
                        if is_audit:  # drawn at random for the audit, not chosen by the strategy
                            audit_picks.add(row)
                            picked.append((row, None, AUDIT_REASON, rk.model_version))
                        else:
                            picked.append((row, None if score != score else float(score),
                                           rk.strategy, rk.model_version))
            if len(picked) < n:
                # the ranked queue is used up until the refitter catches up: fall back to
                # the most uncertain free items under the current model, or random ones
                taken = [p[0] for p in picked]
                for row, score, why in self._fallback(st, n - len(picked), taken, user_id, now):
                    if why == COLD_REASON and st.pipeline.audit_share > 0 \
                            and st.pipeline.cold_start is None:
                        # drawn uniformly from the free items: as good an audit pick as any
                        audit_picks.add(row)
                        why = AUDIT_REASON
                    picked.append((row, score, why, st.version))
                if len(picked) < n:
                    self.mark_dirty(project_id)
            for row, _score, _why, _v in picked:
                if row in shared:
                    st.co_leases.setdefault(row, {})[user_id] = now + self.lease_seconds
                else:
                    st.leases[row] = (user_id, now + self.lease_seconds)
            suggestions = suggest(st, [p[0] for p in picked])
            tops = ([explain.top_labels(st.proba[p[0]], st.label_names,
                                        multi_label=st.multi_label) for p in picked]
                    if st.proba is not None else [None] * len(picked))
            current = st.version
            for (row, *_), sg in zip(picked, suggestions, strict=True):
                st.served[(user_id, row)] = Served(st.version if sg.labels is not None else None,
                                                   sg.labels, sg.confidence,
                                                   audit=row in audit_picks)
            ids = st.index.ids([p[0] for p in picked]).tolist() if picked else []
        items = {i.id: i for i in s.scalars(select(Item).where(Item.id.in_(ids)))} if ids else {}
        out = []
        for item_id, (_row, score, why, version), sg, top in zip(
                ids, picked, suggestions, tops, strict=True):
            it = items[item_id]
            text = explain.why_item(why, top=top, multi_label=st.multi_label,
                                    ranked_version=version, model_version=current)
            out.append(NextItem(item_id, it.text, it.blob_key, it.image_name, sg.labels,
                                sg.confidence, Reason(why, score, version),
                                preselect=sg.preselect, explanation=text,
                                model_version=current, top=top))
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
        return [(int(cand[i]), None, COLD_REASON) for i in sel]

    def annotate(self, s: Session, project_id: int, user_id: int, item_id: int, *,
                 action: str, labels: list[str] | None = None, request_id: str | None = None,
                 meta: dict[str, Any] | None = None, source: str = "human") -> AnnotationAck:
        """Record one annotation (``label``, ``skip`` or ``undo``) durably, then update the loop.

        ``source="review"``: a reviewer's final label, which then wins over the annotators'
        answers (:mod:`labella.service.labels`). ``s`` must not be inside a transaction;
        this commits.
        """
        st = self.state(project_id)
        if request_id is not None:
            ack = self._seen_request(s, st, user_id, item_id, action, labels, request_id)
            if ack is not None:
                return ack
        item = s.get(Item, item_id)
        if item is None or item.project_id != project_id:
            raise NotFoundError(f"no item {item_id} in project {project_id}")
        split = item.split
        # end the reads' transaction: no database write lock is held while this waits for
        # the loop's lock (on SQLite every other writer would queue behind it)
        s.rollback()
        with self._current(st) as cur:
            row = cur.index.row(item_id) if split == "pool" else None
            served = cur.served.pop((user_id, row), None) if row is not None else None
        ann = Annotation(
            project_id=project_id, item_id=item_id, user_id=user_id, action=action,
            value=labels if action == "label" else None, request_id=request_id,
            model_version=served.model_version if served else None,
            suggestion=served.suggestion if served else None,
            confidence=served.confidence if served else None,
            meta=meta or {}, created_at=utcnow(), audit=bool(served and served.audit),
            source=source)
        s.add(ann)
        try:
            s.commit()  # durable before it is acknowledged
        except IntegrityError:
            # a concurrent retry of the same request committed first: its answer stands
            s.rollback()
            ack = self._seen_request(s, st, user_id, item_id, action, labels, request_id) \
                if request_id is not None else None
            if ack is None:
                raise
            return ack
        changes: list[Change] = []
        # read the item's answers again: an undo, an evaluation item, a reviewer's decision
        # (it is no annotator's answer: it decides, and closes the item)
        recount = action == "undo" or split != "pool" or source == "review"
        if action == "undo":
            changes.append(Change(item_id, split, RETRACTED, user_id=user_id))
            changes.append(Change(item_id, split, "unskip", user_id=user_id))
        elif action == "skip":
            changes.append(Change(item_id, split, "skip", user_id=user_id))
        elif source != "review":
            changes.append(Change(item_id, split, ANSWERED, user_id=user_id))
        # applied to the state that counts now (a reload may have replaced ``st`` meanwhile;
        # one still being built records the change in its predecessor's journal)
        with self._current(st) as cur:
            for change in changes:
                cur.apply(change)
            if action == "label" and not recount:
                r = cur.index.row(item_id)
                if r is not None and len(cur.answers.get(r, ())) <= 1:
                    # the item's only answer is its label (as without overlap)
                    cur.apply(Change(item_id, split, "label", labels,
                                     audit=bool(served and served.audit)))
                else:  # several answers (whoever applies last reads them all) or not loaded
                    recount = True
            n_labeled, version = cur.n_labeled, cur.version
        if recount:
            n_labeled = self.relabel(s, project_id, item_id, audit=bool(served and served.audit))
        if action != "skip":
            self.mark_dirty(project_id)
        return AnnotationAck(ann.id, item_id, action, ann.value, n_labeled, version,
                             duplicate=False)

    def proba_for(self, project_id: int) -> ProbaFor:
        """The loaded model's probabilities by item id (for consensus ties); nothing when
        the project's loop is not loaded or has no model yet."""

        def get(item_ids: Any) -> dict[int, np.ndarray]:
            st = self.loaded(project_id)
            if st is None:
                return {}
            with self._current(st) as cur:
                if cur.proba is None:
                    return {}
                out = {}
                for item_id in item_ids:
                    r = cur.index.row(int(item_id))
                    if r is not None:
                        out[int(item_id)] = np.array(cur.proba[r], dtype=float)
                return out

        return get

    def relabel(self, s: Session, project_id: int, item_id: int, *, audit: bool = False) -> int:
        """Read an item's answers again and set its label to their consensus (with
        Dawid–Skene, every item with several answers: one more answer moves the annotators'
        weights); returns the number of labelled pool items. Call it after committing a
        ``review`` row: the reviewer's decision becomes the label and the item needs no more
        answers."""
        with self._current(self.state(project_id)) as cur:
            every = consensus_method(cur.settings) == "dawid_skene"
        s.rollback()  # no write transaction open while this waits for the loop's lock
        # read in a read session: the model's probabilities for a tie are read under the
        # loop's lock, which must never be awaited while holding the database write lock
        # (a thread holding the loop's lock may be queued for that write lock)
        with self._readers() as rs:
            labels: dict[int, CurrentLabel] = current_labels(
                rs, project_id, item_ids=None if every else [item_id],
                proba_for=self.proba_for(project_id))
        targets: dict[int, list[str] | None] = {
            i: c.labels for i, c in labels.items() if i == item_id or c.n_answers >= 2}
        targets.setdefault(item_id, None)  # no answer left: unlabelled
        model = {i for i, c in labels.items() if c.source == "model"}
        with self._current(self.state(project_id)) as cur:
            for i, value in targets.items():
                split = "pool" if cur.index.row(i) is not None else \
                    "evaluation" if cur.eval_index.row(i) is not None else None
                if split is not None:
                    cur.apply(Change(i, split, "label", value, audit=audit and i == item_id,
                                     model=i in model))
            row = cur.index.row(item_id)
            if row is not None and item_id in labels and labels[item_id].reviewed:
                cur.closed.add(row)
                cur.update_pending([row])
            return cur.n_labeled

    def record_batch(self, s: Session, project_id: int, anns: list[Annotation]) -> int:
        """Record many ``label`` / ``undo`` rows of pool items in one commit, then update the
        loop (auto-accept and its undo); returns the number of labelled pool rows after.

        Unlike :meth:`annotate` nothing was served for these rows. ``s`` must not be inside
        a transaction; this commits.
        """
        from labella.service.labels import current_labels

        st = self.state(project_id)
        if not anns:
            with self._current(st) as cur:
                return cur.n_labeled
        s.add_all(anns)
        s.commit()  # durable before it is acknowledged
        ids = [a.item_id for a in anns]
        now = current_labels(s, project_id, item_ids=ids)
        s.rollback()  # the read's transaction ends before this waits for the loop's lock
        changes = [Change(i, "pool", "label", now[i].labels if i in now else None,
                          model=i in now and now[i].source == "model") for i in ids]
        with self._current(st) as cur:
            for change in changes:
                cur.apply(change)
            n_labeled = cur.n_labeled
        self.mark_dirty(project_id)
        return n_labeled

    @staticmethod
    def _seen_request(s: Session, st: ProjectState, user_id: int, item_id: int, action: str,
                      labels: list[str] | None, request_id: str) -> AnnotationAck | None:
        """The ack of this annotator's earlier request with this id, if there was one.

        A retry must repeat the request: the same id with another item, action or label is
        a client bug, answered with :class:`ConflictError` naming both (the first stands).
        """
        prev = s.scalar(select(Annotation).where(Annotation.user_id == user_id,
                                                 Annotation.request_id == request_id))
        if prev is None:
            return None
        value = labels if action == "label" else None
        if (prev.item_id, prev.action) != (item_id, action) or (
                action == "label" and sorted(prev.value or []) != sorted(value or [])):
            raise ConflictError(
                f"request id {request_id!r} was already used to {_describe(prev.action, prev.item_id, prev.value)}; "
                f"this request would {_describe(action, item_id, value)}. The first answer "
                "stands: send a new request id for a new answer")
        return AnnotationAck(prev.id, prev.item_id, prev.action, prev.value,
                             st.n_labeled, st.version, duplicate=True)


def _describe(action: str, item_id: int, value: list[str] | None) -> str:
    if action == "label":
        return f"label item {item_id} as {', '.join(value or []) or '(no label)'}"
    return f"{action} item {item_id}"
