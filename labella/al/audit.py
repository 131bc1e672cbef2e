"""The live audit: is active learning beating random sampling on *this* project?

A small share of every batch (:data:`DEFAULT_SHARE`) is drawn uniformly at random from the
unlabelled pool and shown interleaved with the strategy's picks, so a person cannot tell
them apart. Those *audit* labels (and a uniformly random first batch, which is one too) are
an unbiased sample of the pool. From them, and from the other labels, :func:`estimate`
works out

* the accuracy of the project's model on the whole pool (audit labels scored by models
  that did not train on them; the strategy's own picks enter with their share of the pool),
* the learning curve of random sampling (plain logistic regression, ``C=1``, on emulated
  random samples of the labelled rows, scored the same way) and, extrapolated with its
  uncertainty, how many random labels it would take to reach that accuracy,
* "labels saved vs random" = that number minus the labels spent, with an interval at
  ``level`` (90 %), and a verdict: ``winning`` (the interval is above 0), ``losing``
  (below 0) or ``unclear``.

With few audit labels the interval is wide and the verdict ``unclear``: the estimator
prefers that to a confident wrong answer (see docs/default-strategy.md, "The audit", for
its measured coverage). All indices are row positions (of the pool, or of the labelled
rows passed in), as everywhere in :mod:`labella.al`.

How a labelling service uses it::

    from labella.al import audit

    ranked = strategy.query(pool, 10, head=head, rng=rng)       # the strategy's batch
    batch = audit.compose_batch(ranked, pool, share=audit.DEFAULT_SHARE, rng=rng)
    # show batch.indices in that order; store batch.audit[i] with each item's label
    # (a uniformly random first batch: audit.random_batch(pool, 10, rng=rng), all audit)

    # in the background refit, from every labelled row so far:
    est = audit.estimate(X_labeled, y_labeled, audit_flags, n_pool=pool.n_items,
                         n_classes=pool.n_classes, head=project_head)
    est.as_dict()          # {"labels_saved": 240.0, "labels_saved_low": 35.0, ...}
    history.append(est)
    if audit.should_switch(history):    # "losing" three estimates in a row
        ...  # switch the project's strategy to audit.FALLBACK_STRATEGY and record why

What counts as an audit pick: only items drawn by :func:`compose_batch` /
:func:`random_batch` (a uniformly random first batch is one). Labels given outside the
queue (from a search, an import with labels, a cold start by k-means or TypiClust) are not:
they enter the estimate with the strategy's picks. The estimate costs a few logistic-
regression fits (measured: 0.35 s at 3 000 labels on a binary set, 0.8 s on six classes,
on a busy 2-core machine), so a server runs it in its background refit, not per request.

References: importance-weighted accuracy from random exploration (Hsu & Lin 2015,
"Active learning by learning"); the bias of active-learning labels as an evaluation sample
(Farquhar et al. 2021, "On statistical bias in active learning"; Kossen et al. 2021,
"Active testing"); learning-curve extrapolation (Figueroa et al. 2012; Viering & Loog 2022).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from labella.al._audit_curve import (
    REPLICATES,
    ScoreSums,
    bootstrap_weights,
    cross_fit,
    fit_random_curve,
    head_scores,
    random_labels_for,
)
from labella.al.heads import Head
from labella.al.types import Pool, QueryResult
from labella.errors import DataError

DEFAULT_SHARE = 0.1
"""Share of each batch drawn uniformly at random for the audit (1 item in a batch of 10)."""

LEVEL = 0.9
"""Coverage of the intervals."""

MIN_AUDIT = 20
"""Below this many audit labels :func:`estimate` gives no interval and says ``unclear``.
With fewer, a model refitted without a few of them is much worse than the project's (with
10 labels of 10 classes, leaving one out leaves out its class), and the estimate of the
model's score falls far below the truth (docs/default-strategy.md §10)."""

FALLBACK_STRATEGY = "random"
"""What a project switches to when the audit says active learning is losing."""

SWITCH_AFTER = 3
"""Consecutive ``losing`` estimates (at growing label counts) before :func:`should_switch`."""

ESTIMATOR_VERSION = "3"
"""Changes whenever :func:`estimate`'s method does (benchmarks key stored runs by it)."""

Verdict = Literal["winning", "losing", "unclear"]


# -- composing a batch --------------------------------------------------------------------


@dataclass(frozen=True)
class AuditedBatch:
    """A batch to show, with the audit picks mixed in.

    Attributes:
        indices: pool row positions, shape ``(k,)``, in the order to show them.
        audit: shape ``(k,)`` bool; True where the item was drawn uniformly at random
            from the unlabelled pool (store it with the item's label).
        scores: shape ``(k,)``; the strategy's score, NaN for audit picks.
        strategy: the strategy that ranked the rest.
        params: the strategy's parameters plus ``audit_share``.
    """

    indices: np.ndarray
    audit: np.ndarray
    scores: np.ndarray
    strategy: str
    params: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.indices)


