"""The data map: a 2-D projection of embeddings, and the geometry the map page needs.

Pure numpy (and scikit-learn); UMAP comes from the optional ``umap-learn`` package
(``pip install 'labella[map]'``), imported only when :func:`project_2d` uses it.

Index space: every function here answers in *row positions* of the matrix it was given;
turning rows into item ids is the caller's business.

How a map is made (:func:`project_2d`): embeddings wider than :data:`PCA_DIMS` are first
reduced by PCA (UMAP is faster on 100 dimensions than on 384, and the map barely
changes); then UMAP is fitted on at most ``fit_max`` rows (a random
sample) and the other rows are placed by ``transform``. ``method="pca"`` is the first two
principal components: instant, but classes overlap far more (``docs/data-map.md``).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from labella.errors import MissingExtraError

METHODS = ("umap", "pca")
PCA_DIMS = 100
"""Embeddings wider than this are reduced to this many principal components first (on
MiniLM embeddings: as fast as 50 and almost as faithful as none; docs/data-map.md)."""
FIT_MAX = 200_000
"""UMAP is fitted on at most this many rows; the others are placed with ``transform``
(measured at 100 000 rows: fitting on all of them took two thirds of the time of fitting
on 30 000 and transforming the rest, for the same trustworthiness)."""

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Projection:
    xy: np.ndarray
    """``(n, 2)`` float32 coordinates, one row per input row, scaled into [-1, 1]."""
    method: str
    n_fitted: int
    """How many rows the projection was fitted on (the rest were transformed)."""
    seconds: float


def project_2d(X: np.ndarray, *, method: str = "umap", seed: int = 0, fit_max: int = FIT_MAX,
               n_neighbors: int = 15, progress: Progress | None = None) -> Projection:
    """Project the rows of ``X`` ``(n, d)`` to 2-D (see the module's docstring)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    X = np.asarray(X, dtype=np.float32)
    n = len(X)
    t0 = time.perf_counter()
    say = progress or (lambda _msg: None)
    if n < 3 or method == "pca" or n <= n_neighbors + 1:
        xy = _pca(X, 2, seed) if n >= 2 else np.zeros((n, 2), dtype=np.float32)
        return Projection(_scaled(xy), "pca", n, time.perf_counter() - t0)
    try:
        import umap
    except ImportError as exc:
        raise MissingExtraError("umap-learn", "map") from exc
    if X.shape[1] > PCA_DIMS:
        say(f"reducing {X.shape[1]} dimensions to {PCA_DIMS} (PCA)")
        X = _pca(X, PCA_DIMS, seed)
    rng = np.random.default_rng(seed)
    fit_rows = np.sort(rng.choice(n, fit_max, replace=False)) if n > fit_max else np.arange(n)
    say(f"fitting UMAP on {len(fit_rows)} items")
    reducer = umap.UMAP(n_components=2, n_neighbors=n_neighbors, min_dist=0.1,
                        random_state=seed, n_jobs=1)
    with warnings.catch_warnings():  # "n_jobs overridden by random_state", numba notes
        warnings.simplefilter("ignore")
        fitted = np.asarray(reducer.fit_transform(X[fit_rows]), dtype=np.float32)
        xy = np.empty((n, 2), dtype=np.float32)
        xy[fit_rows] = fitted
        if len(fit_rows) < n:
            rest = np.setdiff1d(np.arange(n), fit_rows)
            say(f"placing the other {len(rest)} items (UMAP transform)")
            for start in range(0, len(rest), 20_000):
                part = rest[start:start + 20_000]
                xy[part] = reducer.transform(X[part])
    return Projection(_scaled(xy), "umap", len(fit_rows), time.perf_counter() - t0)


def _pca(X: np.ndarray, k: int, seed: int) -> np.ndarray:
    from sklearn.decomposition import PCA

    k = min(k, X.shape[0], X.shape[1])
    return np.asarray(PCA(n_components=k, random_state=seed).fit_transform(X), dtype=np.float32)


def _scaled(xy: np.ndarray) -> np.ndarray:
    """Centred and scaled into [-1, 1] (the same on both axes, so shapes keep their aspect)."""
    xy = np.nan_to_num(np.asarray(xy, dtype=np.float32))
    if xy.shape[1] < 2:
        xy = np.hstack([xy, np.zeros((len(xy), 2 - xy.shape[1]), dtype=np.float32)])
    if not len(xy):
        return xy
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    span = float((hi - lo).max())
    return ((xy - (lo + hi) / 2) / (span / 2 if span > 0 else 1.0)).astype(np.float32)


def display_sample(n: int, cap: int, *, keep: np.ndarray | None = None, seed: int = 0
                   ) -> np.ndarray:
    """Sorted rows to draw when ``n`` points are too many: all of them if ``n <= cap``;
    else every row of ``keep`` (a bool mask, e.g. the labelled items; at most ``cap``
    of them) and a uniform random sample of the others up to ``cap`` in all."""
    if n <= cap:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    kept = np.flatnonzero(keep) if keep is not None else np.zeros(0, dtype=np.int64)
    if len(kept) >= cap:
        return np.sort(rng.choice(kept, cap, replace=False))
    others = np.setdiff1d(np.arange(n), kept)
    return np.sort(np.concatenate([kept, rng.choice(others, cap - len(kept), replace=False)]))


def in_polygon(xy: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Bool mask of the points ``xy`` ``(n, 2)`` inside ``polygon`` ``(m, 2)`` (closed
    implicitly; even-odd rule, as a lasso selection draws it)."""
    xy = np.asarray(xy, dtype=np.float64)
    poly = np.asarray(polygon, dtype=np.float64)
    if poly.ndim != 2 or poly.shape[1] != 2 or len(poly) < 3:
        raise ValueError("a polygon needs at least three (x, y) vertices")
    x, y = xy[:, 0], xy[:, 1]
    inside = np.zeros(len(xy), dtype=bool)
    x0, y0 = poly[-1]
    for x1, y1 in poly:
        crosses = (y1 > y) != (y0 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            at = (x0 - x1) * (y - y1) / (y0 - y1) + x1
        inside ^= crosses & (x < at)
        x0, y0 = x1, y1
    return inside
