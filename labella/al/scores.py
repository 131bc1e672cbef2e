"""Probabilities -> per-item scores. Pure functions; higher score = more wanted.

Single-label inputs are ``(n, C)`` class probabilities (rows sum to 1).
Multi-label inputs are ``(n, L)`` per-label probabilities of the positive class.
"""

from __future__ import annotations

import numpy as np

_EPS = 1e-12


def least_confidence(proba: np.ndarray) -> np.ndarray:
    """``1 - max_c p(c|x)`` (Lewis & Gale 1994). Shape ``(n,)``."""
    return np.asarray(1.0 - proba.max(axis=1))


def _top2(proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    part = np.partition(proba, -2, axis=1)
    return part[:, -1], part[:, -2]


def margin(proba: np.ndarray) -> np.ndarray:
    """Negative gap between the two most likely classes (Scheffer et al. 2001)."""
    p1, p2 = _top2(proba)
    return np.asarray(-(p1 - p2))


def ratio(proba: np.ndarray) -> np.ndarray:
    """``p2 / p1``, the ratio of the second to the most likely class probability."""
    p1, p2 = _top2(proba)
    return np.asarray(p2 / np.maximum(p1, _EPS))


def entropy(proba: np.ndarray) -> np.ndarray:
    """Shannon entropy of the predictive distribution (Shannon 1948; Settles 2009)."""
    p = np.clip(proba, _EPS, 1.0)
    return np.asarray(-(p * np.log(p)).sum(axis=1))


def binary_entropy(proba: np.ndarray) -> np.ndarray:
    """Element-wise binary entropy of per-label probabilities, shape ``(n, L)``."""
    p = np.clip(proba, _EPS, 1.0 - _EPS)
    return np.asarray(-(p * np.log(p) + (1.0 - p) * np.log(1.0 - p)))


def vote_entropy(votes: np.ndarray, n_classes: int) -> np.ndarray:
    """Vote entropy of a committee (Dagan & Engelson 1995).

    Args:
        votes: predicted class per member, shape ``(m, n)``.
    """
    m = votes.shape[0]
    counts = np.zeros((votes.shape[1], n_classes))
    for row in votes:
        counts[np.arange(votes.shape[1]), row] += 1
    return entropy(counts / m)


def kl_to_consensus(member_proba: np.ndarray) -> np.ndarray:
    """Mean KL divergence of each member from the consensus (McCallum & Nigam 1998).

    Args:
        member_proba: shape ``(m, n, C)``.
    """
    p = np.clip(member_proba, _EPS, 1.0)
    consensus = p.mean(axis=0, keepdims=True)
    return np.asarray((p * (np.log(p) - np.log(consensus))).sum(axis=2).mean(axis=0))


def bald(sample_proba: np.ndarray) -> np.ndarray:
    """Mutual information between prediction and parameters (Houlsby et al. 2011).

    Args:
        sample_proba: MC samples of class probabilities, shape ``(T, n, C)``.
    """
    mean = sample_proba.mean(axis=0)
    expected_entropy = np.stack([entropy(s) for s in sample_proba]).mean(axis=0)
    return np.asarray(entropy(mean) - expected_entropy)


def score_by_name(name: str, proba: np.ndarray) -> np.ndarray:
    """Uncertainty score by name (``least_confidence``, ``margin``, ``ratio``, ``entropy``)."""
    fn = {"least_confidence": least_confidence, "margin": margin, "ratio": ratio, "entropy": entropy}
    if name not in fn:
        raise ValueError(f"unknown uncertainty measure {name!r}; known: {', '.join(fn)}")
    return fn[name](proba)
