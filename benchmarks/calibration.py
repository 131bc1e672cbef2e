"""Calibrated suggestions: ECE of the head's confidences before and after temperature
scaling, on the evaluation split, at several label budgets.

Per dataset (pool / test split and embeddings as in ``label_efficiency.py``), seed and
budget, the labels are drawn either at random or by margin sampling (10 random, then
batches of 10 by margin, as the loop does). The project's head is fitted on them, and a
temperature is fitted the two ways the service does (:mod:`labella.service.refit`):

* ``cv``: on the 5-fold out-of-fold probabilities of the labels (a project without
  labelled evaluation items);
* ``eval``: on labelled evaluation items (here half of the test split, 200 items at most;
  a project with an evaluation set).

ECE (10 equal-width bins) is measured on the other half of the test split, which neither
fit saw. Also printed: the share of suggestions the label view would pre-select
(calibrated confidence >= 0.8) and how often those are right.

    python benchmarks/calibration.py
    python benchmarks/calibration.py --datasets sentiment_cr --budgets 20,50 --seeds 1
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
from labella.al import calibration as cal
from labella.al.label_errors import cross_val_proba
from labella.al.pipelines import HEAD_FACTORIES

TEXT_SETS = ("sentiment_mpqa", "sentiment_cr", "topic_trec")
PRESELECT = 0.8
EVAL_FIT = 200


def pick(X: np.ndarray, y: np.ndarray, budget: int, how: str, make: Any,
         rng: np.random.Generator) -> np.ndarray:
    """Row indices of ``budget`` labels drawn at random or by margin sampling."""
    chosen = list(rng.choice(len(y), size=min(10, budget), replace=False))
    while how == "margin" and len(chosen) < budget:
        if len(np.unique(y[chosen])) < 2:
            free = np.setdiff1d(np.arange(len(y)), chosen)
            chosen += list(rng.choice(free, size=10, replace=False))
            continue
        head = make().fit(X[chosen], y[chosen])
        p = np.sort(head.predict_proba(X), axis=1)
        margin = p[:, -1] - p[:, -2]
        margin[chosen] = np.inf
        chosen += list(np.argsort(margin)[:min(10, budget - len(chosen))])
    if how == "random" and budget > len(chosen):
        free = np.setdiff1d(np.arange(len(y)), chosen)
        chosen += list(rng.choice(free, size=budget - len(chosen), replace=False))
    return np.asarray(chosen)


def run(name: str, budget: int, how: str, seed: int, head_name: str) -> dict[str, float]:
    d = prepare(DATASETS[name], cache_root())
    k = d.n_classes

    def make() -> Any:
        return HEAD_FACTORIES[head_name](k, False)

    rng = np.random.default_rng(seed)
    rows = pick(d.X_pool, d.y_pool, budget, how, make, rng)
    X, y = d.X_pool[rows], d.y_pool[rows]
    head = make().fit(X, y)
    order = rng.permutation(len(d.y_test))
    fit_rows, measure = order[:EVAL_FIT], order[len(order) // 2:]
    p_test = head.predict_proba(d.X_test[measure])
    y_test = d.y_test[measure]
    out = {"acc": float((p_test.argmax(1) == y_test).mean()),
           "ece_raw": cal.ece(p_test, y_test, multi_label=False)}
    oof = cross_val_proba(make, X, y, seed=seed) if len(y) >= 4 else None
    fits = {"cv": (oof, y) if oof is not None else None,
            "eval": (head.predict_proba(d.X_test[fit_rows]), d.y_test[fit_rows])}
    for key, held in fits.items():
        c = cal.fit_calibrator(*held, multi_label=False) if held is not None else None
        q = c.apply(p_test) if c is not None else p_test
        out[f"T_{key}"] = c.temperature if c is not None else 1.0
        out[f"ece_{key}"] = cal.ece(q, y_test, multi_label=False)
        sure = q.max(axis=1) >= PRESELECT
        out[f"pre_{key}"] = float(sure.mean())
        out[f"pre_acc_{key}"] = float((q.argmax(1)[sure] == y_test[sure]).mean()) if sure.any() \
            else float("nan")
    sure = p_test.max(axis=1) >= PRESELECT
    out["pre_raw"] = float(sure.mean())
    out["pre_acc_raw"] = float((p_test.argmax(1)[sure] == y_test[sure]).mean()) if sure.any() \
        else float("nan")
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", default=",".join(TEXT_SETS))
    ap.add_argument("--budgets", default="20,50,200")
    ap.add_argument("--sampling", default="random,margin")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--head", default="tuned_logistic_regression", choices=sorted(HEAD_FACTORIES))
    a = ap.parse_args(argv)
    print(f"head: {a.head}; ECE (10 bins) on half of the test split, mean over {a.seeds} "
          f"seeds; pre-selected: share with confidence >= {PRESELECT} (and their accuracy)")
    print(f"{'dataset':15} {'labels':>6} {'sampling':>8} {'acc':>5} | {'ECE raw':>7} "
          f"{'T cv':>5} {'ECE cv':>6} {'T eval':>6} {'ECE eval':>8} | "
          f"{'pre raw':>13} {'pre cv':>13} {'pre eval':>13}")
    for name in a.datasets.split(","):
        for budget in (int(b) for b in a.budgets.split(",")):
            for how in a.sampling.split(","):
                runs = [run(name, budget, how, s, a.head) for s in range(a.seeds)]

                def m(key: str, runs: list[dict[str, float]] = runs) -> float:
                    return float(np.nanmean([r[key] for r in runs]))

                pre = " ".join(f"{m('pre_' + w):5.2f} ({m('pre_acc_' + w):5.2f})"
                               for w in ("raw", "cv", "eval"))
                print(f"{name:15} {budget:6d} {how:>8} {m('acc'):5.3f} | {m('ece_raw'):7.3f} "
                      f"{m('T_cv'):5.2f} {m('ece_cv'):6.3f} {m('T_eval'):6.2f} "
                      f"{m('ece_eval'):8.3f} | {pre}", flush=True)


if __name__ == "__main__":
    main()
