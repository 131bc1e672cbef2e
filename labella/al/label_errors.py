"""Label-error finder: confident learning on out-of-sample predicted probabilities.

The maths of Northcutt, Jiang & Chuang, "Confident Learning: Estimating Uncertainty in
Dataset Labels" (JAIR 2021), the same as cleanlab's ``filter.find_label_issues`` with
``filter_by="prune_by_noise_rate"`` (cleanlab is AGPL: it is only a test-time reference,
never imported here):

1. per-class thresholds ``t_j``: the mean predicted probability of class ``j`` over the
   items labelled ``j`` (the model's average self-confidence for that class);
2. the confident joint ``C[i, j]``: items labelled ``i`` whose probability of ``j`` reaches
   ``t_j`` (the largest such ``j`` when several do), calibrated so that its rows sum to the
   class counts;
3. for every off-diagonal cell ``(i, j)``, the ``C[i, j]`` items labelled ``i`` with the
   largest margin ``p_j - p_i`` are suspected; an item whose label is the model's own
   prediction is never suspected.

Suspects are ranked by self-confidence ``p[given label]`` (lowest first) or by
normalised margin. ``pred_probs`` must be out-of-sample (e.g. :func:`cross_val_proba`):
a model scoring its own training labels agrees with them, errors included.

Index space: row positions of the arrays passed in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold

from labella.al.heads import Head
from labella.errors import DataError

RANKINGS = ("self_confidence", "normalized_margin")


@dataclass(frozen=True)
class LabelIssues:
    """Suspected label errors, most suspicious first.

    ``indices``: row positions; ``scores``: label quality in [0, 1] of those rows (low:
    likely wrong); ``given``: the current class index; ``suggested``: the model's
    alternative (its most probable class other than the given one); ``n_checked``: rows
    examined.
    """

    indices: np.ndarray
    scores: np.ndarray
    given: np.ndarray
    suggested: np.ndarray
    n_checked: int


def _check(labels: np.ndarray, pred_probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels)
    pred_probs = np.asarray(pred_probs, dtype=np.float64)
    if pred_probs.ndim != 2:
        raise DataError(f"pred_probs must be 2-D (items, classes); got shape {pred_probs.shape}")
    if labels.shape != (len(pred_probs),):
        raise DataError(f"labels must have shape ({len(pred_probs)},); got {labels.shape}")
    k = pred_probs.shape[1]
    if k < 2:
        raise DataError(f"need at least 2 classes; got {k}")
    if len(labels) and (labels.min() < 0 or labels.max() >= k):
        raise DataError(f"labels must be class indices in [0, {k}); got {labels.min()}..{labels.max()}")
    return labels.astype(np.int64), pred_probs


def per_class_thresholds(labels: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """Shape ``(k,)``: mean ``pred_probs[:, j]`` over the items labelled ``j`` (a class with
    no label gets threshold 1, so nothing is confidently assigned to it)."""
    labels, pred_probs = _check(labels, pred_probs)
    k = pred_probs.shape[1]
    counts = np.bincount(labels, minlength=k)
    sums = np.zeros(k)
    np.add.at(sums, labels, pred_probs[np.arange(len(labels)), labels])
    return np.where(counts > 0, sums / np.maximum(counts, 1), 1.0)


def confident_joint(labels: np.ndarray, pred_probs: np.ndarray, *,
                    calibrate: bool = True) -> np.ndarray:
    """Shape ``(k, k)``: ``C[i, j]`` counts the items labelled ``i`` confidently predicted
    ``j``; calibrated (``calibrate``) so that row ``i`` sums to the number labelled ``i``
    (integer counts, rounded preserving row totals)."""
    labels, pred_probs = _check(labels, pred_probs)
    k = pred_probs.shape[1]
    t = per_class_thresholds(labels, pred_probs)
    above = pred_probs >= t - 1e-6
    any_above = above.any(axis=1)
    masked = np.where(above, pred_probs, -np.inf)
    confident = masked.argmax(axis=1)
    cj = np.zeros((k, k), dtype=np.int64)
    np.add.at(cj, (labels[any_above], confident[any_above]), 1)
    if not calibrate:
        return cj
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    rows = cj.sum(axis=1, keepdims=True).astype(np.float64)
    cal = np.where(rows > 0, cj / np.maximum(rows, 1) * counts[:, None], 0.0)
    total = cal.sum()
    if total > 0:
        cal = cal / total * counts.sum()
    return _round_preserving_row_totals(cal)


def _round_preserving_row_totals(m: np.ndarray) -> np.ndarray:
    """Integer matrix whose rows sum to the rounded row sums of ``m`` (largest remainders)."""
    floor = np.floor(m)
    out = floor.astype(np.int64)
    want = np.rint(m.sum(axis=1)).astype(np.int64)
    rem = m - floor
    for i in range(len(m)):
        short = int(want[i] - out[i].sum())
        if short > 0:
            top = np.argsort(-rem[i], kind="stable")[:short]
            out[i, top] += 1
    return out


def _keep_at_least(prune: np.ndarray, n: int) -> np.ndarray:
    """``prune`` (transposed joint: ``[j, i]`` = items labelled ``i`` to drop for ``j``)
    adjusted so that every class keeps at least ``n`` items."""
    diag = np.diagonal(prune).astype(np.float64)
    new_diag = np.maximum(diag, n)
    per_col = np.maximum(np.count_nonzero(prune, axis=0) - 1.0, 1.0)
    out = prune - (new_diag - diag) / per_col
    out[out < 0] = 0
    np.fill_diagonal(out, new_diag)
    return _round_preserving_row_totals(out)


def label_quality(labels: np.ndarray, pred_probs: np.ndarray, *,
                  method: str = "self_confidence") -> np.ndarray:
    """Shape ``(n,)``: quality of each item's given label in [0, 1] (low: likely wrong).

    ``self_confidence``: ``p[given]``; ``normalized_margin``: ``(p[given] - max other p +
    1) / 2``.
    """
    labels, pred_probs = _check(labels, pred_probs)
    own = pred_probs[np.arange(len(labels)), labels]
    if method == "self_confidence":
        return own
    if method == "normalized_margin":
        return (own - _best_other(labels, pred_probs)[1] + 1.0) / 2.0
    raise DataError(f"unknown ranking {method!r}; expected one of {', '.join(RANKINGS)}")


def _best_other(labels: np.ndarray, pred_probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The most probable class other than the given one, and its probability."""
    other = pred_probs.copy()
    other[np.arange(len(labels)), labels] = -np.inf
    alt = other.argmax(axis=1)
    return alt, other[np.arange(len(labels)), alt]