def audit_count(k: int, share: float, rng: np.random.Generator) -> int:
    """How many of ``k`` items are audit picks: ``k * share`` rounded at random (so a
    batch of 1 is an audit pick with probability ``share``)."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"audit share must be in [0, 1]; got {share}")
    exact = k * share
    return min(k, int(exact) + int(rng.random() < exact - int(exact)))


def compose_batch(ranked: QueryResult, pool: Pool, *, share: float = DEFAULT_SHARE,
                  rng: np.random.Generator) -> AuditedBatch:
    """Replace the lowest-ranked ``audit_count(len(ranked), share)`` picks of a strategy's
    batch by items drawn uniformly at random from the rest of the unlabelled pool, at
    random positions in the batch.

    Args:
        ranked: the strategy's batch for ``pool``, best first.
        pool: the pool it was chosen from (its unlabelled rows are the audit's population).
    """
    k = len(ranked)
    n_audit = audit_count(k, share, rng)
    kept = np.asarray(ranked.indices[: k - n_audit], dtype=np.int64)
    picks = _uniform_excluding(pool, n_audit, kept, rng)
    slots = np.zeros(k, dtype=bool)
    slots[rng.choice(k, size=n_audit, replace=False)] = True
    indices = np.empty(k, dtype=np.int64)
    indices[slots], indices[~slots] = picks, kept
    scores = np.full(k, np.nan)
    scores[~slots] = np.asarray(ranked.scores[: k - n_audit], dtype=np.float64)
    return AuditedBatch(indices, slots, scores, ranked.strategy,
                        {**ranked.params, "audit_share": share})


def random_batch(pool: Pool, n: int, *, rng: np.random.Generator) -> AuditedBatch:
    """``n`` items drawn uniformly at random, all audit picks (a random first batch)."""
    pool.check_can_query(n)
    picks = _uniform_excluding(pool, n, np.empty(0, dtype=np.int64), rng)
    return AuditedBatch(picks, np.ones(n, dtype=bool), np.full(n, np.nan), "random",
                        {"audit_share": 1.0})


def _uniform_excluding(pool: Pool, n: int, taken: np.ndarray,
                       rng: np.random.Generator) -> np.ndarray:
    free = pool.unlabeled_indices
    if n == 0:
        return np.empty(0, dtype=np.int64)
    draw = rng.choice(free, size=min(len(free), n + len(taken)), replace=False)
    draw = draw[~np.isin(draw, taken)][:n]
    if len(draw) < n:
        raise DataError(f"the pool has {len(free)} unlabelled items; {n + len(taken)} needed")
    return draw.astype(np.int64)


# -- the estimate -------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditEstimate:
    """What the audit says at ``n_labels`` labels (``None``: not estimable yet).

    Attributes:
        n_labels: labels the estimate is for (all labelled rows).
        n_audit: how many of them were drawn uniformly at random.
        metric: ``accuracy`` (single-label) or ``micro_f1`` (multi-label).
        score, score_low, score_high: the model's estimated score on the pool, with its
            interval at ``level``.
        random_labels, random_labels_low, random_labels_high: labels random sampling
            (plain logistic regression) would need for that score; ``math.inf`` = more
            than the pool holds.
        labels_saved, labels_saved_low, labels_saved_high: ``random_labels - n_labels``.
        verdict: ``winning`` / ``losing`` / ``unclear`` (from the labels-saved interval).
        reason: one sentence for a person.
    """

    n_labels: int
    n_audit: int
    metric: str
    level: float
    score: float | None = None
    score_low: float | None = None
    score_high: float | None = None
    random_labels: float | None = None
    random_labels_low: float | None = None
    random_labels_high: float | None = None
    labels_saved: float | None = None
    labels_saved_low: float | None = None
    labels_saved_high: float | None = None
    verdict: Verdict = "unclear"
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields; ``math.inf`` ("more than the pool") is written as ``"inf"``."""
        return {k: ("inf" if isinstance(v, float) and math.isinf(v) else v)
                for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AuditEstimate:
        """The inverse of :meth:`as_dict` (extra keys are ignored)."""
        names = cls.__dataclass_fields__
        return cls(**{k: (math.inf if v == "inf" else v)  # type: ignore[arg-type]
                      for k, v in d.items() if k in names})


def estimate(X: np.ndarray, y: np.ndarray, audit: np.ndarray, *, n_pool: int, n_classes: int,
             head: Head | None = None, multi_label: bool = False, level: float = LEVEL,
             seed: int = 0) -> AuditEstimate:
    """Estimate the model's score and the labels it saved against random sampling.

    Args:
        X: features of the labelled rows, shape ``(n, d)``.
        y: their labels, ``(n,)`` or multi-hot ``(n, L)`` (no unlabelled rows).
        audit: shape ``(n,)`` bool, True for rows drawn uniformly at random from the
            unlabelled pool (audit picks and a random first batch).
        n_pool: items in the pool, labelled ones included.
        n_classes: classes (or labels, multi-label).
        head: the project's head (cloned, never refitted in place); default: the
            default pipeline's head.
        level: interval coverage.
        seed: for the internal resampling (the estimate is deterministic for a seed).
    Returns:
        an :class:`AuditEstimate`; fields are ``None`` below :data:`MIN_AUDIT` audit labels.
    """
    audit = np.asarray(audit, dtype=bool)
    n = len(y)
    if len(X) != n or len(audit) != n:
        raise DataError(f"X, y and audit differ in length: {len(X)}, {n}, {len(audit)}")
    if n_pool < n:
        raise DataError(f"n_pool ({n_pool}) is smaller than the labelled rows ({n})")
    m = int(audit.sum())
    metric = "micro_f1" if multi_label else "accuracy"
    if m < MIN_AUDIT:
        return AuditEstimate(n_labels=n, n_audit=m, metric=metric, level=level,
                             reason=f"{m} audit labels so far; an estimate needs {MIN_AUDIT}")
    if head is None:
        from labella.al.pipelines import DEFAULT_STRATEGY, pipeline_for

        head = pipeline_for(DEFAULT_STRATEGY).make_head(n_classes, multi_label)
    rng = np.random.default_rng(seed)
    share_other = (n - m) / n_pool  # the strategy's picks, as a share of the pool
    sums: ScoreSums = cross_fit(head, X, y, audit, rng=rng)
    W = bootstrap_weights(m, rng)
    score_draws = head_scores(sums, W, share_other)
    curve = fit_random_curve(X, y, audit, W[:REPLICATES], n_classes=n_classes,
                             multi_label=multi_label, share_other=share_other, rng=rng)
    k_draws = random_labels_for(score_draws[:REPLICATES], curve, n_pool=n_pool, rng=rng)
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    score, s_lo, s_hi = _quantiles(score_draws, (0.5, lo_q, hi_q))
    k_mid, k_lo, k_hi = _quantiles(k_draws, (0.5, lo_q, hi_q))
    saved = (k_mid - n, k_lo - n, k_hi - n)
    verdict: Verdict = "winning" if saved[1] > 0 else "losing" if saved[2] < 0 else "unclear"
    return AuditEstimate(n_labels=n, n_audit=m, metric=metric, level=level, score=score,
                         score_low=s_lo, score_high=s_hi,
                         random_labels=k_mid, random_labels_low=k_lo, random_labels_high=k_hi,
                         labels_saved=saved[0], labels_saved_low=saved[1],
                         labels_saved_high=saved[2], verdict=verdict,
                         reason=_reason(verdict, saved, m, level))


def _quantiles(draws: np.ndarray, qs: tuple[float, ...]) -> tuple[float, ...]:
    """Quantiles that keep ``inf`` draws (the nearest draw, not an interpolation)."""
    v = np.sort(draws)
    return tuple(float(v[min(len(v) - 1, round(q * (len(v) - 1)))]) for q in qs)


def _fmt(v: float) -> str:
    return "more than the pool" if math.isinf(v) else f"{v:,.0f}"


def _reason(verdict: Verdict, saved: tuple[float, float, float], m: int, level: float) -> str:
    span = f"{_fmt(saved[1])} to {_fmt(saved[2])} ({level:.0%} interval, {m} audit labels)"
    if verdict == "winning":
        return f"active learning is ahead of random sampling: labels saved {span}"
    if verdict == "losing":
        return f"active learning is behind random sampling: labels saved {span}"
    return f"not yet clear whether active learning beats random sampling: labels saved {span}"


def should_switch(history: Sequence[AuditEstimate], *, after: int = SWITCH_AFTER) -> bool:
    """Whether to switch to :data:`FALLBACK_STRATEGY`: the last ``after`` estimates, at
    growing label counts, all said ``losing`` (one interval can miss; three in a row
    rarely do)."""
    last = list(history)[-after:]
    if len(last) < after or any(e.verdict != "losing" for e in last):
        return False
    return all(a.n_labels < b.n_labels for a, b in itertools.pairwise(last))
