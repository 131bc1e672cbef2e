"""Relabel vs new: three labelling policies with a simulated noisy team.

For each shared text set it runs exactly what ``labella simulate --annotators K
--noise P`` runs (:func:`labella.cli.run_crowd_simulation`: the default
featuriser through the embedding cache, the data's own test split or a
stratified 20 % one) and prints the policies' curves and the labels paid to
reach 95 % of the clean full-data score (plain logistic regression on every
pool item with its true label). ``--out`` writes all results as JSON.

    python benchmarks/crowd.py                       # K=3, P=0.2, 5 seeds, the three text sets
    python benchmarks/crowd.py --datasets sentiment_cr --seeds 2 --budget 600
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from rich.console import Console

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labella.cli import crowd_tables, run_crowd_simulation
from labella.datafiles import shared_datasets_dir

DATASETS = ("sentiment_cr", "sentiment_mpqa", "topic_trec")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--datasets", default=",".join(DATASETS),
                    help="comma-separated shared set names or paths to data files")
    ap.add_argument("--annotators", type=int, default=3)
    ap.add_argument("--noise", type=float, default=0.2)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--budget", type=int, default=1500)
    ap.add_argument("--batch-size", type=int, default=50)
    ap.add_argument("--initial", type=int, default=50)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    console = Console()
    results = {}
    summary = []
    for name in args.datasets.split(","):
        path = Path(name)
        if not path.exists():
            path = shared_datasets_dir() / name / "data.csv"
        t0 = time.perf_counter()
        res = run_crowd_simulation(
            path, task="text", annotators=args.annotators, noise=args.noise, budget=args.budget,
            batch_size=args.batch_size, initial=args.initial, seeds=args.seeds,
            test_fraction=0.2, featuriser=None, cache_dir=None)
        res["seconds"] = time.perf_counter() - t0
        results[name] = res
        for table in crowd_tables(res):
            console.print(table)
        summary.append((name, res))
    console.print(f"\nlabels paid to reach 95 % of the clean full-data score "
                  f"(K={args.annotators}, P={args.noise}, {args.seeds} seeds; mean curve):")
    for name, res in summary:
        cells = ", ".join(f"{p}: {v['labels_to_95'] or 'not reached'}"
                          for p, v in res["policies"].items())
        console.print(f"  {name} (full {res['full_score']:.3f}): {cells}")
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
