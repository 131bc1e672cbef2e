"""Multi-label strategies: per-label binary entropy and MMC.

All work on ``(n, L)`` per-label positive-class probabilities from a head
fitted one-vs-rest (see :class:`labella.al.heads.SklearnHead`). Indices are
pool row positions.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from labella.al import scores as sc
from labella.al.heads import Head
from labella.al.strategies.base import ScoreStrategy
from labella.al.strategies.registry import register
from labella.al.types import Pool

_EPS = 1e-12


def mean_binary_entropy(proba: np.ndarray) -> np.ndarray:
    """Mean over labels of the binary entropy, shape ``(n,)`` from ``(n, L)``."""
    return np.asarray(sc.binary_entropy(proba).mean(axis=1))


def max_binary_entropy(proba: np.ndarray) -> np.ndarray:
    """Max over labels of the binary entropy, shape ``(n,)`` from ``(n, L)``."""
    return np.asarray(sc.binary_entropy(proba).max(axis=1))


def _sorted_normalised(proba: np.ndarray) -> np.ndarray:
    """Each row sorted in decreasing order and scaled to sum to 1 (MMC's features)."""
    s = -np.sort(-proba, axis=1)
    return np.asarray(s / np.maximum(s.sum(axis=1, keepdims=True), _EPS))


def predict_label_counts(
    proba_labeled: np.ndarray, Y_labeled: np.ndarray, proba_pool: np.ndarray, *, C: float = 1.0
) -> np.ndarray:
    """MMC's label-count model: how many labels each pool item is expected to carry.

    A logistic regression maps the sorted, normalised label probabilities of an
    item to its number of positive labels; it is fitted on the labelled rows.

    Args:
        proba_labeled: head probabilities on the labelled rows, shape ``(m, L)``.
        Y_labeled: their multi-hot labels, shape ``(m, L)``.
        proba_pool: head probabilities on the items to score, shape ``(n, L)``.
    Returns:
        predicted label counts, int64, shape ``(n,)``, each in ``0 .. L``.
    """
    counts = np.asarray(Y_labeled).sum(axis=1).astype(np.int64)
    if len(np.unique(counts)) == 1:
        return np.full(len(proba_pool), counts[0], dtype=np.int64)
    lr = LogisticRegression(C=C, max_iter=1000)
    lr.fit(_sorted_normalised(proba_labeled), counts)
    pred = lr.predict(_sorted_normalised(proba_pool)).astype(np.int64)
    return np.clip(pred, 0, proba_pool.shape[1])


def mmc_scores(proba: np.ndarray, n_labels: np.ndarray) -> np.ndarray:
    """Expected loss reduction of MMC (Yang et al., KDD 2009), shape ``(n,)``.

    ``sum_j (1 - y_j f_j) / 2`` where ``y_j = +1`` for the ``n_labels[i]`` most
    probable labels of item ``i`` and ``-1`` otherwise, and ``f_j = 2 p_j - 1``
    (the head's probability mapped to ``[-1, 1]`` in place of the paper's SVM
    margin). Equals the expected number of labels the predicted set gets wrong.

    Args:
        proba: per-label positive probabilities, shape ``(n, L)``.
        n_labels: predicted number of labels per item, shape ``(n,)``.
    """
    n = proba.shape[0]
    rank = np.argsort(np.argsort(-proba, axis=1, kind="stable"), axis=1, kind="stable")
    y = np.where(rank < np.asarray(n_labels).reshape(n, 1), 1.0, -1.0)
    f = 2.0 * proba - 1.0
    return np.asarray(((1.0 - y * f) / 2.0).sum(axis=1))


class _MultiLabelScore(ScoreStrategy):
    single_label = False
    multi_label = True


@register
class MeanBinaryEntropy(_MultiLabelScore):
    name = "ml_mean_entropy"
    description = "Items with the highest binary entropy averaged over labels."
    reference = (
        "Esuli & Sebastiani, 'Active learning strategies for multi-label text classification', "
        "ECIR 2009 (label-averaged uncertainty)"
    )

    def scores(self, pool: Pool, candidates: np.ndarray, *, head: Head, rng: np.random.Generator) -> np.ndarray:
        return mean_binary_entropy(pool.predict_proba(head, candidates))


@register
class MaxBinaryEntropy(_MultiLabelScore):
    name = "ml_max_entropy"
    description = "Items whose most uncertain label has the highest binary entropy."
    reference = (
        "Esuli & Sebastiani, 'Active learning strategies for multi-label text classification', "
        "ECIR 2009 (max-over-labels uncertainty)"
    )

    def scores(self, pool: Pool, candidates: np.ndarray, *, head: Head, rng: np.random.Generator) -> np.ndarray:
        return max_binary_entropy(pool.predict_proba(head, candidates))


@register
class MMC(_MultiLabelScore):
    """Maximum loss reduction with maximal confidence.

    Simplifications against the paper: the head's per-label probabilities
    stand in for the binary SVMs' outputs (``f_j = 2 p_j - 1``), and the
    label-count model's features are those same probabilities on the labelled
    rows (the paper uses the SVMs' probability outputs there too). An item may
    be predicted to carry zero labels, since Labella allows an empty label set.
    """

    name = "mmc"
    description = "Items with the largest expected loss reduction under the predicted label set."
    reference = (
        "Yang, Sun, Wang, Chen, Zha & Zhou, 'Effective multi-label active learning for text "
        "classification', KDD 2009 (MMC)"
    )

    def __init__(self, C: float = 1.0) -> None:
        self.C = C

    def scores(self, pool: Pool, candidates: np.ndarray, *, head: Head, rng: np.random.Generator) -> np.ndarray:
        X_lab, Y_lab = pool.labeled_data()
        proba = pool.predict_proba(head, candidates)
        counts = predict_label_counts(head.predict_proba(X_lab), Y_lab, proba, C=self.C)
        return mmc_scores(proba, counts)
