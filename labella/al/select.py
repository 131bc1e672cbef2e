"""Scores -> indices: the one shared selection step."""

from __future__ import annotations

import numpy as np

from labella.al.types import Pool, QueryResult


def top_k(
    scores: np.ndarray,
    candidates: np.ndarray,
    n: int,
    *,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` highest-scoring candidates, ties broken at random by ``rng``.

    Args:
        scores: one score per candidate, shape ``(m,)`` (NaN counts as lowest).
        candidates: pool row positions, shape ``(m,)``.
    Returns:
        ``(indices, scores)`` of the chosen, best first, each shape ``(n,)``.
    """
    if len(scores) != len(candidates):
        raise ValueError(f"{len(scores)} scores for {len(candidates)} candidates")
    s = np.where(np.isnan(scores), -np.inf, scores)
    tie = rng.random(len(s))
    order = np.lexsort((tie, -s))[:n]
    return candidates[order], scores[order]


def random_choice(pool: Pool, n: int, *, rng: np.random.Generator) -> np.ndarray:
    """``n`` distinct unlabelled row positions chosen uniformly at random."""
    pool.check_can_query(n)
    return rng.choice(pool.unlabeled_indices, size=n, replace=False)


def exploration_mix(
    scores: np.ndarray,
    candidates: np.ndarray,
    n: int,
    *,
    p: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Each slot is the next best-scoring item with probability ``p``, else a random one.

    Returns ``(indices, scores)``; randomly explored items keep their own score.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"exploration probability p must be in [0, 1]; got {p}")
    n_exploit = int(rng.binomial(n, p))
    best_idx, _ = top_k(scores, candidates, len(candidates), rng=rng)
    exploit = best_idx[:n_exploit]
    rest = best_idx[n_exploit:]
    explore = rng.choice(rest, size=n - n_exploit, replace=False)
    chosen = np.concatenate([exploit, explore])
    pos = {int(c): i for i, c in enumerate(candidates)}
    return chosen, scores[[pos[int(c)] for c in chosen]]


def result(
    indices: np.ndarray, scores: np.ndarray, strategy: str, **params: object
) -> QueryResult:
    """Build a :class:`QueryResult` with int64 indices and float64 scores."""
    return QueryResult(
        np.asarray(indices, dtype=np.int64),
        np.asarray(scores, dtype=np.float64),
        strategy,
        dict(params),
    )
