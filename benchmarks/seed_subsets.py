"""How a 3-seed check of label efficiency could have come out, from a run with more seeds.

``labella simulate`` and ``label_efficiency.py`` judge a strategy on the mean curve of a
few seeds (3 by default). On the binary sets that mean crosses the 95 % target slowly,
so which 3 seeds are drawn moves "labels to 95 %" by several batches and decides
whether some checkpoint falls a point below random. Given the JSON that
``label_efficiency.py --seeds N --out FILE`` wrote (N > 3), this prints, per dataset and
strategy, the spread over every subset of ``--k`` of the N seeds: labels to the target
on the subset's mean curve (median and quartiles) and the share of subsets whose worst
gap to random is below ``--dip`` points.

    python benchmarks/label_efficiency.py --datasets sentiment_cr --seeds 10 --out cr10.json
    python benchmarks/seed_subsets.py cr10.json [--k 3] [--dip -1]
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np


def subset_stats(scores: np.ndarray, random_scores: np.ndarray, labels: np.ndarray, target: float,
                 k: int, dip: float) -> dict[str, float]:
    """Spread of (labels to target, worst gap to random) over all k-subsets of the seeds."""
    n = min(len(scores), len(random_scores))
    if n < k:
        raise ValueError(f"{n} seeds; need at least k={k}")
    reach, gaps = [], []
    for subset in itertools.combinations(range(n), k):
        rows = list(subset)
        mean = scores[rows].mean(axis=0)
        hit = np.flatnonzero(mean >= target)
        reach.append(float(labels[hit[0]]) if len(hit) else np.inf)
        gaps.append(float((mean - random_scores[rows].mean(axis=0)).min() * 100))
    r, g = np.array(reach), np.array(gaps)
    # "nearest": a checkpoint that was measured, and no inf - inf when a subset never reaches it
    q = {f"l95_{n}": float(np.percentile(r, p, method="nearest"))
         for n, p in (("median", 50), ("p25", 25), ("p75", 75))}
    return {"subsets": len(r), **q, "p_dip": float(np.mean(g < dip)),
            "worst_gap_median": float(np.median(g))}


def _fmt(v: float) -> str:
    return "never" if not np.isfinite(v) else f"{v:.0f}"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results", type=Path, help="JSON written by label_efficiency.py --out")
    ap.add_argument("--k", type=int, default=3, help="seeds per subset (default 3)")
    ap.add_argument("--dip", type=float, default=-1.0, help="gap to random counted as a dip, points")
    a = ap.parse_args(argv)
    data = json.loads(a.results.read_text())["datasets"]
    out: dict[str, Any] = {}
    for name, d in data.items():
        strategies = d["strategies"]
        if "random" not in strategies:
            continue
        rnd = np.array(strategies["random"]["scores"])
        print(f"{name}: target {d['target']:.3f}, subsets of {a.k} of {len(rnd)} seeds")
        print(f"  {'strategy':36s} {'l95 median':>10s} {'p25':>6s} {'p75':>6s} {'P(dip)':>7s} {'worst gap':>9s}")
        out[name] = {}
        for sname, s in strategies.items():
            if sname == "random" or len(s["scores"]) < a.k:
                continue
            st = subset_stats(np.array(s["scores"]), rnd, np.array(s["labels"]), d["target"], a.k, a.dip)
            out[name][sname] = st
            print(f"  {sname:36s} {_fmt(st['l95_median']):>10s} {_fmt(st['l95_p25']):>6s} "
                  f"{_fmt(st['l95_p75']):>6s} {st['p_dip']:7.2f} {st['worst_gap_median']:+9.1f}")
    return out


if __name__ == "__main__":
    main()
