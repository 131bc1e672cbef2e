"""How the live audit's interval would cover with other settings, on stored runs.

``default_check.py`` stores each run's labelled rows and audit flags; this script
re-estimates "labels saved vs random" on those runs (at every ``--every``-th estimate
point and the last) with the estimator's settings changed (:data:`VARIANTS`), and prints
per variant: coverage of the truth (last estimate per run, and all), how often the verdict
was ``winning`` / ``losing``, and how often a verdict was wrong (``winning`` with a true
loss, ``losing`` with a true gain). Run ``default_check.py`` first; the runs themselves do
not change (an estimate with other settings could have switched a run at another time:
the figures are for the estimator, not for the switch).

    python benchmarks/audit_calibration.py --tasks sentiment_cr,topic_trec --seeds 10
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.default_check import CANDIDATES, TASKS, _key, as_curve
from benchmarks.label_efficiency import DATASETS, cache_root, prepare
from labella.al import _audit_curve, audit, audit_check
from labella.al.pipelines import DEFAULT_STRATEGY
from labella.al.simulate import full_score, random_extension

VARIANTS: dict[str, dict[str, Any]] = {
    "as shipped": {},
    "noise floor 0.0075": {"NOISE_FLOOR": 0.0075},
    "noise floor 0.03": {"NOISE_FLOOR": 0.03},
}


def _stored(p: Any, name: str, budget: int, batch: int, seeds: range, store: Path) -> list[Any]:
    out = []
    for s in seeds:
        path = store / _key(p, name, CANDIDATES[name], budget, batch, s)
        if not path.exists():
            raise SystemExit(f"no stored run {path}: run default_check.py first")
        out.append(as_curve(json.loads(path.read_text())))
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--every", type=int, default=3, help="re-estimate every n-th stored point")
    ap.add_argument("--variants", help=f"comma-separated, default all: {', '.join(VARIANTS)}")
    a = ap.parse_args(argv)
    from benchmarks.default_check import BUDGET_CAP

    cache = cache_root()
    store = cache / "benchmarks" / "default_check"
    names = a.variants.split(",") if a.variants else list(VARIANTS)
    tally: dict[str, list[dict[str, Any]]] = {v: [] for v in names}
    for task in a.tasks.split(","):
        spec = DATASETS[task]
        budget = min(spec.budget, BUDGET_CAP.get(task, spec.budget))
        p = prepare(spec, cache)
        seeds = range(a.seeds)
        runs = _stored(p, DEFAULT_STRATEGY, budget, spec.batch_size, seeds, store)
        rnd = _stored(p, "random", budget, spec.batch_size, seeds, store)
        fs = full_score(p.X_pool, p.y_pool, p.X_test, p.y_test, n_classes=p.n_classes,
                        multi_label=p.multi_label)
        r_mean = list(np.mean([c.scores for c in rnd], axis=0))
        ext = random_extension(p.X_pool, p.y_pool, p.X_test, p.y_test, n_classes=p.n_classes,
                               multi_label=p.multi_label, start=rnd[0].labels[-1],
                               seeds=a.seeds, full=fs)
        ref = (rnd[0].labels + ext[0], r_mean + ext[1])
        for v in names:
            saved = {k: getattr(_audit_curve, k) for k in VARIANTS[v]}
            for k, val in VARIANTS[v].items():
                setattr(_audit_curve, k, val)
            try:
                for seed, c in zip(seeds, runs, strict=True):
                    points = [*[e.n_labels for e in c.audit][:: a.every], c.audit[-1].n_labels]
                    head = CANDIDATES[DEFAULT_STRATEGY].make_head(p.n_classes, p.multi_label)
                    for n in dict.fromkeys(points):
                        rows = np.asarray(c.rows[:n])
                        est = audit.estimate(p.X_pool[rows], p.y_pool[rows],
                                             np.asarray(c.audit_flags[:n]), n_pool=len(p.X_pool),
                                             n_classes=p.n_classes, head=head,
                                             multi_label=p.multi_label, seed=seed)
                        rec = audit_check.compare(est, c.scores[c.labels.index(n)], *ref,
                                                  len(p.X_pool))
                        rec.update(task=task, seed=seed, last=n == points[-1])
                        tally[v].append(rec)
            finally:
                for k, val in saved.items():
                    setattr(_audit_curve, k, val)
        print(f"done {task}", file=sys.stderr, flush=True)
    for v in names:
        recs = [r for r in tally[v] if r["covered"] is not None]
        last = [r for r in recs if r["last"]]
        truth = [math.inf if r["true_labels_saved"] == "inf" else r["true_labels_saved"] for r in recs]
        wrong = sum((r["verdict"] == "winning" and t < 0) or (r["verdict"] == "losing" and t > 0)
                    for r, t in zip(recs, truth, strict=True))
        share = {k: np.mean([r["verdict"] == k for r in recs]) for k in ("winning", "losing")}
        print(f"{v}: covers the truth in {np.mean([r['covered'] for r in last]):.1%} of {len(last)} "
              f"runs (last estimate), {np.mean([r['covered'] for r in recs]):.1%} of {len(recs)} "
              f"estimates; verdicts winning {share['winning']:.0%}, losing {share['losing']:.0%}, "
              f"wrong {wrong} ({wrong / max(1, len(recs)):.1%})")


if __name__ == "__main__":
    main()
