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

from labella.al.heads import Head, logistic_regression

FOLDS = 5
REPEATS = 4          # emulated random samples per curve point
POINTS = 7           # curve points (geometric in the number of labels)
DRAWS = 300          # Bayesian-bootstrap draws
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

    Each of :data:`FOLDS` refits leaves out a fifth of the audit rows and of the sampled
    other rows (about ``2 * share / FOLDS`` of the labels), so the models scored are
    nearly the project's own.
    """
    multi_label = y.ndim == 2
    R = np.flatnonzero(audit)
    A = np.flatnonzero(~audit)
    A = rng.choice(A, size=min(len(A), max(A_SAMPLE // 2, len(R))), replace=False) if len(A) else A
    fold_R, fold_A = _folds(len(R), FOLDS, rng), _folds(len(A), FOLDS, rng)
    out_R = np.zeros((len(R), 3 if multi_label else 1))
    out_A = np.zeros((len(A), out_R.shape[1]))
    base = head if _fitted(head, X[:1]) else head.clone().fit(X, y)  # a self-tuning head
    # tunes here once; the folds keep its choice
    for j in range(FOLDS):
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
    """Plain logistic regression on emulated random samples.

    ``ks``: ``(P,)`` sample sizes; ``R_stats``: ``(P, REPEATS, m, s)`` statistics on the
    audit rows, NaN where the row was in the training sample; ``A_score``: ``(P, REPEATS, s)``
    mean statistics on held-out strategy picks; ``floor``: the score of a model that
    knows nothing (majority class, or no label at all).
    """

    ks: np.ndarray
    R_stats: np.ndarray
    A_stats: np.ndarray
    floor: float


def fit_random_curve(X: np.ndarray, y: np.ndarray, audit: np.ndarray, *, n_classes: int,
                     multi_label: bool, share_other: float,
                     rng: np.random.Generator) -> RandomCurve:
    """Learning curve of random sampling, measured on the labelled rows.

    A uniform sample of ``k`` pool items holds about ``k * f`` strategy picks and the
    rest from outside them; the audit rows are a uniform sample of the latter, and every
    strategy pick is labelled, so such a sample can be drawn from the labelled rows for
    ``k`` up to about the number of audit rows. Each is scored on the audit rows and
    strategy picks it did not train on.
    """
    R = np.flatnonzero(audit)
    A = np.flatnonzero(~audit)
    m = len(R)
    s = 3 if multi_label else 1
    k_max = max(2, int(0.75 * m / max(1e-9, 1.0 - share_other)))
    ks = np.unique(np.geomspace(2, k_max, POINTS).round().astype(int))
    R_stats = np.full((len(ks), REPEATS, m, s), np.nan)
    A_stats = np.zeros((len(ks), REPEATS, s))
    A_eval = rng.choice(A, size=min(len(A), A_SAMPLE), replace=False) if len(A) else A
    with threadpool_limits(1):
        for p, k in enumerate(ks):
            for r in range(REPEATS):
                k_a = min(len(A), int(rng.binomial(k, share_other))) if len(A) else 0
                k_r = min(m - 1, k - k_a)
                tr_R = rng.choice(m, size=k_r, replace=False)
                tr_A = rng.choice(A, size=k_a, replace=False) if k_a else np.empty(0, dtype=int)
                rows = np.concatenate([R[tr_R], tr_A])
                model = logistic_regression(n_classes, multi_label=multi_label).fit(X[rows], y[rows])
                held = np.setdiff1d(np.arange(m), tr_R)
                R_stats[p, r, held] = _stats(model, X[R[held]], y[R[held]], multi_label)
                a_held = A_eval[~np.isin(A_eval, tr_A)]
                if len(a_held):
                    A_stats[p, r] = _stats(model, X[a_held], y[a_held], multi_label).mean(0)
    if multi_label:
        floor = 0.0
    else:
        floor = float(np.bincount(y[R], minlength=n_classes).max() / m)
    return RandomCurve(ks, R_stats, A_stats, floor)


def _weighted_mean(stats: np.ndarray, W: np.ndarray) -> np.ndarray:
    """``stats`` ``(..., m, s)`` with NaN rows; ``W`` ``(B, m)`` -> ``(B, ..., s)``."""
    ok = ~np.isnan(stats[..., 0])
    vals = np.nan_to_num(stats)
    num = np.einsum("bm,...ms->b...s", W, vals)
    den = np.einsum("bm,...m->b...", W, ok.astype(float))
    return num / np.maximum(den, 1e-12)[..., None]


def _grid(floor: float, n_pool: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shapes ``floor + (a - floor) * sigmoid(beta * (ln k - kappa))``: a prior, uniform
    over asymptote ``a``, log-uniform over steepness ``beta``, uniform over the midpoint
    ``kappa`` in log labels (up to 20 times the pool)."""
    a = np.linspace(floor + 0.02 * (1 - floor), 1.0, 24)
    beta = np.geomspace(0.3, 3.0, 10)
    kappa = np.linspace(0.0, np.log(20.0 * n_pool), 30)
    A_, B_, K_ = np.meshgrid(a, beta, kappa, indexing="ij")
    return A_.ravel(), B_.ravel(), K_.ravel()


