"""Auto-accept: the precision a chosen threshold promises against the precision it gets.

Per dataset and seed: the default head fitted on ``--labels`` random pool labels; half of
the test split plays the project's labelled evaluation set (a temperature is fitted on it,
then :func:`labella.al.auto_accept.choose_threshold` picks each class's threshold for the
target); the model's predictions above the threshold are then scored on the other half of
the test split and on the unlabelled pool (whose true labels the benchmark knows).

    python benchmarks/auto_accept.py
    python benchmarks/auto_accept.py --datasets sentiment_cr --targets 0.9 --seeds 1
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.label_efficiency import DATASETS, cache_root, prepare
from labella.al import auto_accept as aa
from labella.al.calibration import fit_calibrator
from labella.al.pipelines import HEAD_FACTORIES

TEXT_SETS = ("sentiment_mpqa", "sentiment_cr", "topic_trec")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", default=",".join(TEXT_SETS))
    ap.add_argument("--targets", default="0.9,0.95,0.98")
    ap.add_argument("--labels", type=int, default=200)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--head", default="tuned_logistic_regression", choices=sorted(HEAD_FACTORIES))
    a = ap.parse_args(argv)
    print(f"head {a.head}, {a.labels} random labels; per (dataset, target): classes with a "
          "threshold, measured precision on the held-out half [95 % Wilson interval], realised "
          "precision on the other test half and on the pool, share of the pool accepted "
          f"(means over {a.seeds} seeds and the classes)")
    for name in a.datasets.split(","):
        d = prepare(DATASETS[name], cache_root())
        k = d.n_classes
        for target in (float(t) for t in a.targets.split(",")):
            rows: list[tuple[float, ...]] = []
            n_cls = 0
            for seed in range(a.seeds):
                rng = np.random.default_rng(seed)
                lab = rng.choice(len(d.y_pool), size=a.labels, replace=False)
                head = HEAD_FACTORIES[a.head](k, False).fit(d.X_pool[lab], d.y_pool[lab])
                order = rng.permutation(len(d.y_test))
                fit, check = order[: len(order) // 2], order[len(order) // 2:]
                cal = fit_calibrator(head.predict_proba(d.X_test[fit]), d.y_test[fit],
                                     multi_label=False)
                unl = np.setdiff1d(np.arange(len(d.y_pool)), lab)

                def scored(X: np.ndarray, head: Any = head, cal: Any = cal
                           ) -> tuple[np.ndarray, np.ndarray]:
                    q = cal.apply(head.predict_proba(X))
                    return q.max(axis=1), q.argmax(axis=1)

                cf, pf = scored(d.X_test[fit])
                cc, pc = scored(d.X_test[check])
                cu, pu = scored(d.X_pool[unl])
                for c in range(k):
                    t = aa.choose_threshold(cf, pf, pf == d.y_test[fit], c, target=target)
                    if t is None:
                        continue
                    n_cls += 1
                    sc = (pc == c) & (cc >= t.threshold)
                    su = (pu == c) & (cu >= t.threshold)
                    rows.append((t.precision, t.low, t.high,
                                 float((d.y_test[check][sc] == c).mean()) if sc.any() else np.nan,
                                 float((d.y_pool[unl][su] == c).mean()) if su.any() else np.nan,
                                 float(su.mean())))
            if not rows:
                print(f"{name:15} target {target:.2f}: no class reaches it")
                continue
            m = np.nanmean(np.array(rows), axis=0)
            print(f"{name:15} target {target:.2f}: {n_cls}/{k * a.seeds} class thresholds; "
                  f"measured {m[0]:.3f} [{m[1]:.3f}, {m[2]:.3f}]; realised: test {m[3]:.3f}, "
                  f"pool {m[4]:.3f}; pool accepted {m[5]:.3f}; "
                  f"worst realised on the pool {np.nanmin(np.array(rows)[:, 4]):.3f}", flush=True)


if __name__ == "__main__":
    main()
