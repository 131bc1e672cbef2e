"""Evaluation metrics and label-savings figures. Pure numpy.

Single-label arrays are ``(n,)`` class indices; multi-label arrays are
``(n, L)`` multi-hot 0/1. Where a ratio has a zero denominator (no item
predicted or truly in a class) the value is 0.0, as in scikit-learn with
``zero_division=0``. Macro averages over single-label classes use the classes
present in ``y_true`` or ``y_pred`` (scikit-learn's default); multi-label macro
averages use every label column.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from labella.errors import DataError


def _div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def _f1(precision: np.ndarray, recall: np.ndarray) -> np.ndarray:
    return _div(2 * precision * recall, precision + recall)


def _check_pair(y_true: np.ndarray, y_pred: np.ndarray) -> None:
    if y_true.shape != y_pred.shape:
        raise DataError(f"y_true has shape {y_true.shape}, y_pred has {y_pred.shape}")
    if len(y_true) == 0:
        raise DataError("cannot evaluate on zero items")


# -- single-label -----------------------------------------------------------------


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts, shape ``(n_classes, n_classes)``: row = true class, column = predicted."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    _check_pair(y_true, y_pred)
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if y.min() < 0 or y.max() >= n_classes:
            raise DataError(f"{name} must be in 0..{n_classes - 1}; got {y.min()}..{y.max()}")
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of items whose prediction equals the truth (subset accuracy for multi-hot)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    _check_pair(y_true, y_pred)
    eq = y_true == y_pred
    return float(np.mean(eq if eq.ndim == 1 else eq.all(axis=1)))


def _per_class(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    tp = np.diag(cm)
    pred = cm.sum(axis=0)
    support = cm.sum(axis=1)
    precision, recall = _div(tp, pred), _div(tp, support)
    return precision, recall, _f1(precision, recall), support


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int | None = None) -> float:
    """Unweighted mean F1 over the classes present in ``y_true`` or ``y_pred``."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    _check_pair(y_true, y_pred)
    c = n_classes if n_classes is not None else int(max(y_true.max(), y_pred.max())) + 1
    cm = confusion_matrix(y_true, y_pred, c)
    _, _, f1, _ = _per_class(cm)
    present = (cm.sum(axis=0) + cm.sum(axis=1)) > 0
    return float(f1[present].mean())


def per_class_precision_recall(
    y_true: np.ndarray, y_pred: np.ndarray, n_classes: int, *, class_names: Sequence[str] | None = None
) -> dict[Any, dict[str, float]]:
    """``{class: {"precision", "recall", "f1", "support"}}`` keyed by index or by ``class_names``."""
    names = _names(n_classes, class_names)
    p, r, f, s = _per_class(confusion_matrix(y_true, y_pred, n_classes))
    keys: Sequence[Any] = names if class_names is not None else range(n_classes)
    return {k: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i, k in enumerate(keys)}


def _names(n_classes: int, class_names: Sequence[str] | None) -> list[str]:
    if class_names is None:
        return [str(i) for i in range(n_classes)]
    if len(class_names) != n_classes:
        raise DataError(f"{len(class_names)} class names for {n_classes} classes")
    return [str(c) for c in class_names]


# -- multi-label ------------------------------------------------------------------


