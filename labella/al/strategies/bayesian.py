"""Bayesian active learning by disagreement (BALD) with MC dropout.

BALD scores an item by the mutual information between its label and the model
parameters, ``H[E_w p(y|x,w)] - E_w H[p(y|x,w)]`` (Houlsby et al. 2011),
estimated from ``T`` dropout samples of a neural head (Gal, Islam & Ghahramani
2017). Indices are pool row positions.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from labella.al import scores as sc
from labella.al.heads import Head, mlp
from labella.al.strategies.base import ScoreStrategy
from labella.al.strategies.registry import register
from labella.al.types import Pool


@runtime_checkable
class SamplingHead(Protocol):
    """A head that can draw predictive samples (e.g. :class:`~labella.al.heads.MLPHead`)."""

    def predict_proba_samples(
        self, X: np.ndarray, n_samples: int = 20, *, rng: np.random.Generator | int | None = None
    ) -> np.ndarray: ...


def bald_scores(sample_proba: np.ndarray, *, multi_label: bool = False) -> np.ndarray:
    """BALD mutual information per item, shape ``(n,)``.

    Args:
        sample_proba: ``(T, n, C)`` class probabilities, or for multi-label
            ``(T, n, L)`` per-label positive probabilities.
    Multi-label: labels are treated as independent binary problems, and the
    item's score is the sum of the per-label binary BALD values (the mutual
    information of the whole label vector if labels were independent given
    the parameters).
    """
    if not multi_label:
        return sc.bald(sample_proba)
    T, n, L = sample_proba.shape
    p = sample_proba.reshape(T, n * L)
    per_label = sc.bald(np.stack([1.0 - p, p], axis=-1)).reshape(n, L)
    return np.asarray(per_label.sum(axis=1))


@register
class BALD(ScoreStrategy):
    """MC-dropout BALD.

    If the project's head draws samples (has ``predict_proba_samples``, like
    the ``mlp`` head), its samples are used. Otherwise (e.g. logistic
    regression) BALD fits its own small MC-dropout MLP
    (:func:`labella.al.heads.mlp` with ``hidden`` and ``dropout``, seeded from
    ``rng``) on the labelled rows; that needs ``labella[torch]``.

    Args:
        n_samples: number of dropout masks ``T``.
        hidden, dropout: the MLP fitted when the head cannot sample.
    """

    name = "bald"
    description = "Items whose label the MC-dropout samples of a neural head disagree on most (mutual information)."
    reference = (
        "Houlsby, Huszar, Ghahramani & Lengyel, 'Bayesian active learning for classification and "
        "preference learning', 2011; Gal, Islam & Ghahramani, 'Deep Bayesian active learning with "
        "image data', ICML 2017"
    )

    def __init__(self, n_samples: int = 20, hidden: int = 128, dropout: float = 0.5) -> None:
        self.n_samples = n_samples
        self.hidden = hidden
        self.dropout = dropout

    def scores(self, pool: Pool, candidates: np.ndarray, *, head: Head, rng: np.random.Generator) -> np.ndarray:
        if self.n_samples < 2:
            raise ValueError(f"BALD needs at least 2 MC samples; got n_samples={self.n_samples}")
        seed = int(rng.integers(2**31))
        if isinstance(head, SamplingHead):
            sampler: SamplingHead = head
        else:
            sampler = mlp(pool.n_classes, multi_label=pool.multi_label, hidden=self.hidden,
                          dropout=self.dropout, seed=seed).fit(*pool.labeled_data())
        samples = sampler.predict_proba_samples(pool.X[candidates], self.n_samples, rng=seed)
        return bald_scores(samples, multi_label=pool.multi_label)
