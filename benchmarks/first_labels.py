"""Test accuracy at the first checkpoint: the balanced head with and without pseudo-labels.

Before any query, ``labella simulate`` labels ``--n`` random items (draw *s* is the first
batch of seed *s*); every pipeline with a random first batch labels the same ones, so
this checkpoint measures the head alone. For ``--draws`` such batches this fits plain
logistic regression (``C=1``, what ``random`` uses), the default head on the labels alone,
and the default head with the unlabelled pool (pseudo-labels below 20 labels), and
prints mean differences in points.

    python benchmarks/first_labels.py --datasets sentiment_cr,topic_trec --draws 60

See docs/default-strategy.md §8.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import label_efficiency as le
from labella.al.tuned import TunedLogisticHead


def accuracies(X_pool: np.ndarray, y_pool: np.ndarray, X_test: np.ndarray, y_test: np.ndarray,
               n_classes: int, *, n: int, draws: int) -> dict[str, np.ndarray]:
    """Test accuracy (points) of each head on each draw that holds two classes or more."""
    out: dict[str, list[float]] = {"plain": [], "labels only": [], "with pool": []}
    with threadpool_limits(1):
        for seed in range(draws):
            first = np.random.default_rng(seed).choice(len(X_pool), size=n, replace=False)
            X, y = X_pool[first], y_pool[first]
            if len(np.unique(y)) < 2:
                continue
            # the default predicts with plain logistic regression here (tuned.py); the
            # balanced head's two variants are its former first-batch behaviour (§8-9)
            heads = {"plain": LogisticRegression(C=1.0, max_iter=1000).fit(X, y),
                     "labels only": TunedLogisticHead(n_classes, first_batch="pseudo").fit(X, y),
                     "with pool": TunedLogisticHead(n_classes, first_batch="pseudo").fit(
                         X, y, unlabeled=np.delete(X_pool, first, axis=0))}
            for name, head in heads.items():
                out[name].append(100.0 * float((head.predict(X_test) == y_test).mean()))
    return {k: np.array(v) for k, v in out.items()}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", default="sentiment_cr,sentiment_mpqa,topic_trec,images_sign_language_digits")
    ap.add_argument("--n", type=int, default=10, help="labels in the first batch (default 10)")
    ap.add_argument("--draws", type=int, default=60)
    a = ap.parse_args(argv)
    for name in a.datasets.split(","):
        p = le.prepare(le.DATASETS[name], le.cache_root())
        acc = accuracies(p.X_pool, p.y_pool, p.X_test, p.y_test, p.n_classes, n=a.n, draws=a.draws)
        gain = acc["with pool"] - acc["labels only"]
        print(f"{name}: {len(gain)} draws of {a.n} labels; accuracy plain {acc['plain'].mean():.1f}, "
              f"labels only {acc['labels only'].mean():.1f}, with pool {acc['with pool'].mean():.1f}")
        print(f"  pseudo-labels: {gain.mean():+.2f} ± {gain.std(ddof=1) / np.sqrt(len(gain)):.2f} points, "
              f"better in {np.mean(gain > 0):.0%} of draws; first 3 draws vs plain: "
              f"labels only {np.mean(acc['labels only'][:3] - acc['plain'][:3]):+.2f}, "
              f"with pool {np.mean(acc['with pool'][:3] - acc['plain'][:3]):+.2f}")


if __name__ == "__main__":
    main()