def find_label_issues(labels: np.ndarray, pred_probs: np.ndarray, *,
                      min_per_class: int = 1, rank_by: str = "self_confidence") -> LabelIssues:
    """Suspected label errors among single-label ``labels`` (shape ``(n,)``, class
    indices) given out-of-sample ``pred_probs`` (shape ``(n, k)``), most suspicious first
    (prune by noise rate; see the module docstring)."""
    labels, pred_probs = _check(labels, pred_probs)
    n, k = pred_probs.shape
    if rank_by not in RANKINGS:
        raise DataError(f"unknown ranking {rank_by!r}; expected one of {', '.join(RANKINGS)}")
    issues = np.zeros(n, dtype=bool)
    if n:
        prune = _keep_at_least(confident_joint(labels, pred_probs).T, min_per_class)
        for i in range(k):  # the given class
            rows = np.flatnonzero(labels == i)
            if not len(rows):
                continue
            for j in range(k):
                m = int(prune[j, i])
                if j == i or m <= 0:
                    continue
                margin = pred_probs[rows, j] - pred_probs[rows, i]
                top = np.argsort(-margin, kind="stable")[:m]
                issues[rows[top]] = True
        issues &= pred_probs.argmax(axis=1) != labels
    idx = np.flatnonzero(issues)
    quality = label_quality(labels, pred_probs, method=rank_by)[idx]
    order = np.argsort(quality, kind="stable")
    idx = idx[order]
    alt = _best_other(labels[idx], pred_probs[idx])[0] if len(idx) else np.zeros(0, np.int64)
    return LabelIssues(idx, quality[order], labels[idx], alt, n)


def find_label_issues_multilabel(labels: np.ndarray, pred_probs: np.ndarray, *,
                                 min_per_class: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Multi-label (``labels`` multi-hot, shape ``(n, k)``): each label is checked as its
    own binary task. Returns (row indices of suspected items, most suspicious first;
    shape ``(n_issues, k)`` bool mask of the labels suspected wrong on each)."""
    y = np.asarray(labels)
    p = np.asarray(pred_probs, dtype=np.float64)
    if y.shape != p.shape or y.ndim != 2:
        raise DataError(f"labels and pred_probs must both be (items, classes); got {y.shape} and {p.shape}")
    flags = np.zeros(y.shape, dtype=bool)
    quality = np.ones(y.shape)
    for j in range(y.shape[1]):
        yj = y[:, j].astype(np.int64)
        if len(np.unique(yj)) < 2:
            continue
        pj = np.stack([1.0 - p[:, j], p[:, j]], axis=1)
        res = find_label_issues(yj, pj, min_per_class=min_per_class)
        flags[res.indices, j] = True
        quality[:, j] = pj[np.arange(len(yj)), yj]
    rows = np.flatnonzero(flags.any(axis=1))
    order = np.argsort(np.where(flags[rows], quality[rows], 1.0).min(axis=1), kind="stable")
    rows = rows[order]
    return rows, flags[rows]


def cross_val_proba(make_head: Callable[[], Head], X: np.ndarray, y: np.ndarray, *,
                    n_folds: int = 5, seed: int = 0) -> np.ndarray:
    """Out-of-fold predicted probabilities, shape ``(n, k)``: each row from a head fitted
    without it (stratified folds for single-label when every class has ``n_folds``
    items, fewer folds otherwise). ``make_head`` returns a fresh unfitted head."""
    n = len(y)
    if n < 4:
        raise DataError(f"cross-validation needs at least 4 labelled items; got {n}")
    multi = y.ndim == 2
    splitter: KFold | StratifiedKFold
    if multi:
        splitter = KFold(min(n_folds, n), shuffle=True, random_state=seed)
    else:
        counts = np.bincount(y)
        folds = min(n_folds, int(counts[counts > 0].min()))
        splitter = (StratifiedKFold(folds, shuffle=True, random_state=seed) if folds >= 2
                    else KFold(min(n_folds, n), shuffle=True, random_state=seed))
    out: np.ndarray | None = None
    for train, test in splitter.split(X, None if multi else y):
        head = make_head().fit(X[train], y[train])
        p = head.predict_proba(X[test])
        if out is None:
            out = np.zeros((n, p.shape[1]))
        out[test] = p
    if out is None:  # unreachable: every splitter above makes at least two folds
        raise DataError("cross-validation made no folds")
    return out
