"""Stream-based selective sampling: decide per arriving item whether to ask for its label.

Uncertainty here is *normalised* to ``[0, 1]`` so that one threshold means the
same thing for any number of classes:

* single-label ``least_confidence``: ``(1 - max p) / (1 - 1/C)``;
  ``margin``: ``1 - (p1 - p2)``; ``entropy``: ``H(p) / log C``;
* multi-label: mean binary entropy across labels ``/ log 2``.
"""

from __future__ import annotations

import numpy as np

from labella.al import scores as sc
from labella.al.heads import Head
from labella.al.select import result, top_k
from labella.al.strategies.base import Strategy
from labella.al.strategies.registry import register
from labella.al.types import Pool, QueryResult

MODES = ("fixed", "variable")
MEASURES = ("least_confidence", "margin", "entropy")


def normalised_uncertainty(proba: np.ndarray, *, measure: str = "least_confidence",
                           multi_label: bool = False) -> np.ndarray:
    """Uncertainty in ``[0, 1]`` per row of ``proba`` (shape ``(n, C)`` or ``(n, L)``)."""
    if multi_label:
        return np.asarray(np.clip(sc.binary_entropy(proba).mean(axis=1) / np.log(2.0), 0.0, 1.0))
    n_classes = proba.shape[1]
    if measure == "least_confidence":
        u = sc.least_confidence(proba) / (1.0 - 1.0 / n_classes)
    elif measure == "margin":
        u = 1.0 + sc.margin(proba)
    elif measure == "entropy":
        u = sc.entropy(proba) / np.log(n_classes)
    else:
        raise ValueError(f"unknown stream uncertainty measure {measure!r}; known: {', '.join(MEASURES)}")
    return np.asarray(np.clip(u, 0.0, 1.0))


class ThresholdRule:
    """The mutable state of a threshold stream: the current threshold.

    ``fixed``: query when ``u > threshold``. ``variable`` (Žliobaitė et al.
    2014, "variable uncertainty"): on the confidence scale ``theta = 1 - threshold``
    an item is queried when its confidence ``1 - u`` is below ``theta``; after a
    query ``theta *= (1 - step)`` (stricter), after a skip ``theta *= (1 + step)``
    (looser), so the rule spends labels on the items least certain *relative
    to the recent stream*, and keeps labelling after the model's uncertainty
    drops. The paper's budget cap is left to the caller.
    """

    def __init__(self, *, mode: str, threshold: float, step: float) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown stream mode {mode!r}; known: {', '.join(MODES)}")
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1]; got {threshold}")
        if not 0.0 < step < 1.0:
            raise ValueError(f"step must be in (0, 1); got {step}")
        self.mode = mode
        self.step = step
        self.threshold = float(threshold)

    def decide(self, uncertainty: float) -> bool:
        """Whether to query an item of normalised uncertainty ``uncertainty``; updates the state."""
        take = uncertainty > self.threshold
        if self.mode == "variable":
            theta = 1.0 - self.threshold
            theta *= (1.0 - self.step) if take else (1.0 + self.step)
            self.threshold = float(1.0 - min(theta, 1.0))
        return bool(take)


@register(stream=True)
class StreamThreshold(Strategy):
    """Stream-based selective sampling with a fixed or variable uncertainty threshold.

    Stream use: call :meth:`decide` once per arriving item with its predicted
    probability row; :meth:`reset` restarts the threshold. Pool use
    (:meth:`query`): the unlabelled items arrive in an ``rng`` order and a fresh
    rule takes those it accepts until ``n`` are taken; if the stream ends first,
    the batch is filled with the most uncertain items left (``params['n_filled']``).
    Scores are the normalised uncertainties.
    """

    name = "stream_threshold"
    description = "Stream mode: query an arriving item when its uncertainty exceeds a (variable) threshold."
    reference = (
        "Žliobaitė, Bifet, Pfahringer & Holmes, 'Active learning with drifting streaming data', "
        "IEEE TNNLS 2014; Cohn, Atlas & Ladner, 'Improving generalization with active learning', 1994"
    )

    _rule: ThresholdRule | None = None  # the live stream state of decide(); not a parameter

    def __init__(self, mode: str = "variable", threshold: float = 0.5, step: float = 0.01,
                 measure: str = "least_confidence") -> None:
        self.mode = mode
        self.threshold = threshold
        self.step = step
        self.measure = measure

    def _new_rule(self) -> ThresholdRule:
        if self.measure not in MEASURES:
            raise ValueError(f"unknown stream uncertainty measure {self.measure!r}; known: {', '.join(MEASURES)}")
        return ThresholdRule(mode=self.mode, threshold=self.threshold, step=self.step)

    def reset(self) -> None:
        """Forget the stream state; the next :meth:`decide` starts from ``threshold``."""
        self._rule = self._new_rule()

    @property
    def current_threshold(self) -> float:
        """The threshold the next :meth:`decide` will use."""
        return self.threshold if self._rule is None else self._rule.threshold

    def decide(self, proba_row: np.ndarray, *, multi_label: bool = False) -> bool:
        """Whether to ask for the label of one arriving item.

        Args:
            proba_row: the head's probabilities for the item, shape ``(C,)`` or
                ``(L,)`` for multi-label.
        """
        if self._rule is None:
            self._rule = self._new_rule()
        u = normalised_uncertainty(np.asarray(proba_row, dtype=np.float64).reshape(1, -1),
                                   measure=self.measure, multi_label=multi_label)[0]
        return self._rule.decide(float(u))

    def _query(self, pool: Pool, n: int, *, head: Head | None, rng: np.random.Generator) -> QueryResult:
        assert head is not None  # guaranteed by Strategy.query for needs_model strategies
        rule = self._new_rule()
        order = rng.permutation(pool.unlabeled_indices)
        u = normalised_uncertainty(head.predict_proba(pool.X[order]), measure=self.measure,
                                   multi_label=pool.multi_label)
        taken: list[int] = []
        seen = 0
        for pos in range(len(order)):
            seen += 1
            if rule.decide(float(u[pos])):
                taken.append(pos)
                if len(taken) == n:
                    break
        n_filled = n - len(taken)
        if n_filled:
            rest = np.setdiff1d(np.arange(len(order)), taken)
            fill, _ = top_k(u[rest], rest, n_filled, rng=rng)
            taken.extend(int(p) for p in fill)
        pos_arr = np.asarray(taken, dtype=np.int64)
        return result(order[pos_arr], u[pos_arr], self.name, **self.get_params(),
                      n_seen=seen, n_filled=n_filled, final_threshold=rule.threshold)
