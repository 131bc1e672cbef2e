"""Pipelines: a query strategy together with the head it trains and its cold start.

A strategy alone decides *which* items to label; what a user gets from those
labels also depends on the head and on how the first batch is picked. The
simulator and the service run pipelines. ``random`` is always random sampling
with plain logistic regression: what a user has without Labella.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sklearn.linear_model import LogisticRegression

from labella.al.audit import DEFAULT_SHARE
from labella.al.heads import Head, SklearnHead, logistic_regression, mlp, sgd
from labella.al.strategies import REGISTRY
from labella.al.tuned import TunedLogisticHead
from labella.errors import UnknownNameError

HeadFactory = Callable[[int, bool], Head]


def plain_head(n_classes: int, multi_label: bool) -> Head:
    """Logistic regression with scikit-learn's defaults (C=1): the baseline head."""
    return logistic_regression(n_classes, multi_label=multi_label)


def balanced_head(n_classes: int, multi_label: bool) -> Head:
    """Logistic regression with C=10 and class-balanced weights.

    Embeddings are L2-normalised, so each feature is small and C=1 regularises
    hard; with few labels it predicts little more than the majority class.
    C=10 with balanced class weights is much better from 10 to a few hundred
    labels on every dataset measured (see docs/default-strategy.md).
    """
    est = LogisticRegression(C=10.0, class_weight="balanced", max_iter=1000)
    return SklearnHead(est, n_classes, multi_label=multi_label)


def tuned_head(n_classes: int, multi_label: bool) -> Head:
    """Class-balanced logistic regression that re-tunes C by CV log-loss, with the
    one-standard-error rule, as labels grow: the default pipeline's head."""
    return TunedLogisticHead(n_classes, multi_label=multi_label)


HEAD_FACTORIES: dict[str, HeadFactory] = {
    "logistic_regression": plain_head,
    "balanced_logistic_regression": balanced_head,
    "tuned_logistic_regression": tuned_head,
    "sgd": lambda n, ml: sgd(n, multi_label=ml),
    "mlp": lambda n, ml: mlp(n, multi_label=ml),
}


@dataclass(frozen=True)
class Pipeline:
    """What a simulated (or real) labelling run uses.

    Attributes:
        strategy: registry name of the query strategy.
        head: name in :data:`HEAD_FACTORIES`.
        cold_start: registry name of the strategy that picks the first batch
            (before any label); ``None`` means uniform random.
        strategy_params: keyword arguments for the strategy.
        audit_share: share of each batch drawn uniformly at random for the live audit
            (:mod:`labella.al.audit`); 0 = no audit.
        switch_when_losing: switch to random sampling when the audit says active
            learning is losing (:func:`labella.al.audit.should_switch`).
    """

    strategy: str
    head: str = "logistic_regression"
    cold_start: str | None = None
    strategy_params: dict[str, Any] = field(default_factory=dict)
    audit_share: float = 0.0
    switch_when_losing: bool = False

    def make_head(self, n_classes: int, multi_label: bool) -> Head:
        if self.head not in HEAD_FACTORIES:
            raise UnknownNameError("head", self.head, list(HEAD_FACTORIES))
        return HEAD_FACTORIES[self.head](n_classes, multi_label)


DEFAULT_STRATEGY = "labella"
"""Name of the default pipeline (chosen by measurement; see docs/default-strategy.md)."""

PIPELINES: dict[str, Pipeline] = {
    "random": Pipeline("random"),
    DEFAULT_STRATEGY: Pipeline(
        "margin", head="tuned_logistic_regression", cold_start=None,
        audit_share=DEFAULT_SHARE, switch_when_losing=True,
    ),
}


STRATEGY_HEADS: dict[str, str] = {"bald": "mlp"}
"""Strategies that need a particular head (BALD samples MC dropout from the MLP head)."""


def pipeline_for(name: str) -> Pipeline:
    """The named pipeline, or a registered strategy with its head (the plain one unless it
    needs another) and a random start."""
    if name in PIPELINES:
        return PIPELINES[name]
    REGISTRY.info(name)  # raises UnknownNameError listing the known names
    return Pipeline(name, head=STRATEGY_HEADS.get(name, "logistic_regression"))


def known_names() -> list[str]:
    return list(PIPELINES) + [n for n in REGISTRY.names() if n not in PIPELINES]
