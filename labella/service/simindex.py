"""Per-project nearest-neighbour search over the loop state's embeddings.

Below :data:`~labella.al.similar.EXACT_LIMIT` pool items (or without an ANN library)
every search is exact (:func:`~labella.al.similar.exact_top_k` over the state's
matrix). Above it, each project gets an :class:`~labella.al.similar.AnnIndex`, built
on a background thread the first time it is needed (searches stay exact meanwhile,
and say so), then kept in step incrementally: items featurised since are added before
a search (a few inline, many in the background), never by a full rebuild. A change of
featuriser starts a new index.

Index space: the ANN index numbers its rows in the order items were added;
:class:`_Entry` keeps ``ids`` (ANN row -> item id), and this module turns answers
into item ids. Pool rows are translated through the state's
:class:`~labella.service.poolmap.PoolIndex`.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

import numpy as np

from labella.al.similar import EXACT_LIMIT, AnnIndex, Neighbours, default_backend, exact_top_k
from labella.service.poolmap import PoolIndex

log = logging.getLogger(__name__)

INLINE_ADD = 5_000
"""At most this many new items are added to an ANN index inside a search; more are added
on a background thread (the search is exact meanwhile)."""


@dataclass(frozen=True)
class PoolView:
    """What a search reads from a loop state (arrays that the state replaces, never edits)."""

    project_id: int
    featuriser_key: str
    index: PoolIndex
    X: np.ndarray


@dataclass(frozen=True)
class Found:
    """Item ids and similarities, best first; ``method``: ``exact`` or the ANN backend,
    with why a large pool was searched exactly."""

    item_ids: np.ndarray
    scores: np.ndarray
    method: str
    note: str | None = None


@dataclass
class _Entry:
    featuriser_key: str
    ann: AnnIndex | None = None
    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    building: bool = False
    error: str | None = None


class SimilarityIndexes:
    """Nearest-neighbour search for every project (one ANN index per large pool).

    Args:
        exact_limit: pools with fewer items are always searched exactly.
        backend: the ANN library (``None``: the preferred installed one; no library:
            exact search only, and large pools say so).
    """

    def __init__(self, *, exact_limit: int = EXACT_LIMIT, backend: str | None = None) -> None:
        self.exact_limit = exact_limit
        self.backend = backend
        self._entries: dict[int, _Entry] = {}
        self._guard = threading.Lock()

    def forget(self, project_id: int) -> None:
        with self._guard:
            self._entries.pop(project_id, None)

    def status(self, project_id: int) -> str:
        """``exact``, ``building``, ``ready (<backend>, <n> items)`` or ``failed: ...``."""
        e = self._entries.get(project_id)
        if e is None:
            return "exact"
        if e.error:
            return f"failed: {e.error}"
        if e.ann is None:
            return "building"
        return f"ready ({e.ann.backend}, {len(e.ann)} items)"

    def search(self, view: PoolView, query: np.ndarray, k: int, *,
               allowed: np.ndarray | None = None) -> Found:
        """The ``k`` pool items most similar to ``query`` ``(d,)`` among ``allowed`` pool
        rows (a ``(n,)`` bool mask; ``None``: all)."""
        n = len(view.X)
        backend = self.backend or default_backend()
        if n < self.exact_limit or n == 0:
            return self._exact(view, query, k, allowed, None)
        if backend is None:
            return self._exact(view, query, k, allowed,
                               f"{n} items searched exactly: install labella[search] for an "
                               "approximate index, much faster on pools this large")
        n_ok = n if allowed is None else int(allowed.sum())
        if n_ok < self.exact_limit // 4:  # few candidates left: exact over them is cheaper
            return self._exact(view, query, k, allowed, None)
        entry = self._entry(view)
        missing = None
        if entry.ann is not None and not entry.building:  # a build holds the lock: skip it
            with entry.lock:
                missing = self._missing(entry, view)
        if missing is None:
            self._start(entry, view, backend)
            why = (f"approximate index failed ({entry.error}); searched exactly"
                   if entry.error else "approximate index is being built; searched exactly "
                   "meanwhile")
            return self._exact(view, query, k, allowed, why)
        if len(missing) > INLINE_ADD:
            self._start(entry, view, backend)
            return self._exact(view, query, k, allowed, f"adding {len(missing)} new items to "
                               "the approximate index; searched exactly meanwhile")
        with entry.lock:
            if len(missing):
                self._add(entry, view, missing)
            assert entry.ann is not None
            ann, ids = entry.ann, entry.ids
            rows_in_pool = np.searchsorted(view.index.item_ids, ids)
            rows_in_pool = np.minimum(rows_in_pool, n - 1)
            present = view.index.item_ids[rows_in_pool] == ids
            ann_ok = present if allowed is None else present & allowed[rows_in_pool]
            res: Neighbours = ann.search(query, k, allowed=ann_ok)
        got = res.rows[0][res.rows[0] >= 0]
        return Found(ids[got], res.scores[0][: len(got)], res.method)

    # -- exact --------------------------------------------------------------------------

    @staticmethod
    def _exact(view: PoolView, query: np.ndarray, k: int, allowed: np.ndarray | None,
               note: str | None) -> Found:
        res = exact_top_k(view.X, query, k, allowed=allowed)
        return Found(view.index.ids(res.rows[0]), res.scores[0], "exact", note)

    # -- the ANN index --------------------------------------------------------------------

    def _entry(self, view: PoolView) -> _Entry:
        with self._guard:
            e = self._entries.get(view.project_id)
            if e is None or e.featuriser_key != view.featuriser_key:
                e = self._entries[view.project_id] = _Entry(view.featuriser_key)
            return e

    @staticmethod
    def _missing(entry: _Entry, view: PoolView) -> np.ndarray | None:
        """Pool item ids not in the index yet (``None``: the dimension changed)."""
        if entry.ann is None or entry.ann.dim != view.X.shape[1]:
            return None
        return view.index.item_ids[~np.isin(view.index.item_ids, entry.ids)]

    @staticmethod
    def _add(entry: _Entry, view: PoolView, item_ids: np.ndarray) -> None:
        """Add pool items to the index (the caller holds ``entry.lock``)."""
        assert entry.ann is not None
        entry.ann.add(view.X[view.index.rows(item_ids)])
        entry.ids = np.concatenate([entry.ids, item_ids.astype(np.int64)])

    def _start(self, entry: _Entry, view: PoolView, backend: str) -> None:
        with entry.lock:
            if entry.building or entry.error:
                return
            entry.building = True
        threading.Thread(target=self._sync, args=(entry, view, backend), daemon=True,
                         name=f"labella-ann-{view.project_id}").start()

    def _sync(self, entry: _Entry, view: PoolView, backend: str) -> None:
        """Build the index or add what it lacks (the first build runs outside the lock so
        that searches stay exact, not blocked, meanwhile)."""
        try:
            with entry.lock:
                entry.building = True
                fresh = entry.ann is None or entry.ann.dim != view.X.shape[1]
            if fresh:
                ann = AnnIndex(view.X.shape[1], backend=backend)
                ids = view.index.item_ids.copy()
                for start in range(0, len(ids), 50_000):
                    ann.add(view.X[start:start + 50_000])
                with entry.lock:
                    entry.ann, entry.ids = ann, ids
                log.info("project %d: built a %s index of %d items", view.project_id,
                         backend, len(ids))
            else:
                with entry.lock:
                    missing = self._missing(entry, view)
                if missing is None:  # cannot happen: a new width makes a fresh index
                    missing = np.zeros(0, dtype=np.int64)
                for start in range(0, len(missing), 10_000):
                    with entry.lock:  # in steps: a search waits for one step at most
                        self._add(entry, view, missing[start:start + 10_000])
        except Exception as exc:  # logged and reported by status(); searches stay exact
            log.exception("project %d: building the approximate index failed", view.project_id)
            entry.error = str(exc) or type(exc).__name__
        finally:
            with entry.lock:
                entry.building = False
