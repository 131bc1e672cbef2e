"""Internals of :mod:`labella.al.audit`: held-out scores, the random learning curve and
its extrapolation. Subject to change; use :func:`labella.al.audit.estimate`.

Notation: ``R`` = the audit rows (a uniform sample of the pool outside the strategy's
picks), ``A`` = the other labelled rows (the strategy's picks, hard items), ``f`` = ``|A|``
as a share of the pool. A score on the pool is ``(1 - f) * (score on R) + f * (score on A)``,
each part measured by models that did not train on the rows they score.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from labella.al.heads import Head, SklearnHead, logistic_regression

FOLDS = 5
FEW_AUDIT = 100      # up to this many audit rows, twice as many folds (each leaves out less)
POINTS = 6           # curve points (geometric in the number of labels)
DRAWS = 400          # Bayesian-bootstrap draws for the head's score
REPLICATES = 20      # of which this many also get their own random learning curve
SHAPES_PER_REPLICATE = 20  # curve shapes drawn from each replicate's posterior
A_SAMPLE = 200       # at most this many strategy picks are scored (their part is ``f``)
NOISE_FLOOR = 0.015  # misfit allowed between the curve family and the measured points
PSEUDO = np.array([[1.0], [0.0]])                     # right / wrong (single-label)
PSEUDO_ML = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])  # (tp, fp, fn) per pseudo-row

@dataclass(frozen=True)
class ScoreSums:
    """Per-row held-out statistics of the project's head.

    ``R``: ``(m, s)`` for the audit rows, ``A``: ``(a, s)`` for a sample of the others;
    ``s`` = 1 (correct) for single-label, 3 (true positives, false positives, false
    negatives) for multi-label.
    """

    R: np.ndarray
    A: np.ndarray
    multi_label: bool


def _stats(head: Head, X: np.ndarray, y: np.ndarray, multi_label: bool) -> np.ndarray:
    proba = head.predict_proba(X)
    if multi_label:
        pred = proba >= 0.5
        true = y.astype(bool)
        return np.stack([(pred & true).sum(1), (pred & ~true).sum(1), (~pred & true).sum(1)],
                        axis=1).astype(float)
    return (proba.argmax(axis=1) == y).astype(float)[:, None]


def metric(stats_mean: np.ndarray, multi_label: bool) -> np.ndarray:
    """Score from (weighted) mean statistics, shape ``(..., s)`` -> ``(...)``."""
    if not multi_label:
        return np.asarray(stats_mean[..., 0])
    tp, fp, fn = stats_mean[..., 0], stats_mean[..., 1], stats_mean[..., 2]
    den = 2 * tp + fp + fn
    return np.asarray(np.where(den > 0, 2 * tp / np.where(den > 0, den, 1.0), 0.0))


def _folds(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    return rng.permutation(np.arange(n) % k)


def _fitted(head: Head, x: np.ndarray) -> bool:
    try:
        head.predict_proba(x)
    except (AttributeError, NotFittedError):
        return False
    return True


def _refit(base: Head, X: np.ndarray, y: np.ndarray) -> Head:
    """``base.clone().fit(X, y)``; a logistic regression starts from ``base``'s solution
    (the data differ by a few rows, so lbfgs needs a few steps instead of a hundred)."""
    model = base.clone()
    est = getattr(model, "estimator", None)
    fitted = getattr(base, "model_", None)
    if (isinstance(est, LogisticRegression) and isinstance(fitted, LogisticRegression)
            and not base.multi_label and np.array_equal(np.unique(y), fitted.classes_)):
        est.set_params(warm_start=True)
        est.coef_, est.intercept_ = fitted.coef_.copy(), fitted.intercept_.copy()
        est.classes_ = fitted.classes_
        with threadpool_limits(1):
            model.model_ = est.fit(X, y)  # type: ignore[attr-defined]
            model.classes_ = fitted.classes_  # type: ignore[attr-defined]
        return model
    return model.fit(X, y)


def cross_fit(head: Head, X: np.ndarray, y: np.ndarray, audit: np.ndarray, *,
              rng: np.random.Generator) -> ScoreSums:
    """Held-out statistics of ``head`` on every audit row and a sample of the others.

    Each of :data:`FOLDS` refits (twice as many up to :data:`FEW_AUDIT` audit rows) leaves
    out a fifth (a tenth) of the audit rows and of the sampled other rows, about 4 % (2 %)
    of the labels, so the models scored are nearly the project's own.
    """
    multi_label = y.ndim == 2
    R = np.flatnonzero(audit)
    A = np.flatnonzero(~audit)
    A = rng.choice(A, size=min(len(A), max(A_SAMPLE // 2, len(R))), replace=False) if len(A) else A
    k = FOLDS if len(R) > FEW_AUDIT else 2 * FOLDS
    fold_R, fold_A = _folds(len(R), k, rng), _folds(len(A), k, rng)
    out_R = np.zeros((len(R), 3 if multi_label else 1))
    out_A = np.zeros((len(A), out_R.shape[1]))
    base = head if _fitted(head, X[:1]) else head.clone().fit(X, y)  # a self-tuning head
    # tunes here once; the folds keep its choice
    for j in range(k):
        held = np.concatenate([R[fold_R == j], A[fold_A == j]])
        if len(held) == 0:
            continue
        keep = np.ones(len(y), dtype=bool)
        keep[held] = False
        model = _refit(base, X[keep], y[keep])
        if (fold_R == j).any():
            out_R[fold_R == j] = _stats(model, X[R[fold_R == j]], y[R[fold_R == j]], multi_label)
        if (fold_A == j).any():
            out_A[fold_A == j] = _stats(model, X[A[fold_A == j]], y[A[fold_A == j]], multi_label)
    return ScoreSums(out_R, out_A, multi_label)



@dataclass(frozen=True)
class RandomCurve:
    """Plain logistic regression on emulated random samples, one curve per replicate.

    ``ks``: ``(P,)`` sample sizes; ``points``: ``(C, P)`` the score on the pool of a model
    trained on a random sample of each size, per bootstrap replicate; ``floor``: the score
    of a model that knows nothing (chance among the classes; no label, multi-label).
    """

    ks: np.ndarray
    points: np.ndarray
    floor: float


def fit_random_curve(X: np.ndarray, y: np.ndarray, audit: np.ndarray, W: np.ndarray, *,
                     n_classes: int, multi_label: bool, share_other: float,
                     rng: np.random.Generator) -> RandomCurve:
    """Learning curve of random sampling, measured on the labelled rows.

    A uniform sample of ``k`` pool items holds about ``k * f`` strategy picks and the
    rest from outside them; the audit rows are a uniform sample of the latter, and every
    strategy pick is labelled, so such a sample can be drawn from the labelled rows for
    ``k`` up to about the number of audit rows. In replicate ``b`` the audit rows carry
    the Bayesian-bootstrap weights ``W[b]`` (``(C, m + 2)``, the last two for the
    pseudo-rows): training samples (nested, growing with ``k``) are drawn in proportion to
    them and scored with them on the audit rows left out, so the curve varies as it would
    with another audit sample (its class mix included), not only with another scoring
    sample.
    """
    R = np.flatnonzero(audit)
    A = np.flatnonzero(~audit)
    m = len(R)
    pseudo = PSEUDO_ML if multi_label else PSEUDO
    k_max = max(2, int(0.75 * m / max(1e-9, 1.0 - share_other)))
    ks = np.unique(np.geomspace(2, k_max, POINTS).round().astype(int))
    A_eval = rng.choice(A, size=min(len(A), A_SAMPLE), replace=False) if len(A) else A
    points = np.zeros((len(W), len(ks)))
    with threadpool_limits(1):
        for b, w in enumerate(W):
            # nested samples: the first k of a weighted random order of the audit rows
            # (Gumbel top-k: drawn without replacement in proportion to w) and of the others
            order_R = np.argsort(-(np.log(w[:m]) + rng.gumbel(size=m)))
            order_A = rng.permutation(A)
            prev: LogisticRegression | None = None
            for j, k in enumerate(ks):
                k_a = min(len(A), round(k * share_other))
                k_r = min(m - 1, k - k_a)
                tr_A = order_A[:k_a]
                rows = np.concatenate([R[order_R[:k_r]], tr_A])
                model, prev = _plain_fit(X[rows], y[rows], prev, n_classes, multi_label)
                held = order_R[k_r:]
                stats = np.vstack([_stats(model, X[R[held]], y[R[held]], multi_label), pseudo])
                wh = np.concatenate([w[held], w[m:]])
                r_part = (wh[:, None] * stats).sum(0) / wh.sum()
                a_held = A_eval[~np.isin(A_eval, tr_A)]
                a_part = (_stats(model, X[a_held], y[a_held], multi_label).mean(0)
                          if len(a_held) else np.zeros(stats.shape[1]))
                points[b, j] = metric((1 - share_other) * r_part + share_other * a_part,
                                      multi_label)
    # the score of a model that knows nothing: 1 / classes (not the majority share of the
    # audit rows: with 30 of them that is too noisy to pin a curve to), no label at all
    floor = 0.0 if multi_label else 1.0 / n_classes
    return RandomCurve(ks, points, floor)


def _plain_fit(X: np.ndarray, y: np.ndarray, prev: LogisticRegression | None, n_classes: int,
               multi_label: bool) -> tuple[Head, LogisticRegression | None]:
    """Plain logistic regression (``C=1``: the random baseline's head) on ``X, y``; a
    single-label fit starts from ``prev``'s solution when it saw the same classes (the
    samples are nested, so it is close)."""
    if multi_label or len(np.unique(y)) < 2:
        return logistic_regression(n_classes, multi_label=multi_label).fit(X, y), None
    est = LogisticRegression(C=1.0, max_iter=1000, tol=1e-3, warm_start=True)
    if prev is not None and np.array_equal(prev.classes_, np.unique(y)):
        est.coef_, est.intercept_ = prev.coef_.copy(), prev.intercept_.copy()
    est.fit(X, y)
    head = SklearnHead(est, n_classes)
    head.classes_, head.model_ = est.classes_, est
    return head, est


def bootstrap_weights(m: int, rng: np.random.Generator, draws: int = DRAWS) -> np.ndarray:
    """Bayesian-bootstrap weights over the ``m`` audit rows and two pseudo-rows at half
    weight (one scored right and one wrong by every model: a Jeffreys-like prior, so 30
    audit rows all right do not make an interval of zero width), shape ``(draws, m + 2)``."""
    return rng.dirichlet(np.concatenate([np.ones(m), [0.5, 0.5]]), size=draws)


def head_scores(sums: ScoreSums, W: np.ndarray, share_other: float) -> np.ndarray:
    """The head's score on the pool under each row of weights ``W``, shape ``(B,)``."""
    pseudo = PSEUDO_ML if sums.multi_label else PSEUDO
    R = np.vstack([sums.R, pseudo])
    a_part = sums.A.mean(0) if len(sums.A) else np.zeros(sums.R.shape[1])
    return metric((1 - share_other) * (W @ R) + share_other * a_part, sums.multi_label)


