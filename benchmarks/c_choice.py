"""How well does the tuned head's rule pick ``C``? Regret against the test split.

Runs the default pipeline (margin + ``tuned_logistic_regression``) on a dataset and,
at fixed numbers of labels, takes the labelled set it has collected. On each such
snapshot it fits class-balanced logistic regression with every ``C`` of a grid,
scores each on the test split, and asks several rules which ``C`` they would pick
from the labelled rows alone (fixed values, lowest CV log-loss, the
one-standard-error rule, highest CV accuracy). Prints each rule's regret: the best
``C``'s test accuracy minus the picked one's, in points, averaged over snapshots.

    python benchmarks/c_choice.py --dataset sentiment_cr --seeds 8 --at 20,30,50,70,100,150,200

Checkpoints are ``initial + k * batch_size`` (text: 20, 30, ...; images: 30, 50, ...).
See docs/default-strategy.md §7.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import ClassVar

import numpy as np
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import label_efficiency as le
from labella.al.pipelines import HEAD_FACTORIES, Pipeline
from labella.al.simulate import run_curve
from labella.al.tuned import TunedLogisticHead

GRID = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0)


class _Recording(TunedLogisticHead):
    """The default head, keeping a copy of its labelled set at the chosen sizes."""

    at: ClassVar[set[int]] = set()
    seen: ClassVar[dict[int, tuple[np.ndarray, np.ndarray]]] = {}

    def fit(self, X: np.ndarray, y: np.ndarray) -> _Recording:
        super().fit(X, y)
        if len(y) in self.at:
            self.seen[len(y)] = (X.copy(), y.copy())
        return self


def snapshot_rows(p: le.Prepared, X: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray] | None:
    """Test accuracy, CV losses and CV hits of every ``C`` of :data:`GRID` on one snapshot."""
    probe = TunedLogisticHead(p.n_classes, grid=GRID)
    counts = np.bincount(y)
    folds = min(5, int(counts[counts > 0].min()))
    if folds < 2:
        return None
    test = np.array([
        (LogisticRegression(C=C, class_weight="balanced", max_iter=1000).fit(X, y)
         .predict(p.X_test) == p.y_test).mean() for C in GRID])
    runs = [probe.cv_losses(X, y, C, folds) for C in GRID]
    return {"test": test, "loss": np.array([r[0] for r in runs]), "right": np.array([r[1] for r in runs])}


def picks(snap: dict[str, np.ndarray]) -> dict[str, int]:
    """Index into :data:`GRID` that each rule picks on one snapshot."""
    rules: dict[str, int] = {f"fixed C={C:g}": i for i, C in enumerate(GRID)}
    losses, rights = list(snap["loss"]), list(snap["right"])
    # the head's grid starts at C=1: the rules choose from GRID[1:]
    lowest = TunedLogisticHead(2, grid=GRID[1:], one_se=False)
    one_se = TunedLogisticHead(2, grid=GRID[1:], one_se=True)
    rules["lowest CV log-loss"] = 1 + lowest.choose(losses[1:], rights[1:])
    rules["1-SE rule"] = 1 + one_se.choose(losses[1:], rights[1:])
    acc = snap["right"].mean(axis=1)
    rules["highest CV accuracy"] = max(range(len(GRID)), key=lambda i: (acc[i], -i))
    return rules


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", required=True, help=", ".join(le.DATASETS))
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--at", required=True, help="comma-separated numbers of labels")
    ap.add_argument("--trajectory", choices=("default", "lowest"), default="default",
                    help="whose queries build the labelled sets: the default head, or the head of "
                         "docs/default-strategy.md §5 (lowest CV loss, grid 1, 3, 10, 30, 100), "
                         "which is what §7's table used")
    args = ap.parse_args(argv)
    spec = le.DATASETS[args.dataset]
    p = le.prepare(spec, le.cache_root())
    _Recording.at = {int(a) for a in args.at.split(",")}
    if args.trajectory == "lowest":
        HEAD_FACTORIES["_recording"] = lambda n, ml: _Recording(
            n, multi_label=ml, grid=(1.0, 3.0, 10.0, 30.0, 100.0), one_se=False)
    else:
        HEAD_FACTORIES["_recording"] = lambda n, ml: _Recording(n, multi_label=ml)
    regret: dict[str, list[float]] = {}
    with threadpool_limits(1):
        for seed in range(args.seeds):
            _Recording.seen = {}
            run_curve(p.X_pool, p.y_pool, p.X_test, p.y_test, n_classes=p.n_classes,
                      multi_label=p.multi_label, pipeline=Pipeline("margin", head="_recording"),
                      budget=max(_Recording.at), batch_size=spec.batch_size,
                      initial=spec.initial, seed=seed)
            for _, (X, y) in sorted(_Recording.seen.items()):
                snap = snapshot_rows(p, X, y)
                if snap is None:
                    continue
                for rule, i in picks(snap).items():
                    regret.setdefault(rule, []).append(100 * float(snap["test"].max() - snap["test"][i]))
            print(f"seed {seed}: {len(_Recording.seen)} snapshot(s)", file=sys.stderr)
    n = len(next(iter(regret.values()), []))
    print(f"{args.dataset}: regret in accuracy points, mean over {n} snapshots")
    for rule, values in regret.items():
        print(f"  {rule:22s} {np.mean(values):6.2f}")


if __name__ == "__main__":
    main()
