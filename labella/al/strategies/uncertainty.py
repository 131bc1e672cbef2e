"""Random sampling and the classic uncertainty family."""

from __future__ import annotations

import numpy as np

from labella.al import scores as sc
from labella.al.heads import Head
from labella.al.select import exploration_mix, random_choice, result
from labella.al.strategies.base import ScoreStrategy, Strategy
from labella.al.strategies.registry import register
from labella.al.types import Pool, QueryResult


def uncertainty_scores(proba: np.ndarray, measure: str, *, multi_label: bool) -> np.ndarray:
    """Uncertainty per item; multi-label pools use the mean binary entropy across labels."""
    if multi_label:
        return np.asarray(sc.binary_entropy(proba).mean(axis=1))
    return sc.score_by_name(measure, proba)


@register
class RandomSampling(Strategy):
    name = "random"
    description = "Uniform random sampling: the baseline every strategy must beat."
    reference = "Lewis & Gale, 'A sequential algorithm for training text classifiers', SIGIR 1994 (baseline)"
    needs_model = False

    def _query(self, pool: Pool, n: int, *, head: Head | None, rng: np.random.Generator) -> QueryResult:
        return result(random_choice(pool, n, rng=rng), np.full(n, np.nan), self.name)


class _Uncertainty(ScoreStrategy):
    measure = ""

    def scores(self, pool: Pool, candidates: np.ndarray, *, head: Head, rng: np.random.Generator) -> np.ndarray:
        return uncertainty_scores(pool.predict_proba(head, candidates), self.measure,
                                  multi_label=pool.multi_label)


@register
class LeastConfidence(_Uncertainty):
    name = measure = "least_confidence"
    description = "Items whose most likely class has the lowest probability."
    reference = "Lewis & Gale, SIGIR 1994; Culotta & McCallum, AAAI 2005"


@register
class Margin(_Uncertainty):
    name = measure = "margin"
    description = "Items with the smallest gap between the two most likely classes."
    reference = "Scheffer, Decomain & Wrobel, 'Active hidden Markov models', IDA 2001"


@register
class Ratio(_Uncertainty):
    name = measure = "ratio"
    description = "Items with the highest ratio of second to first class probability."
    reference = "Settles, 'Active Learning Literature Survey', 2009 (confidence ratio)"


@register
class Entropy(_Uncertainty):
    name = measure = "entropy"
    description = "Items whose predictive distribution has the highest entropy."
    reference = "Settles & Craven, EMNLP 2008; Shannon 1948"


@register
class ExplorationMix(Strategy):
    name = "exploration_mix"
    description = "Each pick is the most uncertain item with probability p, a random one otherwise."
    reference = "Bouneffouf et al., 'Contextual bandit for active learning', ICONIP 2014 (epsilon-greedy)"

    def __init__(self, p: float = 0.8, measure: str = "margin") -> None:
        self.p = p
        self.measure = measure

    def _query(self, pool: Pool, n: int, *, head: Head | None, rng: np.random.Generator) -> QueryResult:
        assert head is not None
        cand = pool.unlabeled_indices
        s = uncertainty_scores(pool.predict_proba(head, cand), self.measure, multi_label=pool.multi_label)
        idx, chosen = exploration_mix(s, cand, n, p=self.p, rng=rng)
        return result(idx, chosen, self.name, p=self.p, measure=self.measure)
