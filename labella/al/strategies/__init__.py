"""Query strategies, one family per module, all registered in :data:`REGISTRY`.

Families: ``uncertainty`` (random, least confidence, margin, ratio, entropy,
exploration mix), ``committee`` (query by committee), ``bayesian`` (BALD),
``diversity`` (core-set, BADGE, cluster-margin, information density, expected
error reduction), ``coldstart`` (TypiClust, k-means++), ``synthesis``
(boundary search), ``multilabel`` and ``stream``.
"""

from labella.al.strategies import (  # noqa: F401  (importing registers the built-ins)
    bayesian,
    coldstart,
    committee,
    diversity,
    error_reduction,
    multilabel,
    stream,
    synthesis,
    uncertainty,
)
from labella.al.strategies.base import ScoreStrategy, Strategy
from labella.al.strategies.registry import REGISTRY, Registry, StrategyInfo, register

__all__ = ["REGISTRY", "Registry", "ScoreStrategy", "Strategy", "StrategyInfo", "register"]
