"""Agreement between annotators: Krippendorff's alpha (nominal) and Cohen's kappa.

Pure numpy. Ratings come as an array ``R`` of shape ``(n_items, n_annotators)``
(single-label: class indices, :data:`~labella.al.types.UNLABELED` where an
annotator did not answer) or ``(n_items, n_annotators, n_labels)`` (multi-label:
0/1 per label, ``UNLABELED`` where no answer). Rows are item row positions,
columns annotator positions; the service layer maps both to ids.

Every figure comes with ``n_items``: the number of items behind it (items with
at least two answers for alpha, items both annotators answered for kappa), so
a reader can tell a kappa of 1.0 on 3 items from one on 300.

References: K. Krippendorff, *Computing Krippendorff's Alpha-Reliability*
(2011); J. Cohen, *A coefficient of agreement for nominal scales* (1960).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from labella.al.types import UNLABELED
from labella.errors import DataError


@dataclass(frozen=True)
class Figure:
    """An agreement value and the number of items behind it (``value`` is NaN when
    undefined: no item with two answers, or no variation at all)."""

    value: float
    n_items: int


def _check_2d(ratings: np.ndarray) -> np.ndarray:
    r = np.asarray(ratings)
    if r.ndim != 2:
        raise DataError(f"ratings must have shape (n_items, n_annotators); got {r.shape}")
    if r.size and not np.issubdtype(r.dtype, np.integer):
        raise DataError(f"ratings must be integer class indices; got dtype {r.dtype}")
    if r.size and (r < UNLABELED).any():
        raise DataError(f"ratings must be class indices >= 0 or {UNLABELED} (no answer)")
    return r


def coincidence_matrix(ratings: np.ndarray, n_classes: int | None = None) -> np.ndarray:
    """Krippendorff's coincidence matrix ``o[c, k]`` over pairable items (>= 2 answers),
    shape ``(n_classes, n_classes)``: each item adds ``n_ck / (m_u - 1)`` for its ordered
    pairs of answers from different annotators."""
    r = _check_2d(ratings)
    k = int(n_classes if n_classes is not None else (r.max() + 1 if r.size else 0))
    o = np.zeros((k, k))
    for row in r:
        vals = row[row != UNLABELED]
        m = len(vals)
        if m < 2:
            continue
        counts = np.bincount(vals, minlength=k).astype(float)
        o += (np.outer(counts, counts) - np.diag(counts)) / (m - 1)
    return o


def krippendorff_alpha(ratings: np.ndarray, n_classes: int | None = None) -> Figure:
    """Krippendorff's alpha for nominal data, missing answers allowed.

    ``alpha = 1 - D_o / D_e`` with ``D_o`` the observed and ``D_e`` the expected
    disagreement from the coincidence matrix. NaN when fewer than two items can be
    paired or every answer is the same class (no expected disagreement).
    """
    r = _check_2d(ratings)
    n_items = int(((r != UNLABELED).sum(axis=1) >= 2).sum()) if r.size else 0
    o = coincidence_matrix(r, n_classes)
    n = o.sum()
    if n_items == 0 or n <= 1:
        return Figure(math.nan, n_items)
    n_c = o.sum(axis=1)
    d_o = (n - np.trace(o)) / n
    d_e = (n * n - (n_c**2).sum()) / (n * (n - 1))
    if d_e == 0:
        return Figure(math.nan, n_items)
    return Figure(float(1.0 - d_o / d_e), n_items)


def krippendorff_alpha_multilabel(ratings: np.ndarray) -> list[Figure]:
    """Alpha per label for multi-label ratings, shape ``(n_items, n_annotators, n_labels)``:
    each label is a binary nominal variable (applies / does not apply)."""
    r = np.asarray(ratings)
    if r.ndim != 3:
        raise DataError(f"multi-label ratings must have shape (n_items, n_annotators, n_labels); "
                        f"got {r.shape}")
    if r.size and not np.isin(r, (0, 1, UNLABELED)).all():
        raise DataError(f"multi-label ratings must be 0, 1 or {UNLABELED}")
    return [krippendorff_alpha(r[:, :, j].astype(np.int64), 2) for j in range(r.shape[2])]


def cohen_kappa(a: np.ndarray, b: np.ndarray, n_classes: int | None = None) -> Figure:
    """Cohen's kappa of two annotators on the items both answered (``UNLABELED`` elsewhere).

    ``kappa = (p_o - p_e) / (1 - p_e)``; NaN when no item is shared or ``p_e == 1``.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != 1:
        raise DataError(f"two 1-D answer vectors of one length expected; got {a.shape}, {b.shape}")
    both = (a != UNLABELED) & (b != UNLABELED)
    n = int(both.sum())
    if n == 0:
        return Figure(math.nan, 0)
    x, y = a[both], b[both]
    k = int(n_classes if n_classes is not None else max(x.max(), y.max()) + 1)
    p_o = float((x == y).mean())
    p_e = float((np.bincount(x, minlength=k) / n) @ (np.bincount(y, minlength=k) / n))
    if p_e >= 1.0:
        return Figure(math.nan, n)
    return Figure((p_o - p_e) / (1.0 - p_e), n)


def pairwise_kappa(ratings: np.ndarray, n_classes: int | None = None) -> dict[tuple[int, int], Figure]:
    """Cohen's kappa for every pair of annotator columns ``(i, j)``, ``i < j``, that share
    at least one item."""
    r = _check_2d(ratings)
    out: dict[tuple[int, int], Figure] = {}
    for i in range(r.shape[1]):
        for j in range(i + 1, r.shape[1]):
            f = cohen_kappa(r[:, i], r[:, j], n_classes)
            if f.n_items:
                out[(i, j)] = f
    return out


def agreement_with_consensus(ratings: np.ndarray, consensus: np.ndarray) -> list[Figure]:
    """Per annotator column: the share of their answers equal to the item's consensus,
    over items with at least two answers (a single answer is its own consensus)."""
    r = _check_2d(ratings)
    c = np.asarray(consensus)
    if c.shape != (r.shape[0],):
        raise DataError(f"consensus must have shape ({r.shape[0]},); got {c.shape}")
    multi = (r != UNLABELED).sum(axis=1) >= 2
    out = []
    for j in range(r.shape[1]):
        mine = multi & (r[:, j] != UNLABELED)
        n = int(mine.sum())
        out.append(Figure(float((r[mine, j] == c[mine]).mean()) if n else math.nan, n))
    return out
