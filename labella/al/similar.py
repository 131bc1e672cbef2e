"""Nearest neighbours of embeddings: exact cosine top-k, and an approximate (ANN) index.

Pure numpy; the ANN backends (``usearch``, ``hnswlib``, ``faiss``) are optional
(``pip install 'labella[search]'`` installs ``faiss-cpu``, the measured choice) and imported only when an :class:`AnnIndex` is made.

Index space: every function here answers in *row positions* of the matrix it was given
(for :class:`AnnIndex`, rows in the order they were added, 0, 1, 2, ...). Turning rows
into item ids is the caller's business.

Vectors are compared by inner product; for the L2-normalised rows every featuriser
returns (:mod:`labella.features.base`), that is cosine similarity. Queries are
normalised here.

Which to use: :func:`exact_top_k` is exact and, chunked, needs little memory; one query
over 200 000 rows of 384 floats takes a few milliseconds to tens of milliseconds on two
cores. Above :data:`EXACT_LIMIT` rows an :class:`AnnIndex` answers in well under a
millisecond with a recall@10 near 0.99 (``benchmarks/similarity.py``, ``docs/similarity.md``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from labella.errors import LabellaError, MissingExtraError

EXACT_LIMIT = 200_000
"""Pools with fewer rows than this are searched exactly; above it an ANN index is used
when one is installed."""

BACKENDS = ("faiss", "hnswlib", "usearch")
"""The ANN libraries :class:`AnnIndex` can drive, in order of preference (the measured
order: ``docs/similarity.md``)."""

_MODULES = {"usearch": "usearch.index", "hnswlib": "hnswlib", "faiss": "faiss"}


class SearchError(LabellaError, ValueError):
    """A similarity search asked for something impossible (bad shapes, k < 1)."""


@dataclass(frozen=True)
class Neighbours:
    """The answer to a search: for each query, the best rows first.

    ``rows`` and ``scores`` have shape ``(n_queries, k')`` where ``k'`` is ``k`` or fewer
    when fewer rows are allowed; ``scores`` are cosine similarities (float32).
    ``method``: ``"exact"`` or the ANN backend's name.
    """

    rows: np.ndarray
    scores: np.ndarray
    method: str


def normalise_queries(queries: np.ndarray, dim: int) -> np.ndarray:
    """``queries`` as a C-contiguous float32 ``(m, dim)`` array of unit rows (a 1-D query is
    one row)."""
    q = np.asarray(queries, dtype=np.float32)
    if q.ndim == 1:
        q = q[None, :]
    if q.ndim != 2 or q.shape[1] != dim:
        raise SearchError(f"queries should have shape (m, {dim}); got {np.shape(queries)}")
    if not np.all(np.isfinite(q)):
        raise SearchError("queries contain NaN or infinite values")
    norms = np.linalg.norm(q, axis=1, keepdims=True)
    return np.ascontiguousarray(q / np.maximum(norms, np.float32(1e-12)), dtype=np.float32)


def _check_k(k: int) -> None:
    if k < 1:
        raise SearchError(f"k must be at least 1; got {k}")


def _merge(best_s: np.ndarray, best_r: np.ndarray, s: np.ndarray, r: np.ndarray, k: int
           ) -> tuple[np.ndarray, np.ndarray]:
    """Keep the ``k`` best of two candidate sets per query (unsorted)."""
    all_s = np.concatenate([best_s, s], axis=1)
    all_r = np.concatenate([best_r, r], axis=1)
    if all_s.shape[1] <= k:
        return all_s, all_r
    keep = np.argpartition(-all_s, k - 1, axis=1)[:, :k]
    return np.take_along_axis(all_s, keep, axis=1), np.take_along_axis(all_r, keep, axis=1)


def exact_top_k(X: np.ndarray, queries: np.ndarray, k: int, *,
                allowed: np.ndarray | None = None, chunk_rows: int = 32_768) -> Neighbours:
    """The ``k`` rows of ``X`` most similar to each query, exactly.

    Args:
        X: ``(n, d)`` float32, rows L2-normalised (inner product = cosine).
        queries: ``(m, d)`` or ``(d,)``; normalised here.
        k: how many neighbours per query.
        allowed: optional ``(n,)`` bool mask; only rows where it is True are returned.
        chunk_rows: rows scored at a time: memory stays ``O(m * (chunk_rows + k))``
            beyond ``X`` itself.
    Returns:
        :class:`Neighbours` with ``k' = min(k, number of allowed rows)`` per query, best
        first; ties go to the lower row.
    """
    _check_k(k)
    X = np.asarray(X)
    if X.ndim != 2:
        raise SearchError(f"X should be a 2-D (n, d) array; got shape {X.shape}")
    n, d = X.shape
    q = normalise_queries(queries, d)
    m = q.shape[0]
    if allowed is not None:
        allowed = np.asarray(allowed, dtype=bool)
        if allowed.shape != (n,):
            raise SearchError(f"allowed should have shape ({n},); got {allowed.shape}")
    n_ok = n if allowed is None else int(allowed.sum())
    kk = min(k, n_ok)
    best_s = np.empty((m, 0), dtype=np.float32)
    best_r = np.empty((m, 0), dtype=np.int64)
    if kk == 0:
        return Neighbours(best_r, best_s, "exact")
    for start in range(0, n, max(1, chunk_rows)):
        stop = min(start + chunk_rows, n)
        s = q @ np.asarray(X[start:stop], dtype=np.float32).T  # (m, c)
        if allowed is not None:
            ok = allowed[start:stop]
            if not ok.any():
                continue
            s[:, ~ok] = -np.inf
        c = s.shape[1]
        take = min(kk, c)
        idx = np.argpartition(-s, take - 1, axis=1)[:, :take] if take < c else \
            np.broadcast_to(np.arange(c), (m, c))
        best_s, best_r = _merge(best_s, best_r, np.take_along_axis(s, idx, axis=1),
                                idx.astype(np.int64) + start, kk)
    order = np.lexsort((best_r, -best_s), axis=1)
    best_s = np.take_along_axis(best_s, order, axis=1)
    best_r = np.take_along_axis(best_r, order, axis=1)
    return Neighbours(best_r, best_s.astype(np.float32, copy=False), "exact")


def available_backends() -> list[str]:
    """The ANN backends importable here, in order of preference."""
    out = []
    for name in BACKENDS:
        try:
            importlib.import_module(_MODULES[name])
        except ImportError:
            continue
        out.append(name)
    return out


def default_backend() -> str | None:
    """The preferred installed ANN backend, or ``None`` when none is (exact search only)."""
    found = available_backends()
    return found[0] if found else None


class AnnIndex:
    """An approximate nearest-neighbour index (HNSW graph) that grows by :meth:`add`.

    Rows are numbered in the order they are added; adding new rows never rebuilds what is
    there (incremental). Scores are cosine similarities of unit rows.

    Args:
        dim: vector width.
        backend: ``faiss``, ``hnswlib`` or ``usearch``; ``None``: the preferred installed one.
        connectivity: HNSW ``M`` (edges per node).
        expansion_add: HNSW ``ef_construction``.
        expansion_search: HNSW ``ef`` at query time (raised to the number asked for).
        threads: threads for add and search (0: the library's default).
        seed: the graph's random seed, where the backend takes one.
    """

    def __init__(self, dim: int, *, backend: str | None = None, connectivity: int = 16,
                 expansion_add: int = 128, expansion_search: int = 64, threads: int = 0,
                 seed: int = 0) -> None:
        name = backend or default_backend()
        if name is None:
            raise MissingExtraError("faiss-cpu", "search")
        if name not in BACKENDS:
            raise SearchError(f"unknown ANN backend {name!r}; one of {', '.join(BACKENDS)}")
        try:
            self._mod: Any = importlib.import_module(_MODULES[name])
        except ImportError as exc:
            raise MissingExtraError(name, "search") from exc
        self.backend = name
        self.dim = int(dim)
        self.connectivity = connectivity
        self.expansion_add = expansion_add
        self.expansion_search = expansion_search
        self.threads = threads
        self.seed = seed
        self._n = 0
        self._index: Any = self._make()

    def _make(self) -> Any:
        mod, d, m = self._mod, self.dim, self.connectivity
        if self.backend == "usearch":
            return mod.Index(ndim=d, metric="ip", dtype="f32", connectivity=m,
                             expansion_add=self.expansion_add,
                             expansion_search=self.expansion_search)
        if self.backend == "hnswlib":
            ix = mod.Index(space="ip", dim=d)
            ix.init_index(max_elements=1024, ef_construction=self.expansion_add, M=m,
                          random_seed=self.seed)
            ix.set_ef(self.expansion_search)
            if self.threads:
                ix.set_num_threads(self.threads)
            return ix
        ix = mod.IndexHNSWFlat(d, m, mod.METRIC_INNER_PRODUCT)
        ix.hnsw.efConstruction = self.expansion_add
        ix.hnsw.efSearch = self.expansion_search
        if self.threads:
            mod.omp_set_num_threads(self.threads)
        return ix

    def __len__(self) -> int:
        return self._n

    def __repr__(self) -> str:
        return f"AnnIndex({self.backend}, dim={self.dim}, rows={self._n})"

    def add(self, vectors: np.ndarray) -> np.ndarray:
        """Append ``vectors`` ``(m, dim)`` (normalised here); returns their rows."""
        v = normalise_queries(vectors, self.dim)
        rows = np.arange(self._n, self._n + len(v), dtype=np.int64)
        if not len(v):
            return rows
        if self.backend == "usearch":
            self._index.add(rows.astype(np.uint64), v, threads=self.threads)
        elif self.backend == "hnswlib":
            need = self._n + len(v)
            if need > self._index.get_max_elements():
                self._index.resize_index(max(need, 2 * self._index.get_max_elements()))
            self._index.add_items(v, rows, num_threads=self.threads or -1)
        else:
            self._index.add(v)
        self._n += len(v)
        return rows

    def _query(self, q: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Up to ``count`` neighbours per query: rows (-1 where missing) and similarities."""
        if self.backend == "usearch":
            self._index.expansion_search = max(self.expansion_search, count)
            res = self._index.search(q, count, threads=self.threads)
            keys = np.zeros((len(q), count), dtype=np.int64)
            dist = np.zeros((len(q), count), dtype=np.float32)
            if hasattr(res, "counts"):  # several queries: padded arrays and a count each
                counts = np.asarray(res.counts).reshape(len(q))
                keys[:], dist[:] = res.keys, res.distances
            else:  # one query: only the matches found
                counts = np.array([len(res.keys)])
                keys[0, :counts[0]], dist[0, :counts[0]] = res.keys, res.distances
            valid = np.arange(keys.shape[1])[None, :] < counts[:, None]
            return np.where(valid, keys, -1), np.where(valid, 1.0 - dist, -np.inf)
        if self.backend == "hnswlib":
            self._index.set_ef(max(self.expansion_search, count))
            labels, dist = self._index.knn_query(q, k=count, num_threads=self.threads or -1)
            return labels.astype(np.int64), (1.0 - dist).astype(np.float32)
        self._index.hnsw.efSearch = max(self.expansion_search, count)
        sims, labels = self._index.search(q, count)
        return labels.astype(np.int64), np.where(labels >= 0, sims, -np.inf).astype(np.float32)

    def search(self, queries: np.ndarray, k: int, *, allowed: np.ndarray | None = None
               ) -> Neighbours:
        """The (approximately) ``k`` most similar rows per query, best first.

        ``allowed``: optional ``(len(self),)`` bool mask. The index is asked for more
        neighbours (4x, 16x, ...) until ``k`` allowed ones are found or every row was
        asked for, so a mask that excludes most rows costs more; search the allowed rows
        exactly when they are few. Where the graph yields fewer than ``k'`` allowed rows
        for a query (rare), its row is padded with row ``-1`` and score ``-inf``.
        """
        _check_k(k)
        q = normalise_queries(queries, self.dim)
        m = len(q)
        if allowed is not None:
            allowed = np.asarray(allowed, dtype=bool)
            if allowed.shape != (self._n,):
                raise SearchError(f"allowed should have shape ({self._n},); got {allowed.shape}")
        n_ok = self._n if allowed is None else int(allowed.sum())
        kk = min(k, n_ok)
        if kk == 0:
            return Neighbours(np.empty((m, 0), np.int64), np.empty((m, 0), np.float32),
                              self.backend)
        count = kk if allowed is None else min(self._n, 4 * kk)
        while True:
            rows, sims = self._query(q, count)
            ok = rows >= 0
            if allowed is not None:
                ok &= allowed[np.where(ok, rows, 0)]
            enough = bool(np.all(ok.sum(axis=1) >= kk))
            if enough or count >= self._n:
                break
            count = min(self._n, count * 4)
        out_r = np.full((m, kk), -1, dtype=np.int64)
        out_s = np.full((m, kk), -np.inf, dtype=np.float32)
        for i in range(m):
            sel = np.flatnonzero(ok[i])
            order = sel[np.lexsort((rows[i, sel], -sims[i, sel]))][:kk]
            out_r[i, :len(order)] = rows[i, order]
            out_s[i, :len(order)] = sims[i, order]
        return Neighbours(out_r, out_s, self.backend)


def recall_at_k(approx: np.ndarray, exact: np.ndarray) -> float:
    """Mean share of each query's exact top-k rows that ``approx`` found: arrays of rows,
    shape ``(m, k)`` (``approx`` may have fewer columns)."""
    if len(approx) != len(exact):
        raise SearchError(f"{len(approx)} approximate answers for {len(exact)} queries")
    k = exact.shape[1]
    if k == 0:
        return 1.0
    hits = [len(np.intersect1d(a, e)) for a, e in zip(approx, exact, strict=True)]
    return float(np.mean(hits) / k)
