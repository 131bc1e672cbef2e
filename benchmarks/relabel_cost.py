"""What the ``relabel`` setting ``activelab`` adds to a refit: the time of
:func:`labella.service.relabel.relabel_candidates` (ratings matrix, ActiveLab scores,
the candidates) on synthetic pools, without the database read of the answers.

A pool of ``n`` items with four classes, random model probabilities, ``n_lab`` labelled
items each answered once (every fifth twice) by a team of annotators. Each line is the
best of three runs. Usage::

    python benchmarks/relabel_cost.py
"""

from __future__ import annotations

import time

import numpy as np

from labella.al.pipelines import pipeline_for
from labella.service.poolmap import PoolIndex
from labella.service.relabel import relabel_candidates
from labella.service.state import DEFAULT_SETTINGS, ProjectState, Ranked
from labella.tasks import get_task

NAMES = ["a", "b", "c", "d"]


def main() -> None:
    rng = np.random.default_rng(0)
    task = get_task("text", False)
    for n, n_lab, n_ann in ((10_000, 2_000, 5), (100_000, 10_000, 20), (100_000, 50_000, 20)):
        y = np.full(n, -1)
        y[:n_lab] = rng.integers(0, len(NAMES), n_lab)
        answers: dict[tuple[int, int], list[str]] = {}
        for r in range(n_lab):
            for u in rng.choice(n_ann, size=1 + (r % 5 == 0), replace=False):
                answers[(r, int(u))] = [NAMES[int(rng.integers(0, len(NAMES)))]]
        st = ProjectState(
            project_id=1, task=task, label_names=NAMES, featuriser_key="synthetic",
            pipeline=pipeline_for("labella"), settings={**DEFAULT_SETTINGS, "relabel": "activelab"},
            index=PoolIndex(np.arange(n)), X=np.zeros((n, 1)), y=y, eval_index=PoolIndex([]),
            X_eval=np.zeros((0, 1)), y_eval=task.to_target([], NAMES),
            proba=rng.dirichlet(np.ones(len(NAMES)), n),
            ranked=Ranked(np.arange(n_lab, n_lab + 100), np.zeros(100), "margin", 1))
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            got = relabel_candidates(st, answers)
            times.append(time.perf_counter() - t0)
        print(f"pool {n:>7,}, {n_lab:>6,} labelled ({len(answers):,} answers, {n_ann} annotators): "
              f"{min(times) * 1000:6.0f} ms, {len(got)} candidates")


if __name__ == "__main__":
    main()