def _ml_counts(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t, p = np.asarray(y_true).astype(bool), np.asarray(y_pred).astype(bool)
    _check_pair(t, p)
    if t.ndim != 2:
        raise DataError(f"multi-label arrays must be 2-D (n, L); got {t.shape}")
    return (t & p).sum(axis=0), (~t & p).sum(axis=0), (t & ~p).sum(axis=0)


def micro_f1_multilabel(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """F1 of the pooled true positives, false positives and false negatives of all labels."""
    tp, fp, fn = (x.sum() for x in _ml_counts(y_true, y_pred))
    return float(_div(2 * tp, 2 * tp + fp + fn))


def macro_f1_multilabel(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Unweighted mean of each label column's F1."""
    tp, fp, fn = _ml_counts(y_true, y_pred)
    return float(_div(2 * tp, 2 * tp + fp + fn).mean())


def hamming_loss(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of the ``n * L`` label decisions that are wrong."""
    t, p = np.asarray(y_true).astype(bool), np.asarray(y_pred).astype(bool)
    _check_pair(t, p)
    return float(np.mean(t != p))


# -- one entry point --------------------------------------------------------------


def evaluate(
    y_true: np.ndarray,
    y_pred_or_proba: np.ndarray,
    *,
    multi_label: bool,
    class_names: Sequence[str] | None = None,
    threshold: float = 0.5,
) -> dict[str, Any]:
    """All metrics for one task kind, as a JSON-safe dict (str keys, Python numbers, lists).

    Args:
        y_true: ``(n,)`` class indices, or ``(n, L)`` multi-hot.
        y_pred_or_proba: predictions in the same form as ``y_true``, or
            probabilities: ``(n, C)`` for single-label (argmax is taken), or a
            float ``(n, L)`` for multi-label (``>= threshold`` is positive).
        class_names: names of the classes/labels; per-class entries are keyed by
            them, else by the class index as a string.
    Returns:
        single-label: ``n_items, accuracy, macro_f1, per_class, confusion_matrix``
        (rows true, columns predicted, in class order); multi-label: ``n_items,
        subset_accuracy, micro_f1, macro_f1, hamming_loss, per_label``.
    """
    y_true = np.asarray(y_true)
    pred = np.asarray(y_pred_or_proba)
    if multi_label:
        if np.issubdtype(pred.dtype, np.floating):
            pred = pred >= threshold
        pred = pred.astype(np.int8)
        if y_true.ndim != 2:
            raise DataError(f"multi-label y_true must be (n, L); got {y_true.shape}")
        names = _names(y_true.shape[1], class_names)
        tp, fp, fn = _ml_counts(y_true, pred)
        p, r = _div(tp, tp + fp), _div(tp, tp + fn)
        return {
            "n_items": len(y_true),
            "subset_accuracy": accuracy(y_true.astype(np.int8), pred),
            "micro_f1": micro_f1_multilabel(y_true, pred),
            "macro_f1": macro_f1_multilabel(y_true, pred),
            "hamming_loss": hamming_loss(y_true, pred),
            "per_label": {n: {"precision": float(p[j]), "recall": float(r[j]), "f1": float(_f1(p, r)[j]),
                              "support": int(tp[j] + fn[j])} for j, n in enumerate(names)},
        }
    if pred.ndim == 2:
        n_classes = pred.shape[1]
        pred = pred.argmax(axis=1)
    elif class_names is not None:
        n_classes = len(class_names)
    else:
        n_classes = int(max(y_true.max(initial=0), pred.max(initial=0))) + 1
    n_classes = max(n_classes, 2)
    names = _names(n_classes, class_names)
    cm = confusion_matrix(y_true, pred, n_classes)
    per = per_class_precision_recall(y_true, pred, n_classes, class_names=names)
    return {
        "n_items": len(y_true),
        "accuracy": accuracy(y_true, pred),
        "macro_f1": macro_f1(y_true, pred, n_classes),
        "per_class": per,
        "confusion_matrix": cm.tolist(),
        "class_names": names,
    }


# -- learning curves and savings --------------------------------------------------


def labels_to_target(labels: Sequence[int], scores: Sequence[float], target: float) -> int | None:
    """Labels used at the first curve point (in order of labels) whose score is ``>= target``."""
    if len(labels) != len(scores):
        raise DataError(f"{len(labels)} label counts for {len(scores)} scores")
    order = np.argsort(np.asarray(labels), kind="stable")
    for i in order:
        if scores[i] >= target:
            return int(labels[i])
    return None


@dataclass(frozen=True)
class Savings:
    """How many times fewer labels strategy *a* needs than baseline *b* to reach a target.

    ``factor = labels_b / labels_a``. If *b* never reaches the target,
    ``labels_b`` is the most labels *b* was given, the factor is a lower bound
    and ``lower_bound`` is True. If *a* never reaches it, ``factor`` is None.
    A curve reaching the target at 0 labels counts as 1 label for the ratio.
    """

    factor: float | None
    lower_bound: bool
    labels_a: int | None
    labels_b: int | None
    target: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def savings(
    labels_a: Sequence[int], scores_a: Sequence[float],
    labels_b: Sequence[int], scores_b: Sequence[float], target: float,
) -> Savings:
    """The :class:`Savings` of curve *a* against baseline curve *b* (e.g. random) at ``target``."""
    need_a = labels_to_target(labels_a, scores_a, target)
    need_b = labels_to_target(labels_b, scores_b, target)
    if need_a is None:
        return Savings(None, False, None, need_b, target)
    if need_b is None:
        if len(labels_b) == 0:
            return Savings(None, False, need_a, None, target)
        most = int(max(labels_b))
        return Savings(most / max(need_a, 1), True, need_a, most, target)
    return Savings(need_b / max(need_a, 1), False, need_a, need_b, target)


def savings_factor(
    labels_a: Sequence[int], scores_a: Sequence[float],
    labels_b: Sequence[int], scores_b: Sequence[float], target: float,
) -> float | None:
    """``labels b needs / labels a needs`` to reach ``target``; see :class:`Savings`.

    None if *a* never reaches the target. If the baseline *b* never reaches it,
    the value is a lower bound (``max(labels_b) / labels_a``); call
    :func:`savings` to get the ``lower_bound`` flag with it.
    """
    return savings(labels_a, scores_a, labels_b, scores_b, target).factor
