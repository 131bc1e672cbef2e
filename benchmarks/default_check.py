"""Is the default never worse than random, and is its live audit honest?

For every task (the shared sets, their sub-tasks and the package-shipped set of
``benchmarks/tasks.py``) and seed, it runs the default pipeline (with its audit share and
its switch to random) and ``random`` exactly as ``labella simulate`` does
(:func:`labella.al.simulate.run_curve`), then prints, worst case first:

* labels to reach 95 % of plain logistic regression on the whole pool, default vs random
  (mean curves over the seeds);
* the worst gap of the default's mean curve to random's, in points, and where;
* the audit: the share of runs whose last "labels saved vs random" interval covers the
  truth (the run's test score, located on random's mean curve, extended to the whole pool),
  the share over every estimate, and how many runs switched to random.

``--extra`` adds candidate pipelines (:data:`CANDIDATES`) and prints a leave-one-source-out
choice: for each source dataset, the candidate chosen on the tasks of the *other* sources
(fewest tasks with a checkpoint more than 1 point below random, then the lowest median
labels to 95 % relative to random) and how that choice does on the held-out source.

Curves are stored per (task, pipeline, seed) under the cache, with the labelled rows and
audit flags, so a rerun only prints and the audit can be re-estimated on the same runs
(``--reestimate``). See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import tasks
from benchmarks.label_efficiency import DATASETS, Prepared, cache_root, prepare
from labella.al import audit, audit_check, metrics
from labella.al.audit import AuditEstimate
from labella.al.pipelines import DEFAULT_STRATEGY, HEAD_FACTORIES, Pipeline, pipeline_for
from labella.al.simulate import Curve, audit_records, full_score, random_extension, run_curve
from labella.al.tuned import TunedLogisticHead

log = logging.getLogger("default_check")

SHARED_TASKS = ["sentiment_cr", "sentiment_mpqa", "topic_trec", "topic_trec_fine",
                "images_sign_language_digits", "multilabel_semeval2018_ec", "tiled_sign_digits"]
TASKS = ["sentiment_cr", "sentiment_mpqa", "topic_trec", "images_sign_language_digits",
         *tasks.BUILDERS, "topic_trec_fine", "tiled_sign_digits", "multilabel_semeval2018_ec"]
"""The shared sets and every added task (the slowest last)."""
SOURCE = {"sentiment_cr": "CR", "sentiment_mpqa": "MPQA", "topic_trec": "TREC",
          "topic_trec_fine": "TREC", "images_sign_language_digits": "signs",
          "multilabel_semeval2018_ec": "SemEval", "tiled_sign_digits": "signs",
          "sentiment_rt": "RT", "sentiment_cr_imb10": "CR", "sentiment_mpqa_imb10": "MPQA",
          "sentiment_mpqa_1k": "MPQA", "sentiment_mpqa_3k": "MPQA", "topic_trec_hum": "TREC",
          "topic_trec_ent_desc": "TREC", "emotion_joy": "SemEval",
          "emotion_anger_fear_sad": "SemEval"}
"""Which source dataset a task comes from: leave-one-out holds out a whole source."""

BUDGET_CAP = {"topic_trec_fine": 1000}
"""Tasks run to a smaller budget than ``label_efficiency.py`` gives them (CPU)."""

HEAD_VERSION = "2"
"""Changes with the tuned head's code (stored runs are keyed by it): 2 = the first labels'
prior correction (docs/default-strategy.md §9)."""

_default = pipeline_for(DEFAULT_STRATEGY)
HEAD_FACTORIES.setdefault(  # the head of §8-9: pseudo-labels before the first query
    "tuned_pseudo_first", lambda n, ml: TunedLogisticHead(n, multi_label=ml, first_batch="pseudo"))

CANDIDATES: dict[str, Pipeline] = {
    "labella": _default,
    "random": pipeline_for("random"),
    "margin-tuned-no-audit": replace(_default, audit_share=0.0, switch_when_losing=False),
    "margin-tuned-audit05": replace(_default, audit_share=0.05),
    "margin-tuned-audit20": replace(_default, audit_share=0.2),
    "margin-tuned-pseudo-first": replace(_default, head="tuned_pseudo_first"),
}
"""Pipelines by name (``labella`` is the default as shipped)."""


def _key(p: Prepared, name: str, pipe: Pipeline, budget: int, batch: int, seed: int,
         estimator: str = audit.ESTIMATOR_VERSION) -> str:
    # a run with an audit depends on the estimator (it may switch to random): its version
    what = repr(pipe) + (f" audit {estimator}" if pipe.audit_share else "")
    if pipe.head == "tuned_logistic_regression":
        what += f" head {HEAD_VERSION}"
    tag = hashlib.sha1(what.encode()).hexdigest()[:8]
    return f"{p.name}-{p.fingerprint}-b{budget}-bs{batch}/{name}-{tag}-seed{seed}.json"


def curve_record(c: Curve) -> dict[str, Any]:
    return {"labels": c.labels, "scores": c.scores, "seconds_per_query": c.seconds_per_query,
            "audit": [e.as_dict() for e in c.audit], "switched_at": c.switched_at,
            "rows": c.rows, "audit_flags": c.audit_flags}


def as_curve(rec: dict[str, Any]) -> Curve:
    return Curve(rec["labels"], rec["scores"], rec["seconds_per_query"],
                 [AuditEstimate.from_dict(e) for e in rec["audit"]], rec["switched_at"],
                 rec["rows"], rec["audit_flags"])


def reestimate(c: Curve, p: Prepared, pipe: Pipeline, seed: int, path: Path) -> Curve:
    """``c`` with its audit estimates made again by the current estimator, at the same
    label counts, from its stored rows and audit flags (cached beside ``path``). The run
    itself is kept: if the current estimator would have switched it to random earlier
    than it did, the rest of the run is not what it would have been, and the returned
    curve says so in ``switched_at`` (as a negative number of labels)."""
    side = path.with_name(path.stem + f".audit-v{audit.ESTIMATOR_VERSION}.json")
    if side.exists():
        recs = json.loads(side.read_text())
    else:
        head = pipe.make_head(p.n_classes, p.multi_label)
        recs = []
        for e in c.audit:
            rows = np.asarray(c.rows[: e.n_labels])
            head = head.fit(p.X_pool[rows], p.y_pool[rows])  # as along the run: tuned as it grows
            recs.append(audit.estimate(p.X_pool[rows], p.y_pool[rows],
                                       np.asarray(c.audit_flags[: e.n_labels]),
                                       n_pool=len(p.X_pool), n_classes=p.n_classes, head=head,
                                       multi_label=p.multi_label, seed=seed).as_dict())
        side.write_text(json.dumps(recs))
    history = [AuditEstimate.from_dict(r) for r in recs]
    would = next((h.n_labels for i, h in enumerate(history)
                  if audit.should_switch(history[: i + 1])), None)
    switched = c.switched_at
    if would is not None and (switched is None or would < switched):
        switched = -would
    return replace(c, audit=history, switched_at=switched)


def run_task(name: str, pipes: dict[str, Pipeline], *, seeds: int, first_seed: int,
             store: Path, cache: Path, runs_of: str | None = None) -> dict[str, Any]:
    spec = DATASETS[name]
    budget = min(spec.budget, BUDGET_CAP.get(name, spec.budget))
    p = prepare(spec, cache)
    fs = full_score(p.X_pool, p.y_pool, p.X_test, p.y_test, n_classes=p.n_classes,
                    multi_label=p.multi_label)
    curves: dict[str, list[Curve]] = {}
    for pname, pipe in pipes.items():
        curves[pname] = []
        for seed in range(first_seed, first_seed + seeds):
            if runs_of and pipe.audit_share:
                path = store / _key(p, pname, pipe, budget, spec.batch_size, seed, runs_of)
                if not path.exists():
                    raise SystemExit(f"no run stored by estimator {runs_of}: {path}")
                curves[pname].append(reestimate(as_curve(json.loads(path.read_text())), p, pipe,
                                                seed, path))
                continue
            path = store / _key(p, pname, pipe, budget, spec.batch_size, seed)
            if path.exists():
                curves[pname].append(as_curve(json.loads(path.read_text())))
                continue
            t0 = time.perf_counter()
            c = run_curve(p.X_pool, p.y_pool, p.X_test, p.y_test, n_classes=p.n_classes,
                          multi_label=p.multi_label, pipeline=pipe, budget=budget,
                          batch_size=spec.batch_size, initial=spec.initial, seed=seed)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.with_suffix(".tmp").write_text(json.dumps(curve_record(c)))
            path.with_suffix(".tmp").replace(path)
            curves[pname].append(c)
            log.info("%s / %s / seed %d: %.1fs", name, pname, seed, time.perf_counter() - t0)
    rnd = curves["random"]
    r_labels, r_mean = rnd[0].labels, list(np.mean([c.scores for c in rnd], axis=0))
    ext = random_extension(p.X_pool, p.y_pool, p.X_test, p.y_test, n_classes=p.n_classes,
                           multi_label=p.multi_label, start=r_labels[-1], seeds=seeds, full=fs)
    reference = (r_labels + ext[0], r_mean + ext[1])
    target = 0.95 * fs
    rows: dict[str, Any] = {}
    for pname, cs in curves.items():
        mean = np.mean([c.scores for c in cs], axis=0)
        gap = (mean - np.asarray(r_mean)) * 100
        j = int(np.argmin(gap))
        row: dict[str, Any] = {
            "labels": cs[0].labels, "mean": [float(v) for v in mean],
            "scores": [c.scores for c in cs],
            "labels_to_95": metrics.labels_to_target(cs[0].labels, list(mean), target),
            "worst_gap": float(gap[j]), "worst_gap_at": int(cs[0].labels[j]),
            "switched_at": [c.switched_at for c in cs]}
        if any(c.audit for c in cs):
            recs = audit_records(cs, reference, len(p.X_pool))
            row["audit"] = recs
            row["audit_coverage"] = audit_check.coverage(recs)
        rows[pname] = row
    return {"task": name, "source": SOURCE.get(name, name), "multi_label": p.multi_label,
            "n_pool": len(p.X_pool), "n_classes": p.n_classes, "full_score": fs,
            "target": target, "budget": budget, "batch_size": spec.batch_size, "seeds": seeds,
            "first_seed": first_seed, "reference": {"labels": reference[0], "mean": reference[1]},
            "pipelines": rows}


def _l95(v: int | None, budget: int) -> str:
    return f">{budget}" if v is None else str(v)


def passes(r: dict[str, Any], name: str) -> bool:
    """Never more than 1 point below random on the mean curve, and no more labels than
    random to reach 95 % (a default that never reaches it fails unless random does not
    either)."""
    d, rnd = r["pipelines"][name], r["pipelines"]["random"]
    fewer = (d["labels_to_95"] is not None and (rnd["labels_to_95"] is None
                                                or d["labels_to_95"] <= rnd["labels_to_95"])) \
        or (d["labels_to_95"] is None and rnd["labels_to_95"] is None)
    return bool(d["worst_gap"] >= -1.0 and fewer)


def table(results: list[dict[str, Any]], name: str = DEFAULT_STRATEGY) -> str:
    """The done-means table, worst case (lowest worst gap) first."""
    rows = []
    for r in sorted(results, key=lambda r: r["pipelines"][name]["worst_gap"]):
        d, rnd = r["pipelines"][name], r["pipelines"]["random"]
        cov = d.get("audit_coverage") or {}
        last = [run[-1]["verdict"] for run in d.get("audit", []) if run]
        verdicts = "/".join(str(last.count(v)) for v in ("winning", "losing", "unclear"))
        rows.append([r["task"], _l95(d["labels_to_95"], r["budget"]),
                     _l95(rnd["labels_to_95"], r["budget"]),
                     f"{d['worst_gap']:+.1f} @{d['worst_gap_at']}",
                     "yes" if passes(r, name) else "NO",
                     f"{cov.get('runs_covered', '-')}/{cov.get('runs', '-')}",
                     "-" if cov.get("estimate_coverage") is None else f"{cov['estimate_coverage']:.0%}",
                     verdicts if last else "-",
                     f"{sum(s is not None and s > 0 for s in d['switched_at'])}"
                     + (f" ({sum(s is not None and s < 0 for s in d['switched_at'])} would)"
                        if any(s is not None and s < 0 for s in d["switched_at"]) else "")])
    cols = ["task", "default l95", "random l95", "worst gap", "ok", "audit covers (runs)",
            "(all estimates)", "last verdict w/l/u", "switched"]
    from benchmarks.label_efficiency import _grid

    return _grid(cols, rows)


def overall_coverage(results: list[dict[str, Any]], name: str = DEFAULT_STRATEGY) -> dict[str, Any]:
    recs = [run for r in results for run in r["pipelines"][name].get("audit", [])]
    return audit_check.coverage(recs)


def wrong_verdicts(results: list[dict[str, Any]], name: str = DEFAULT_STRATEGY) -> tuple[int, int]:
    """(estimates whose verdict contradicts the truth, estimates with a verdict)."""
    recs = [x for r in results for run in r["pipelines"][name].get("audit", []) for x in run
            if x["covered"] is not None]
    bad = 0
    for x in recs:
        t = math.inf if x["true_labels_saved"] == "inf" else x["true_labels_saved"]
        bad += (x["verdict"] == "winning" and t < 0) or (x["verdict"] == "losing" and t > 0)
    return bad, len(recs)


def _score(results: list[dict[str, Any]], name: str) -> tuple[int, float]:
    """(tasks failing, median of default l95 / random l95) for choosing a candidate."""
    fails = sum(not passes(r, name) for r in results)
    ratios = []
    for r in results:
        d, rnd = r["pipelines"][name]["labels_to_95"], r["pipelines"]["random"]["labels_to_95"]
        ratios.append((d or 2 * r["budget"]) / (rnd or 2 * r["budget"]))
    return fails, float(np.median(ratios))


def leave_one_source_out(results: list[dict[str, Any]], names: list[str]) -> str:
    lines = ["leave-one-source-out choice (chosen on the other sources; then how it does "
             "on the held-out one):"]
    for src in sorted({r["source"] for r in results}):
        train = [r for r in results if r["source"] != src]
        held = [r for r in results if r["source"] == src]
        pick = min(names, key=lambda n: _score(train, n))
        fails, ratio = _score(held, pick)
        lines.append(f"  hold out {src:8s}: chose {pick} (train: {_score(train, pick)[0]} "
                     f"failing tasks); held out: {fails} of {len(held)} tasks fail, "
                     f"median labels vs random {ratio:.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", help=f"comma-separated (default: all): {', '.join(TASKS)}")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--extra", help=f"candidate pipelines to compare: {', '.join(CANDIDATES)}")
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    ap.add_argument("--out", type=Path, help="write every result as JSON here")
    ap.add_argument("--runs-of-estimator", help="use the runs stored with this estimator "
                    "version and estimate their audit again with the current one (a run the "
                    "current one would have switched earlier shows a negative 'switched')")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO if a.verbose else logging.WARNING,
                        format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    cache = cache_root()
    store = cache / "benchmarks" / "default_check"
    names = [DEFAULT_STRATEGY, "random", *[n for n in (a.extra or "").split(",") if n]]
    unknown = [n for n in names if n not in CANDIDATES]
    if unknown:
        raise SystemExit(f"unknown pipeline(s) {unknown}; known: {', '.join(CANDIDATES)}")
    pipes = {n: CANDIDATES[n] for n in names}
    from threadpoolctl import threadpool_limits

    results = []
    with threadpool_limits(limits=a.threads):
        for t in (a.tasks.split(",") if a.tasks else TASKS):
            results.append(run_task(t, pipes, seeds=a.seeds, first_seed=a.first_seed,
                                    store=store, cache=cache, runs_of=a.runs_of_estimator))
            print(f"done {t}", file=sys.stderr, flush=True)
    print(f"default = {DEFAULT_STRATEGY}: {CANDIDATES[DEFAULT_STRATEGY]}")
    print(f"seeds {a.first_seed}..{a.first_seed + a.seeds - 1}; labels to 95 % of plain "
          "logistic regression on the whole pool (mean curves); worst gap = lowest "
          "(default - random) on the mean curves, points @ labels")
    print(table(results))
    ok = sum(passes(r, DEFAULT_STRATEGY) for r in results)
    cov = overall_coverage(results)
    print(f"tasks passing (never > 1 point below random, no more labels to 95 %): {ok} of {len(results)}")
    if cov["runs"]:
        wrong = wrong_verdicts(results)
        print(f"audit: wrong verdicts ('winning' with a true loss or 'losing' with a true gain): "
              f"{wrong[0]} of {wrong[1]} estimates")
        print(f"audit: the last 90 % interval of labels saved covers the truth in "
              f"{cov['runs_covered']} of {cov['runs']} runs ({cov['run_coverage']:.1%}); "
              f"over all {cov['estimates']} estimates along the runs: {cov['estimate_coverage']:.1%}")
    for n in names[2:]:
        print(f"\n{n}:\n{table(results, n)}")
    if len(names) > 2:
        print(leave_one_source_out(results, [n for n in names if n != "random"]))
    if a.out:
        a.out.write_text(json.dumps({"results": results, "pipelines": {
            n: asdict(p) for n, p in pipes.items()}}, indent=1))
    return results


if __name__ == "__main__":
    main()
