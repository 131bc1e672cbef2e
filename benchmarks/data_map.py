"""The data map: projection time and quality, UMAP's JIT cost, and the points payload.

    python benchmarks/data_map.py                     # everything below (a few minutes on 2 cores)
    python benchmarks/data_map.py --skip-compare      # only the 100k run
    python benchmarks/data_map.py --sizes 20000 --dataset none   # quick

1. **JIT**: the first :func:`labella.al.datamap.project_2d` call of a process on 5 000
   random points, then a second one: the difference is numba compiling UMAP (and
   pynndescent) once per process. Run first, so that it is the process's first call.
2. **Quality** (``--dataset``, default ``sentiment_mpqa``: 8 240 sentences embedded with
   the default text featuriser, 384-d MiniLM, through the embedding cache): time and
   trustworthiness (scikit-learn, 10 neighbours, on a 5 000-point sample) and 10-NN
   preservation (the share of each point's 10 nearest neighbours in the embedding space
   that are among its 10 nearest on the map) for the map as Labella makes it (PCA to 100
   dimensions, then UMAP), the same with PCA to 50, UMAP on the raw 384 dimensions, and
   plain PCA to 2-D.
3. **Scale** (``--sizes``, default 100 000): synthetic clustered 384-d unit vectors (as in
   ``similarity.py``); the whole projection (fitted on every item up to 200 000), the
   sample drawn beyond 50 000 points, and the JSON the map endpoint answers for it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.similarity import clustered
from labella.al import datamap as dm
from labella.service.datamap import MAX_POINTS, _encode


def knn_preservation(X: np.ndarray, xy: np.ndarray, k: int = 10) -> float:
    from sklearn.neighbors import NearestNeighbors

    hi = NearestNeighbors(n_neighbors=k + 1).fit(X).kneighbors(X, return_distance=False)[:, 1:]
    lo = NearestNeighbors(n_neighbors=k + 1).fit(xy).kneighbors(xy, return_distance=False)[:, 1:]
    return float(np.mean([len(np.intersect1d(a, b)) / k for a, b in zip(hi, lo, strict=True)]))


def quality(X: np.ndarray, xy: np.ndarray, *, sample: int = 5000, seed: int = 0
            ) -> dict[str, float]:
    from sklearn.manifold import trustworthiness

    rows = np.random.default_rng(seed).choice(len(X), min(sample, len(X)), replace=False)
    return {"trustworthiness": round(float(trustworthiness(X[rows], xy[rows], n_neighbors=10)), 4),
            "knn10_preserved": round(knn_preservation(X[rows], xy[rows]), 4)}


def jit() -> dict[str, float]:
    # over 4 096 rows, so that UMAP's approximate neighbour search (pynndescent) compiles too
    X = np.random.default_rng(0).standard_normal((5000, 384)).astype(np.float32)
    t0 = time.perf_counter()
    import umap  # noqa: F401

    t_import = time.perf_counter() - t0
    t0 = time.perf_counter()
    dm.project_2d(X, seed=0)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    dm.project_2d(X, seed=1)
    second = time.perf_counter() - t0
    return {"import_umap_s": round(t_import, 2), "first_call_s": round(first, 2),
            "second_call_s": round(second, 2), "jit_s": round(first - second, 2)}


def compare(name: str) -> dict[str, Any]:
    from benchmarks.label_efficiency import DATASETS, cache_root, prepare

    data = prepare(DATASETS[name], cache_root())
    X = np.concatenate([data.X_pool, data.X_test])
    out: dict[str, Any] = {"dataset": name, "n": len(X), "dim": X.shape[1]}
    runs: dict[str, Any] = {}
    t0 = time.perf_counter()
    xy = dm.project_2d(X, seed=0).xy
    runs[f"labella (pca{dm.PCA_DIMS} + umap)"] = {"seconds": round(time.perf_counter() - t0, 2),
                                                  **quality(X, xy)}
    default, dm.PCA_DIMS = dm.PCA_DIMS, 50
    try:
        t0 = time.perf_counter()
        xy = dm.project_2d(X, seed=0).xy
        runs["pca50 + umap"] = {"seconds": round(time.perf_counter() - t0, 2), **quality(X, xy)}
    finally:
        dm.PCA_DIMS = default
    import umap

    t0 = time.perf_counter()
    raw = umap.UMAP(n_components=2, random_state=0, n_jobs=1).fit_transform(X)
    runs["umap on 384-d"] = {"seconds": round(time.perf_counter() - t0, 2), **quality(X, raw)}
    t0 = time.perf_counter()
    xy = dm.project_2d(X, method="pca").xy
    runs["pca 2-d"] = {"seconds": round(time.perf_counter() - t0, 2), **quality(X, xy)}
    out["runs"] = runs
    return out


def payload(n_items: int, xy: np.ndarray, seed: int = 0) -> dict[str, Any]:
    """The points answer of ``GET /api/projects/{id}/map`` for a synthetic project (5 % labelled
    by 3 annotators, 10 classes, every point predicted), with its JSON size."""
    rng = np.random.default_rng(seed)
    labelled = rng.random(n_items) < 0.05
    rows = dm.display_sample(n_items, MAX_POINTS, keep=labelled, seed=seed)
    names = [f"class {k}" for k in range(10)]
    lab = [names[k] if labelled[r] else None for r, k in zip(rows, rng.integers(0, 10, len(rows)),
                                                              strict=True)]
    body = {"ids": (rows + 1).tolist(), "x": np.round(xy[rows, 0], 4).tolist(),
            "y": np.round(xy[rows, 1], 4).tolist(),
            "label": _encode(lab).__dict__,
            "prediction": _encode([names[k] for k in rng.integers(0, 10, len(rows))]).__dict__,
            "confidence": np.round(rng.random(len(rows)), 3).tolist(),
            "annotator": _encode([f"user{r % 3}" if v else None for r, v in zip(
                rows.tolist(), lab, strict=True)]).__dict__,
            "split": _encode(["pool"] * len(rows)).__dict__}
    raw = json.dumps(body, separators=(",", ":")).encode()
    return {"points_shown": len(rows), "json_bytes": len(raw),
            "json_gzip_bytes": len(zlib.compress(raw, 6))}


def scale(n: int) -> dict[str, Any]:
    X, _ = clustered(n, 384, n_clusters=20, spread=1.0, seed=0)
    t0 = time.perf_counter()
    steps: list[tuple[str, float]] = []
    p = dm.project_2d(X, seed=0, progress=lambda m: steps.append((m, time.perf_counter() - t0)))
    total = time.perf_counter() - t0
    return {"n": n, "seconds": round(total, 1), "n_fitted": p.n_fitted,
            "steps": [f"{s:.1f}s {m}" for m, s in steps],
            **quality(X, p.xy), **payload(n, p.xy)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[100_000])
    ap.add_argument("--dataset", default="sentiment_mpqa", help="'none' to skip the comparison")
    ap.add_argument("--skip-compare", action="store_true")
    args = ap.parse_args(argv)
    print(json.dumps({"jit": jit()}))
    if args.dataset != "none" and not args.skip_compare:
        print(json.dumps({"compare": compare(args.dataset)}))
    for n in args.sizes:
        print(json.dumps({"scale": scale(n)}))


if __name__ == "__main__":
    main()