def random_labels_for(sums: ScoreSums, curve: RandomCurve, *, share_other: float, n_pool: int,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draws of (the head's score on the pool, labels random sampling needs for it).

    Each draw reweights the audit rows (Bayesian bootstrap: the head's score and the
    random curve see the same weights, so their errors are paired), then draws a curve
    shape from its posterior over :func:`_grid` given the reweighted curve points and
    inverts it at the head's score. More than ``n_pool`` labels is ``inf``.
    """
    f, ml = share_other, sums.multi_label
    m = sums.R.shape[0]
    # two pseudo-rows at half weight, one scored right and one wrong by every model (a
    # Jeffreys-like prior): 30 audit rows all right do not make an interval of zero width
    pseudo = PSEUDO_ML if ml else PSEUDO
    R = np.vstack([sums.R, pseudo])
    R_curve = np.concatenate(
        [curve.R_stats, np.broadcast_to(pseudo, (*curve.R_stats.shape[:2], *pseudo.shape))],
        axis=2)
    W = rng.dirichlet(np.concatenate([np.ones(m), [0.5, 0.5]]), size=DRAWS)
    a_part = sums.A.mean(0) if len(sums.A) else np.zeros(sums.R.shape[1])
    score = metric((1 - f) * (W @ R) + f * a_part, ml)                        # (B,)
    pts = metric((1 - f) * _weighted_mean(R_curve, W) + f * curve.A_stats[None], ml)
    pts = pts.mean(axis=2)                                                     # (B, P)
    var = pts.var(axis=0) + NOISE_FLOOR**2                                     # (P,)
    a, beta, kappa = _grid(curve.floor, n_pool)
    lk = np.log(curve.ks.astype(float))
    shape = curve.floor + (a - curve.floor)[:, None] / (
        1 + np.exp(-beta[:, None] * (lk[None, :] - kappa[:, None])))           # (G, P)
    # squared misfit of every draw's points to every shape, (B, G), then one posterior
    # sample per draw (Gumbel-max over the grid)
    sse = ((pts**2 / var).sum(1)[:, None] - 2 * (pts / var) @ shape.T
           + (shape**2 / var).sum(1)[None, :])
    logp = (-0.5 * sse).astype(np.float32)
    g = np.argmax(logp + rng.gumbel(size=logp.shape).astype(np.float32), axis=1)
    k_draws = np.array([_inverse(score[b], curve.floor, a[j], beta[j], kappa[j], n_pool)
                        for b, j in enumerate(g)])
    return score, k_draws


def _inverse(s: float, floor: float, a: float, beta: float, kappa: float, n_pool: int) -> float:
    if s >= a:
        return float("inf")
    if s <= floor:
        return 0.0
    q = (s - floor) / (a - floor)
    k = float(np.exp(kappa + np.log(q / (1 - q)) / beta))
    return float("inf") if k > n_pool else k