def _grid(floor: float, n_pool: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shapes ``floor + (a - floor) * sigmoid(beta * (ln k - kappa))``: a prior, uniform
    over asymptote ``a``, log-uniform over steepness ``beta``, uniform over the midpoint
    ``kappa`` in log labels (up to 20 times the pool)."""
    a = np.linspace(floor + 0.02 * (1 - floor), 1.0, 24)
    beta = np.geomspace(0.3, 3.0, 10)
    kappa = np.linspace(0.0, np.log(20.0 * n_pool), 30)
    A_, B_, K_ = np.meshgrid(a, beta, kappa, indexing="ij")
    return A_.ravel(), B_.ravel(), K_.ravel()




def random_labels_for(score: np.ndarray, curve: RandomCurve, *, n_pool: int,
                      rng: np.random.Generator) -> np.ndarray:
    """Labels random sampling needs to reach ``score[b]`` (``(C,)``, the head's score
    under replicate ``b``'s weights), :data:`SHAPES_PER_REPLICATE` draws per replicate,
    shape ``(C * SHAPES_PER_REPLICATE,)``.

    For each replicate, curve shapes are drawn from their posterior over :func:`_grid`
    given that replicate's curve points (the spread of the points over replicates is
    their noise), and inverted at its score; more than ``n_pool`` labels is ``inf``.
    """
    pts = curve.points                                                          # (C, P)
    var = pts.var(axis=0) + NOISE_FLOOR**2                                      # (P,)
    a, beta, kappa = _grid(curve.floor, n_pool)
    lk = np.log(curve.ks.astype(float))
    shape = curve.floor + (a - curve.floor)[:, None] / (
        1 + np.exp(-beta[:, None] * (lk[None, :] - kappa[:, None])))            # (G, P)
    sse = ((pts**2 / var).sum(1)[:, None] - 2 * (pts / var) @ shape.T
           + (shape**2 / var).sum(1)[None, :])                                  # (C, G)
    logp = (-0.5 * sse).astype(np.float32)
    out: list[float] = []
    for _ in range(SHAPES_PER_REPLICATE):  # one posterior sample per replicate (Gumbel-max)
        g = np.argmax(logp + rng.gumbel(size=logp.shape).astype(np.float32), axis=1)
        out += [_inverse(float(score[b]), curve.floor, a[j], beta[j], kappa[j], n_pool)
                for b, j in enumerate(g)]
    return np.asarray(out)


def _inverse(s: float, floor: float, a: float, beta: float, kappa: float, n_pool: int) -> float:
    if s >= a:
        return float("inf")
    if s <= floor:
        return 0.0
    q = (s - floor) / (a - floor)
    k = float(np.exp(kappa + np.log(q / (1 - q)) / beta))
    return float("inf") if k > n_pool else k
