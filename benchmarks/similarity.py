"""Similarity search: query latency (p50 / p95), recall@10 of ANN vs exact, index build time.

Data: synthetic 384-d vectors (the width of MiniLM embeddings) drawn around random
cluster centres and L2-normalised, as a stand-in for a project's embeddings; queries
are fresh draws from the same clusters (not in the index); ``--spread`` sets the noise
around each centre (1.0: a point's noise is as long as its centre vector). Real embeddings are more
clustered than this, which makes an HNSW graph's job easier, not harder.

    python benchmarks/similarity.py                              # 100k: exact + every backend
    python benchmarks/similarity.py --sizes 1000000 --backends usearch --ann-max 1000000
    python benchmarks/similarity.py --sizes 20000 --queries 50    # quick

Each latency is one single-vector query at a time (what "more like this" does), timed
with ``time.perf_counter``; build time is adding every vector, in batches of 50 000, to
an empty index with the library's default thread count. An ANN whose build would pass
``--ann-max`` items is built on the first ``--ann-max`` items only and its build time
extrapolated linearly (HNSW build is about n log n: linear is a slight underestimate).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from labella.al.similar import BACKENDS, AnnIndex, available_backends, exact_top_k, recall_at_k


def clustered(n: int, dim: int, *, n_clusters: int, spread: float, seed: int,
              centres: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``n`` unit vectors around ``n_clusters`` random centres; returns (vectors, centres)."""
    rng = np.random.default_rng(seed)
    if centres is None:
        centres = rng.standard_normal((n_clusters, dim)).astype(np.float32)
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        which = rng.integers(0, len(centres), m)
        v = centres[which] + spread * rng.standard_normal((m, dim)).astype(np.float32) / np.sqrt(dim)
        out[start:start + m] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out, centres


def latencies(fn: object, queries: np.ndarray) -> np.ndarray:
    times = []
    for q in queries:
        t0 = time.perf_counter()
        fn(q)  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
    return np.array(times) * 1000


def summary(ms: np.ndarray) -> dict[str, float]:
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3),
            "p95_ms": round(float(np.percentile(ms, 95)), 3)}


def run(n: int, *, dim: int, n_queries: int, k: int, backends: list[str], ann_max: int,
        seed: int, spread: float = 1.0) -> list[dict[str, object]]:
    t0 = time.perf_counter()
    X, centres = clustered(n, dim, n_clusters=max(10, n // 100), spread=spread, seed=seed)
    Q, _ = clustered(n_queries, dim, n_clusters=0, spread=spread, seed=seed + 1, centres=centres)
    print(f"n={n}: generated in {time.perf_counter() - t0:.1f} s", flush=True)
    rows: list[dict[str, object]] = []
    exact_ms = latencies(lambda q: exact_top_k(X, q, k), Q)
    truth = np.vstack([exact_top_k(X, q, k).rows for q in Q])
    rows.append({"n": n, "method": "exact", "build_s": 0.0, **summary(exact_ms),
                 "recall_at_10": 1.0})
    print(json.dumps(rows[-1]), flush=True)
    for backend in backends:
        n_build = min(n, ann_max)
        ix = AnnIndex(dim, backend=backend)
        t0 = time.perf_counter()
        for start in range(0, n_build, 50_000):
            ix.add(X[start:min(start + 50_000, n_build)])
        build = time.perf_counter() - t0
        row: dict[str, object] = {"n": n, "method": backend, "build_s": round(build, 1)}
        if n_build < n:
            row.update(build_s=None, built_on=n_build,
                       build_s_extrapolated=round(build * n / n_build, 0))
            sub_truth = np.vstack([exact_top_k(X[:n_build], q, k).rows for q in Q])
            ms = latencies(lambda q, ix=ix: ix.search(q, k), Q)
            got = np.vstack([ix.search(q, k).rows for q in Q])
            row.update(**summary(ms), recall_at_10=round(recall_at_k(got, sub_truth), 4),
                       note=f"latency and recall on the {n_build}-item index")
        else:
            ms = latencies(lambda q, ix=ix: ix.search(q, k), Q)
            got = np.vstack([ix.search(q, k).rows for q in Q])
            row.update(**summary(ms), recall_at_10=round(recall_at_k(got, truth), 4))
            # the service's filtered search: only unlabelled items (here a random 90 %)
            allowed = np.random.default_rng(seed).random(n) < 0.9
            ex = np.vstack([exact_top_k(X, q, k, allowed=allowed).rows for q in Q])
            ms_f = latencies(lambda q, ix=ix, a=allowed: ix.search(q, k, allowed=a), Q)
            got_f = np.vstack([ix.search(q, k, allowed=allowed).rows for q in Q])
            row.update(filtered_p95_ms=summary(ms_f)["p95_ms"],
                       filtered_recall_at_10=round(recall_at_k(got_f, ex), 4))
            # incremental: add 1 % more items to the built index
            extra, _ = clustered(max(1, n // 100), dim, n_clusters=0, spread=spread,
                                 seed=seed + 2, centres=centres)
            t1 = time.perf_counter()
            ix.add(extra)
            row["add_1pct_s"] = round(time.perf_counter() - t1, 2)
        rows.append(row)
        print(json.dumps(row), flush=True)
        del ix
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--backends", nargs="*", default=None,
                    help=f"ANN libraries to measure (default: installed ones of {BACKENDS})")
    ap.add_argument("--ann-max", type=int, default=200_000,
                    help="build ANN indexes on at most this many items (extrapolate beyond)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--spread", type=float, default=1.0,
                    help="noise around each cluster centre (larger: harder for an ANN)")
    ap.add_argument("--out", help="write the rows as JSON here")
    args = ap.parse_args()
    backends = available_backends() if args.backends is None else args.backends
    rows = []
    for n in args.sizes:
        rows += run(n, dim=args.dim, n_queries=args.queries, k=args.k, backends=backends,
                    ann_max=args.ann_max, seed=args.seed, spread=args.spread)
    print("\n| n | method | build s | p50 ms | p95 ms | recall@10 |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        build = r["build_s"] if r.get("build_s") is not None else \
            f"~{r['build_s_extrapolated']} (extrapolated from {r['built_on']})"
        print(f"| {r['n']} | {r['method']} | {build} | {r['p50_ms']} | {r['p95_ms']} | "
              f"{r['recall_at_10']} |")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
