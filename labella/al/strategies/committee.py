"""Query by committee with a bagging committee (Seung et al. 1992; Abe & Mamitsuka 1998).

The committee is ``n_members`` clones of the project's head, each fitted on a
bootstrap sample (drawn with ``rng``) of the pool's labelled rows; the head
itself is never refitted. Items the members disagree on most are chosen.
Indices are pool row positions.

Multi-label pools are scored per label (each label a binary problem) and the
per-label disagreement is averaged over labels.
"""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from labella.al import scores as sc
from labella.al.heads import Head
from labella.al.strategies.base import ScoreStrategy
from labella.al.strategies.registry import register
from labella.al.types import Pool


def bootstrap_indices(y: np.ndarray, *, rng: np.random.Generator, multi_label: bool = False) -> np.ndarray:
    """A bootstrap sample (with replacement) of ``range(len(y))``.

    Single-label: when ``y`` holds at least two classes, the sample is made to
    hold two as well (redrawn up to 10 times, then one row of a missing class
    replaces the first draw), so no member is a constant one-class model while
    the data could give it a boundary. Multi-label samples are plain bootstraps.

    Args:
        y: labels of the labelled rows, shape ``(m,)`` or ``(m, L)``.
    Returns:
        row positions into ``y``, shape ``(m,)``.
    """
    m = len(y)
    idx = rng.integers(0, m, size=m)
    if multi_label or len(np.unique(y)) < 2:
        return idx
    for _ in range(10):
        if len(np.unique(y[idx])) >= 2:
            return idx
        idx = rng.integers(0, m, size=m)
    other = np.flatnonzero(y != y[idx[0]])
    idx[0] = rng.choice(other)
    return idx


def committee_proba(
    head: Head, X: np.ndarray, y: np.ndarray, X_score: np.ndarray, *, n_members: int, rng: np.random.Generator
) -> np.ndarray:
    """Probabilities of a bagging committee of clones of ``head``.

    Args:
        X, y: labelled rows the members are fitted on (bootstraps of them).
        X_score: rows to predict, shape ``(n, d)``.
    Returns:
        member probabilities, shape ``(n_members, n, C)``.
    """
    if n_members < 2:
        raise ValueError(f"a committee needs at least 2 members; got n_members={n_members}")
    out = []
    with threadpool_limits(1):  # small fits: extra BLAS threads only contend
        for _ in range(n_members):
            b = bootstrap_indices(y, rng=rng, multi_label=head.multi_label)
            out.append(head.clone().fit(X[b], y[b]).predict_proba(X_score))
    return np.stack(out)


def _as_binary(member_proba: np.ndarray) -> np.ndarray:
    """``(m, n, L)`` per-label positives -> ``(m, n * L, 2)`` binary distributions."""
    p = member_proba.reshape(member_proba.shape[0], -1)
    return np.stack([1.0 - p, p], axis=-1)


def vote_entropy_scores(member_proba: np.ndarray, *, multi_label: bool = False) -> np.ndarray:
    """Vote entropy of the members' hard predictions, shape ``(n,)``.

    Multi-label: the binary vote entropy of each label, averaged over labels.
    """
    if multi_label:
        m, n, L = member_proba.shape
        votes = (member_proba >= 0.5).astype(np.int64).reshape(m, n * L)
        return np.asarray(sc.vote_entropy(votes, 2).reshape(n, L).mean(axis=1))
    return sc.vote_entropy(member_proba.argmax(axis=2), member_proba.shape[2])


def kl_scores(member_proba: np.ndarray, *, multi_label: bool = False) -> np.ndarray:
    """Mean KL divergence of the members from their consensus, shape ``(n,)``.

    Multi-label: the Bernoulli KL of each label, averaged over labels.
    """
    if multi_label:
        _, n, L = member_proba.shape
        return np.asarray(sc.kl_to_consensus(_as_binary(member_proba)).reshape(n, L).mean(axis=1))
    return sc.kl_to_consensus(member_proba)


class _Committee(ScoreStrategy):
    def __init__(self, n_members: int = 5) -> None:
        self.n_members = n_members

    def _disagreement(self, member_proba: np.ndarray, *, multi_label: bool) -> np.ndarray:
        raise NotImplementedError  # pragma: no cover - abstract

    def scores(self, pool: Pool, candidates: np.ndarray, *, head: Head, rng: np.random.Generator) -> np.ndarray:
        X, y = pool.labeled_data()
        member_proba = committee_proba(head, X, y, pool.X[candidates], n_members=self.n_members, rng=rng)
        return self._disagreement(member_proba, multi_label=pool.multi_label)


@register
class QBCVoteEntropy(_Committee):
    name = "qbc_vote_entropy"
    description = "Items whose class the members of a bagging committee vote on most unevenly."
    reference = (
        "Dagan & Engelson, 'Committee-based sampling for training probabilistic classifiers', "
        "ICML 1995; Abe & Mamitsuka, 'Query learning strategies using boosting and bagging', ICML 1998"
    )

    def _disagreement(self, member_proba: np.ndarray, *, multi_label: bool) -> np.ndarray:
        return vote_entropy_scores(member_proba, multi_label=multi_label)


@register
class QBCKL(_Committee):
    name = "qbc_kl"
    description = "Items where a bagging committee's predicted distributions diverge most from their mean."
    reference = (
        "McCallum & Nigam, 'Employing EM and pool-based active learning for text classification', "
        "ICML 1998 (KL to the consensus)"
    )

    def _disagreement(self, member_proba: np.ndarray, *, multi_label: bool) -> np.ndarray:
        return kl_scores(member_proba, multi_label=multi_label)
