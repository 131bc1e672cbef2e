"""Query synthesis mapped back to the pool: boundary search.

A synthetic point is placed on the decision boundary between two labelled
items of different classes, and the nearest real unlabelled item is queried
in its place (a human can label a real item, not a synthetic vector).
Single-label only. Indices are pool row positions.
"""

from __future__ import annotations

import numpy as np

from labella.al import scores as sc
from labella.al.heads import Head
from labella.al.select import result, top_k
from labella.al.strategies.base import Strategy
from labella.al.strategies.diversity import nearest, sq_norms
from labella.al.strategies.registry import register
from labella.al.types import Pool, QueryResult


def opposite_pairs(X: np.ndarray, y: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Mutual nearest-neighbour pairs of labelled items with different classes.

    For every pair of classes ``(a, b)``, ``(i, j)`` is kept when ``j`` is the
    nearest class-``b`` item to ``i`` and ``i`` the nearest class-``a`` item to ``j``.

    Args:
        X: features, shape ``(N, d)``.
        y: single-label labels of the labelled rows, shape ``(m,)``.
        idx: their pool row positions, shape ``(m,)``.
    Returns:
        rows ``(i, j, class_i, class_j, distance)``, shape ``(p, 5)``, float64,
        widest gap first (ties by row position).
    """
    rows: list[tuple[int, int, int, int, float]] = []
    classes = np.unique(y)
    for ai, a in enumerate(classes):
        A = idx[y == a]
        for b in classes[ai + 1:]:
            B = idx[y == b]
            d_ab, nn_ab = nearest(X[A], X[B])
            _, nn_ba = nearest(X[B], X[A])
            mutual = np.flatnonzero(nn_ba[nn_ab] == np.arange(len(A)))
            rows.extend((int(A[i]), int(B[nn_ab[i]]), int(a), int(b), float(np.sqrt(d_ab[i])))
                        for i in mutual)
    if not rows:
        return np.empty((0, 5))
    out = np.array(rows, dtype=np.float64)
    return out[np.lexsort((out[:, 1], out[:, 0], -out[:, 4]))]


def bisect_boundary(
    lo: np.ndarray, hi: np.ndarray, a: np.ndarray, b: np.ndarray, head: Head, *, steps: int
) -> np.ndarray:
    """Bisect each segment ``lo -> hi`` towards where the head's ``p_a = p_b``.

    Args:
        lo, hi: segment ends (class ``a`` and class ``b`` side), shape ``(p, d)``.
        a, b: the two classes of each segment, shape ``(p,)``.
        steps: bisection steps; 0 returns the midpoints.
    Returns:
        synthetic points, shape ``(p, d)``.
    """
    lo, hi = lo.astype(np.float64), hi.astype(np.float64)
    rows = np.arange(len(lo))
    for _ in range(steps):
        mid = (lo + hi) / 2.0
        p = head.predict_proba(mid)
        on_a = (p[rows, a] >= p[rows, b])[:, None]
        lo, hi = np.where(on_a, mid, lo), np.where(on_a, hi, mid)
    return (lo + hi) / 2.0


@register
class BoundarySearch(Strategy):
    """Boundary search: real items nearest to points synthesised on the decision boundary.

    For each pair of classes, labelled items of opposite classes that are each
    other's nearest neighbours form a segment; its midpoint is moved towards
    the head's decision boundary by ``bisect_steps`` bisection steps (the
    head's prediction stands in for the paper's oracle), and the nearest
    unlabelled item not yet chosen is queried. Segments are taken widest
    first (where the boundary is least pinned down). Scores are the segment
    length. When there are fewer segments than ``n`` the rest of the batch
    is filled with the smallest-margin items (``fill='margin'``), scored
    ``-(p1 - p2)`` (so always below the synthesised picks).
    """

    name = "boundary_search"
    description = "Boundary search: the real items nearest to points synthesised between opposite-class neighbours."
    reference = "Wang, Hu, Yuan & Lu, 'Active learning via query synthesis and nearest neighbour search', Neurocomputing 2015"
    multi_label = False

    def __init__(self, bisect_steps: int = 4) -> None:
        self.bisect_steps = bisect_steps

    def _query(self, pool: Pool, n: int, *, head: Head | None, rng: np.random.Generator) -> QueryResult:
        assert head is not None
        X = pool.X
        lab = pool.labeled_indices
        pairs = opposite_pairs(X, pool.y[lab], lab)[:n]
        i, j, a, b = (pairs[:, c].astype(np.int64) for c in range(4))
        synth = bisect_boundary(X[i], X[j], a, b, head, steps=self.bisect_steps)
        free = pool.unlabeled_indices
        Xf = X[free]
        f_sq = sq_norms(Xf)
        taken = np.zeros(len(free), dtype=bool)
        order = np.empty(len(synth), dtype=np.int64)
        for t, s in enumerate(synth):  # nearest free item, in segment order
            d = f_sq - 2.0 * (Xf @ s.astype(Xf.dtype))
            d[taken] = np.inf
            order[t] = int(np.argmin(d))
            taken[order[t]] = True
        picks = [free[order]]
        scores = [pairs[:, 4]]
        if len(order) < n:
            rest = free[~taken]
            idx, s = top_k(sc.margin(head.predict_proba(X[rest])), rest, n - len(order), rng=rng)
            picks.append(idx)
            scores.append(s)
        return result(np.concatenate(picks), np.concatenate(scores), self.name,
                      bisect_steps=self.bisect_steps, fill="margin", n_synthesized=len(order))
