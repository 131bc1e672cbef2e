"""Query time and peak memory of the main strategies on large synthetic pools.

A pool of ``N`` x 384 float32 L2-normalised embeddings (a mixture of 10
Gaussian clusters, so clustering has structure to find) with 1 000 labelled
items and a logistic-regression head fitted on them (the pipeline's own head
for the default pipeline). One cell is one ``strategy.query(pool, 10, ...)``:
scoring every unlabelled item and selecting the batch. Each cell is the
median of ``--runs`` runs, after one run under ``tracemalloc`` that measures
the peak memory the query allocates (the pool itself excluded).

Before a cell runs, its time and memory are extrapolated from pilot runs on
10 000 and 40 000 items (the faster of two runs each; growth exponent clamped
to [1, 2]) or from the cell at the previous size; a cell estimated over
``--max-seconds`` (default 60) or over half the available memory is printed as
``skipped: too slow/too much memory`` with the estimate. A cell whose first
(memory) run already takes longer than ``--max-seconds`` is reported from that
one run. The header prints the load average: on a shared machine the times
are upper bounds.

Usage::

    python benchmarks/query_time.py [--sizes 100000,1000000] [--runs 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from labella.al.heads import Head
from labella.al.pipelines import DEFAULT_STRATEGY, PIPELINES, Pipeline
from labella.al.strategies import REGISTRY
from labella.al.types import Pool

DIM = 384
N_CLASSES = 10
N_LABELED = 1000
BATCH = 10
PILOT_SIZES = (10_000, 40_000)
STRATEGIES = ["margin", "entropy", DEFAULT_STRATEGY, "coreset", "badge", "cluster_margin",
              "typiclust", "kmeans_pp", "information_density"]


@dataclass
class Cell:
    strategy: str
    n_items: int
    seconds: float | None = None
    runs: list[float] | None = None
    peak_mib: float | None = None
    est_seconds: float | None = None
    est_mib: float | None = None
    skipped: str | None = None


def make_pool(n: int, *, seed: int = 0) -> tuple[Pool, np.ndarray]:
    """``n`` unit vectors around 10 random centres; the first 1 000 rows of a shuffle labelled."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((N_CLASSES, DIM)).astype(np.float32)
    y = rng.integers(N_CLASSES, size=n)
    X = np.empty((n, DIM), dtype=np.float32)
    step = 100_000
    for s in range(0, n, step):  # chunks keep the float32 array the only big allocation
        e = min(n, s + step)
        block = rng.standard_normal((e - s, DIM), dtype=np.float32) * np.float32(2.0)
        block += centres[y[s:e]]
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        X[s:e] = block
    labeled = rng.choice(n, size=min(N_LABELED, n // 2), replace=False)
    pool = Pool.unlabeled(X, N_CLASSES).with_labels(labeled, y[labeled])
    return pool, y


def pipeline(name: str) -> Pipeline:
    return PIPELINES.get(name) or Pipeline(name)


def fit_head(pool: Pool, name: str) -> Head:
    return pipeline(name).make_head(N_CLASSES, False).fit(*pool.labeled_data())


def run_once(pool: Pool, head: Head, name: str, seed: int) -> float:
    strategy = REGISTRY.get(pipeline(name).strategy)
    t0 = time.perf_counter()
    strategy.query(pool, BATCH, head=head, rng=seed)
    return time.perf_counter() - t0


def peak_mib(fn: Callable[[], object]) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 2**20


def available_mib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return math.inf


def _exponent(n1: int, v1: float, n2: int, v2: float, *, floor: float) -> float:
    """Growth exponent between two sizes; 1 when the values are too small to tell."""
    if v1 <= floor or v2 <= floor:
        return 1.0
    return float(np.clip(math.log(v2 / v1) / math.log(n2 / n1), 1.0, 2.0))


def pilot(names: list[str]) -> dict[str, tuple[tuple[int, float, float], float, float]]:
    """Per strategy: the largest pilot point ``(n, seconds, MiB)`` and time / memory exponents."""
    pts: dict[str, list[tuple[int, float, float]]] = {n: [] for n in names}
    for n in PILOT_SIZES:
        pool, _ = make_pool(n, seed=1)
        for name in names:
            head = fit_head(pool, name)
            t = min(run_once(pool, head, name, 0), run_once(pool, head, name, 1))
            m = peak_mib(lambda pool=pool, head=head, name=name: run_once(pool, head, name, 2))
            pts[name].append((n, t, m))
    out = {}
    for name, ((n1, t1, m1), (n2, t2, m2)) in pts.items():
        out[name] = ((n2, t2, m2), _exponent(n1, t1, n2, t2, floor=0.02),
                     _exponent(n1, m1, n2, m2, floor=1.0))
    return out


def fmt_cell(c: Cell) -> str:
    if c.skipped:
        return f"skipped: {c.skipped} (est {c.est_seconds:.0f} s, {c.est_mib:.0f} MiB)"
    assert c.seconds is not None and c.peak_mib is not None
    return f"{c.seconds:8.3f} s  {c.peak_mib:8.0f} MiB"


def measure_size(n: int, names: list[str], est: dict[str, Any], *, runs: int,
                 max_seconds: float) -> list[Cell]:
    """All cells for a pool of ``n`` items; updates ``est`` with what was measured."""
    t0 = time.perf_counter()
    pool, _ = make_pool(n)
    t_pool = time.perf_counter() - t0
    t0 = time.perf_counter()
    plain = fit_head(pool, "margin")
    t_fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    plain.predict_proba(pool.X[pool.unlabeled_indices])
    t_proba = time.perf_counter() - t0
    load = " / ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"\nN = {n:,} x {DIM} float32 ({pool.X.nbytes / 2**20:.0f} MiB), {pool.n_labeled} labelled, "
          f"batch {BATCH}; built in {t_pool:.1f} s; LR head fit {t_fit:.2f} s; "
          f"predict_proba on the unlabelled {t_proba:.2f} s; load average {load} on "
          f"{os.cpu_count()} CPUs", flush=True)
    print(f"{'strategy':22s} {'median':>10s}  {'peak alloc':>12s}   runs (s)", flush=True)
    heads: dict[str, Head] = {}
    cells = []
    for name in names:
        (n0, t_ref, m_ref), t_exp, m_exp = est[name]
        c = Cell(name, n, est_seconds=t_ref * (n / n0) ** t_exp, est_mib=m_ref * (n / n0) ** m_exp)
        if c.est_seconds > max_seconds or c.est_mib > 0.5 * available_mib():  # type: ignore[operator]
            c.skipped = "too slow/too much memory"
        else:
            key = pipeline(name).head
            head = heads[key] = heads.get(key) or fit_head(pool, name)
            t0 = time.perf_counter()
            c.peak_mib = peak_mib(lambda head=head, name=name: run_once(pool, head, name, 0))
            first = time.perf_counter() - t0
            if first > max_seconds:  # the estimate was too low: one (traced) run is enough
                c.runs = [first]
            else:
                c.runs = [run_once(pool, head, name, r + 1) for r in range(runs)]
            c.seconds = float(np.median(c.runs))
            est[name] = ((n, c.seconds, c.peak_mib), t_exp, m_exp)
        print(f"{name:22s} {fmt_cell(c)}   {' '.join(f'{r:.3f}' for r in c.runs or [])}", flush=True)
        cells.append(c)
    return cells


def main(argv: list[str] | None = None) -> list[Cell]:
    ap = argparse.ArgumentParser(description="Query time of the main strategies on big pools.")
    ap.add_argument("--sizes", default="100000,1000000", help="pool sizes, comma-separated")
    ap.add_argument("--strategies", default=",".join(STRATEGIES))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--max-seconds", type=float, default=60.0, help="skip cells estimated slower")
    ap.add_argument("--threads", type=int, help="limit BLAS/OpenMP threads (threadpoolctl)")
    ap.add_argument("--out", type=Path, help="write the cells as JSON here")
    a = ap.parse_args(argv)
    from threadpoolctl import threadpool_limits

    names = [s.strip() for s in a.strategies.split(",") if s.strip()]
    cells: list[Cell] = []
    with threadpool_limits(limits=a.threads):
        print(f"pilot runs on {PILOT_SIZES} items ...", file=sys.stderr, flush=True)
        est: dict[str, Any] = dict(pilot(names))
        for n in sorted(int(s) for s in a.sizes.split(",")):
            cells += measure_size(n, names, est, runs=a.runs, max_seconds=a.max_seconds)
            gc.collect()
    if a.out:
        a.out.write_text(json.dumps([asdict(c) for c in cells], indent=1))
    return cells


if __name__ == "__main__":
    main()
