"""Cold-start strategies: a diverse, representative batch before (or with few) labels.

Both work on the embeddings alone (``needs_model = False``), with or without
labels and a head, for single- and multi-label pools. Indices are pool row
positions.
"""

from __future__ import annotations

import math

import numpy as np

from labella.al.heads import Head
from labella.al.select import result
from labella.al.strategies.base import Strategy
from labella.al.strategies.diversity import euclidean_to, kmeans, nearest, pick_centers, sq_norms
from labella.al.strategies.registry import register
from labella.al.types import Pool, QueryResult


def typicality(
    X: np.ndarray, cand: np.ndarray, ref: np.ndarray, *, k: int, ref_total: int | None = None
) -> np.ndarray:
    """TypiClust typicality: ``1 / mean distance to the k nearest neighbours``.

    Args:
        X: the pool's features, shape ``(N, d)``.
        cand: rows to score, shape ``(m,)``.
        ref: rows that count as neighbours, shape ``(r,)`` (a row is never its
            own neighbour).
        ref_total: size of the set ``ref`` was subsampled from; ``k`` is then
            scaled by ``r / ref_total`` so the density estimate keeps its scale.
    Returns:
        shape ``(m,)``; 0 for an item with no neighbour.
    """
    if ref_total and ref_total > len(ref):
        k = max(1, round(k * len(ref) / ref_total))
    k = min(k, len(ref) - int(np.isin(cand, ref).any()))
    if k < 1:
        return np.zeros(len(cand))
    Xr = X[ref]
    r_sq = sq_norms(Xr)
    out = np.empty(len(cand))
    step = max(1, (1 << 22) // max(1, len(ref)))
    for s0 in range(0, len(cand), step):
        c = cand[s0:s0 + step]
        Xc = X[c]
        d2 = sq_norms(Xc)[:, None] + r_sq[None, :] - 2.0 * (Xc @ Xr.T)
        d2[c[:, None] == ref[None, :]] = np.inf
        knn = np.partition(d2, k - 1, axis=1)[:, :k]
        out[s0:s0 + step] = 1.0 / (np.sqrt(np.maximum(knn, 0.0)).mean(axis=1) + 1e-5)
    return out


@register(cold_start=True)
class TypiClust(Strategy):
    """TypiClust: the most typical item of each of the largest uncovered clusters.

    The whole pool is clustered into ``min(n_labeled + n, max_clusters)``
    clusters (:func:`~labella.al.strategies.diversity.kmeans`: numpy Lloyd's
    fitted on a subsample of at most ``max(20 000, 50·k)`` items).
    Each pick goes to the cluster with the fewest labelled or already-picked
    items, the largest first; clusters smaller than ``min_cluster_size`` are
    used only when nothing else is left. Within a cluster the pick is the
    unlabelled item of highest typicality (inverse mean distance to its ``k``
    nearest neighbours in the cluster). In big clusters typicality is scored
    for a random ``max_candidates`` of the unlabelled members against a random
    ``max_reference`` of all members (``k`` scaled to match). Scores are the
    typicality.
    """

    name = "typiclust"
    description = "TypiClust: the most typical item of each of the largest clusters not yet covered."
    reference = "Hacohen, Dekel & Weinshall, 'Active learning on a budget: opposite strategies suit high and low budgets', ICML 2022"
    needs_model = False

    def __init__(
        self,
        k: int = 20,
        max_clusters: int = 500,
        min_cluster_size: int = 5,
        max_candidates: int = 500,
        max_reference: int = 4000,
    ) -> None:
        self.k = k
        self.max_clusters = max_clusters
        self.min_cluster_size = min_cluster_size
        self.max_candidates = max_candidates
        self.max_reference = max_reference

    def _rank(
        self, X: np.ndarray, members: np.ndarray, free: np.ndarray, rng: np.random.Generator
    ) -> tuple[list[int], list[float]]:
        """A cluster's free members by decreasing typicality (a subsample in big clusters)."""
        cand, ref = free, members
        if len(cand) > self.max_candidates:
            cand = np.sort(rng.choice(cand, self.max_candidates, replace=False))
        if len(ref) > self.max_reference:
            ref = np.sort(rng.choice(ref, self.max_reference, replace=False))
        t = typicality(X, cand, ref, k=self.k, ref_total=len(members))
        order = np.lexsort((cand, -t))
        return cand[order].tolist(), t[order].tolist()

    def _query(self, pool: Pool, n: int, *, head: Head | None, rng: np.random.Generator) -> QueryResult:
        k_clusters = max(1, min(pool.n_labeled + n, self.max_clusters, pool.n_items))
        labels = kmeans(pool.X, k_clusters, rng=rng)
        sizes = np.bincount(labels, minlength=k_clusters)
        covered = np.bincount(labels[pool.labeled_indices], minlength=k_clusters)
        free = ~pool.labeled_mask
        n_free = np.bincount(labels[free], minlength=k_clusters)
        ranked: dict[int, tuple[list[int], list[float]]] = {}
        picks: list[int] = []
        scores: list[float] = []
        while len(picks) < n:
            ok = n_free > 0
            if (ok & (sizes >= self.min_cluster_size)).any():
                ok &= sizes >= self.min_cluster_size
            order = np.lexsort((np.arange(k_clusters), -sizes, covered, ~ok))
            c = int(order[0])
            if not ranked.get(c, ([], []))[0]:
                members = np.flatnonzero(labels == c)
                ranked[c] = self._rank(pool.X, members, members[free[members]], rng)
            item, score = ranked[c][0].pop(0), ranked[c][1].pop(0)
            picks.append(item)
            scores.append(score)
            free[item] = False
            n_free[c] -= 1
            covered[c] += 1
        return result(np.array(picks), np.array(scores), self.name, **self.get_params())


@register(cold_start=True)
class KMeansPP(Strategy):
    """k-means++ seeding (D² sampling) over the unlabelled embeddings.

    Labelled items count as centres already chosen, so new picks avoid them.
    With no labels the first pick is uniform at random (score NaN); every
    other score is the pick's distance to the nearest labelled or earlier pick.
    """

    name = "kmeans_pp"
    description = "k-means++ seeding: each pick is drawn with probability proportional to its squared distance from the chosen."
    reference = "Arthur & Vassilvitskii, 'k-means++: the advantages of careful seeding', SODA 2007"
    needs_model = False

    def _query(self, pool: Pool, n: int, *, head: Head | None, rng: np.random.Generator) -> QueryResult:
        X = pool.X
        dist_to = euclidean_to(X, sq_norms(X))
        avail = ~pool.labeled_mask
        first: list[int] = []
        if pool.n_labeled:
            min_sq, _ = nearest(X, X[pool.labeled_indices])
        else:
            j = int(rng.choice(pool.unlabeled_indices))
            first, min_sq = [j], dist_to(j)
            avail[j] = False
        idx, dist = pick_centers(n - len(first), min_sq=min_sq, avail=avail, dist_to=dist_to,
                                 rng=rng, sample=True)
        return result(np.concatenate([first, idx]), np.concatenate([np.full(len(first), math.nan), dist]),
                      self.name)
