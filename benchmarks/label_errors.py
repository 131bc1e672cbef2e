"""Label-error finder: precision and recall on real data with injected label noise.

For each dataset (pool part, embedded with Labella's default text featuriser through the
embedding cache, as ``label_efficiency.py`` does), a share of the labels (5 %, 10 %) is
flipped uniformly to another class; the finder (:mod:`labella.al.label_errors`) then looks
for them in 5-fold out-of-fold probabilities of the head, and its picks are scored against
the flipped rows. cleanlab's ``find_label_issues`` (AGPL; a dev extra, the reference only)
runs on the same probabilities when it is installed.

The datasets have label errors of their own: a pick that is one of those counts as a
false positive here, so precision is a lower bound.

    python benchmarks/label_errors.py                      # the three text sets, 3 seeds
    python benchmarks/label_errors.py --datasets sentiment_cr --seeds 1 --head tuned_logistic_regression
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.label_efficiency import DATASETS, cache_root, prepare
from labella.al import label_errors as le
from labella.al.pipelines import HEAD_FACTORIES

TEXT_SETS = ("sentiment_mpqa", "sentiment_cr", "topic_trec")


def inject(y: np.ndarray, n_classes: int, rate: float, rng: np.random.Generator
           ) -> tuple[np.ndarray, np.ndarray]:
    """``y`` with ``rate`` of its labels flipped to a uniformly drawn other class."""
    flip = rng.choice(len(y), size=round(rate * len(y)), replace=False)
    out = y.copy()
    out[flip] = (y[flip] + rng.integers(1, n_classes, size=len(flip))) % n_classes
    return out, flip


def score(picked: np.ndarray, flipped: np.ndarray) -> tuple[float, float]:
    hit = len(np.intersect1d(picked, flipped))
    return hit / max(len(picked), 1), hit / max(len(flipped), 1)


def run(name: str, rate: float, seed: int, head: str) -> dict[str, Any]:
    data = prepare(DATASETS[name], cache_root())
    X, y, k = data.X_pool, data.y_pool, data.n_classes
    rng = np.random.default_rng(seed)
    noisy, flipped = inject(y, k, rate, rng)
    t0 = time.perf_counter()
    oof = le.cross_val_proba(lambda: HEAD_FACTORIES[head](k, False), X, noisy, seed=seed)
    t_cv = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours = le.find_label_issues(noisy, oof)
    t_ours = time.perf_counter() - t0
    out: dict[str, Any] = {"dataset": name, "n": len(y), "classes": k, "noise": rate,
                           "seed": seed, "cv_s": t_cv, "ours_s": t_ours,
                           "ours": score(ours.indices, flipped), "ours_n": len(ours.indices)}
    # ranking alone: the len(flipped) lowest self-confidences
    q = le.label_quality(noisy, oof)
    out["rank_p_at_k"] = score(np.argsort(q)[:len(flipped)], flipped)[0]
    try:
        from cleanlab.filter import find_label_issues
    except ImportError:
        out["cleanlab"] = None
    else:
        t0 = time.perf_counter()
        theirs = np.flatnonzero(find_label_issues(noisy, oof))
        out["cleanlab_s"] = time.perf_counter() - t0
        out["cleanlab"] = score(theirs, flipped)
        out["cleanlab_n"] = len(theirs)
        inter = len(np.intersect1d(theirs, ours.indices))
        out["agreement"] = inter / max(len(np.union1d(theirs, ours.indices)), 1)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", default=",".join(TEXT_SETS))
    ap.add_argument("--noise", default="0.05,0.10")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--head", default="logistic_regression", choices=sorted(HEAD_FACTORIES))
    a = ap.parse_args(argv)
    print(f"head: {a.head}; 5-fold out-of-fold probabilities; precision / recall of the "
          "flipped labels (mean over seeds)")
    print(f"{'dataset':16} {'n':>6} {'noise':>5} | {'ours P':>6} {'R':>6} {'flagged':>7} "
          f"{'P@k':>6} | {'cleanlab P':>10} {'R':>6} {'Jaccard':>7} | {'cv s':>5} {'find ms':>7}")
    for name in a.datasets.split(","):
        for rate in (float(r) for r in a.noise.split(",")):
            runs = [run(name, rate, s, a.head) for s in range(a.seeds)]
            p, r = np.mean([x["ours"] for x in runs], axis=0)
            cl = [x["cleanlab"] for x in runs if x["cleanlab"] is not None]
            cl_txt = (f"{np.mean([c[0] for c in cl]):10.3f} {np.mean([c[1] for c in cl]):6.3f} "
                      f"{np.mean([x['agreement'] for x in runs]):7.3f}") if cl else \
                f"{'(not installed)':>25}"
            print(f"{name:16} {runs[0]['n']:6d} {rate:5.2f} | {p:6.3f} {r:6.3f} "
                  f"{np.mean([x['ours_n'] for x in runs]):7.0f} "
                  f"{np.mean([x['rank_p_at_k'] for x in runs]):6.3f} | {cl_txt} | "
                  f"{np.mean([x['cv_s'] for x in runs]):5.1f} "
                  f"{1000 * np.mean([x['ours_s'] for x in runs]):7.1f}", flush=True)


if __name__ == "__main__":
    main()
