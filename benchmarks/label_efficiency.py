"""Label efficiency: Labella's default pipeline against random sampling and peer libraries.

For each dataset: load it as ``labella simulate`` does (``labella.datafiles``),
featurise with Labella's default featuriser through the embedding cache
(``labella.features``), split the same way (the data's own test split, else a
stratified 20 % split with seed 0), then run learning curves for

* Labella's default pipeline (``labella.al.pipelines.DEFAULT_STRATEGY``) and
  ``random`` with :func:`labella.al.simulate.run_curve`, exactly as
  ``labella simulate`` does;
* every peer adapter of ``benchmarks/peers.py`` with :func:`run_peer_curve`,
  the same loop with a strategy instance: plain logistic regression (C=1)
  as the head, the same random first batch as ``random`` for the same seed.

Each (dataset, strategy, seed) curve is stored as JSON under the results
directory, keyed by the data's fingerprint and the run settings, so an
interrupted run continues where it stopped and a rerun only prints.

Prints one table per dataset and a summary; ``--out`` writes everything as
JSON. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import peers, tasks
from labella import datafiles
from labella.al import metrics
from labella.al.pipelines import DEFAULT_STRATEGY, Pipeline, pipeline_for
from labella.al.simulate import Curve, checkpoints, full_score, run_curve
from labella.al.strategies import REGISTRY
from labella.al.strategies.base import Strategy
from labella.al.types import Pool
from labella.datafiles import shared_datasets_dir
from labella.features.base import Modality

log = logging.getLogger("label_efficiency")

SHARED = shared_datasets_dir()
TEST_FRACTION = 0.2
QUICK_BUDGET = 200


@dataclass(frozen=True)
class DatasetSpec:
    """Where a dataset is and how it is simulated. ``path=None`` means built on demand."""

    name: str
    path: Path | None
    budget: int
    batch_size: int
    initial: int = 10


DATASETS: dict[str, DatasetSpec] = {
    s.name: s
    for s in (
        DatasetSpec("sentiment_cr", SHARED / "sentiment_cr" / "data.csv", 400, 10),
        DatasetSpec("sentiment_mpqa", SHARED / "sentiment_mpqa" / "data.csv", 600, 10),
        DatasetSpec("topic_trec", SHARED / "topic_trec" / "data.csv", 1200, 10),
        DatasetSpec("topic_trec_fine", None, 3000, 10),
        DatasetSpec("images_sign_language_digits",
                    SHARED / "images_sign_language_digits" / "images", 1000, 20),
        DatasetSpec("multilabel_semeval2018_ec",
                    SHARED / "multilabel_semeval2018_ec" / "data.csv", 2500, 10),
        DatasetSpec("tiled_sign_digits", None, 1500, 20),
    )
}
DATASETS.update({name: DatasetSpec(name, None, budget, batch)
                 for name, (budget, batch) in tasks.BUDGETS.items()})
"""Budgets are set so that random sampling reaches 95 % of the full-pool score (measured
with 3 seeds: CR 180, MPQA 350, TREC 990, signs 930, SemEval 2250, tiles 1210 labels).
``topic_trec_fine`` is TREC with its 50 fine question types (the data's ``label_fine``
column) as the label: a task no choice of the default was made on. The sub-tasks and the
package-shipped set of ``benchmarks/tasks.py`` follow."""


def cache_root() -> Path:
    """The same cache root as ``labella simulate`` (``$LABELLA_CACHE_DIR`` or ~/.cache/labella)."""
    return Path(os.environ.get("LABELLA_CACHE_DIR", Path.home() / ".cache" / "labella"))


# -- data --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    name: str
    X_pool: np.ndarray
    y_pool: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    multi_label: bool
    modality: str
    featuriser: str
    fingerprint: str


def dataset_path(spec: DatasetSpec, cache: Path) -> Path:
    if spec.path is not None:
        return spec.path
    if spec.name == "topic_trec_fine":
        return trec_fine(cache)
    if spec.name in tasks.BUILDERS:
        return tasks.build(spec.name, cache)
    from benchmarks.make_tiled_images import make_tiled

    out = cache / "benchmarks" / "tiled_sign_digits"
    make_tiled(out, n=2000, seed=0)
    return out


def featurise(items: list[str], modality: Modality, cache: Path) -> tuple[np.ndarray, str]:
    """Embeddings by Labella's default featuriser for ``modality``, through the embedding cache."""
    from labella.features import cache as embedding_cache
    from labella.features import registry

    feat = registry.default_featuriser(modality)
    last = [0.0]

    def progress(done: int, total: int) -> None:
        if time.monotonic() - last[0] > 10 or done == total:
            last[0] = time.monotonic()
            log.info("featurising (%s): %d/%d", feat.key, done, total)

    store = embedding_cache.EmbeddingCache(cache / "embeddings")
    X = store.get_or_compute(feat, items, progress=progress)
    return np.asarray(X, dtype=np.float32), feat.key


def prepare(spec: DatasetSpec, cache: Path) -> Prepared:
    data = datafiles.load(dataset_path(spec, cache))
    if data.skipped:
        log.info("%s: skipped %d row(s): %s", spec.name, len(data.skipped), "; ".join(data.skipped[:3]))
    X, key = featurise(data.items, data.modality, cache)
    pool_rows, test_rows = datafiles.split(data, test_fraction=TEST_FRACTION, seed=0)
    h = hashlib.sha1(key.encode())
    for a in (X, data.y, pool_rows):
        h.update(np.ascontiguousarray(a).tobytes())
    return Prepared(spec.name, X[pool_rows], data.y[pool_rows], X[test_rows], data.y[test_rows],
                    data.n_classes, data.multi_label, data.modality, key, h.hexdigest()[:12])


def trec_fine(cache: Path) -> Path:
    """TREC's questions labelled with their fine type (50 classes), as a ``text,label,split`` CSV."""
    out = cache / "benchmarks" / "topic_trec_fine" / "data.csv"
    with (SHARED / "topic_trec" / "data.csv").open(newline="", encoding="utf-8") as f:
        rows = [(r["text"], r["label_fine"], r["split"]) for r in csv.DictReader(f)]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label", "split"])
        w.writerows(rows)
    tmp.replace(out)
    return out


# -- curves ------------------------------------------------------------------------------


def _score(head: Any, X: np.ndarray, y: np.ndarray, *, multi_label: bool) -> float:
    """The score ``labella.al.simulate`` uses: accuracy, or micro-F1 at threshold 0.5."""
    proba = head.predict_proba(X)
    if multi_label:
        return metrics.micro_f1_multilabel(y, (proba >= 0.5).astype(np.int8))
    return metrics.accuracy(y, proba.argmax(axis=1))


def run_peer_curve(
    X_pool: np.ndarray, y_pool: np.ndarray, X_test: np.ndarray, y_test: np.ndarray, *,
    n_classes: int, multi_label: bool, strategy: Strategy, budget: int, batch_size: int,
    initial: int, seed: int, pipeline: Pipeline | None = None,
) -> Curve:
    """:func:`labella.al.simulate.run_curve` for a strategy *instance* (random first batch).

    Same steps, rng use and scoring, so a peer's first batch equals ``random``'s
    for the same seed. Query seconds leave out ``params["fit_seconds"]`` (a
    peer's refit of the model Labella hands its own strategies already fitted).
    """
    pipe = pipeline or Pipeline("random")
    rng = np.random.default_rng(seed)
    pool = Pool.unlabeled(X_pool, n_classes, multi_label=multi_label)
    first = rng.choice(pool.n_items, size=initial, replace=False)
    pool = pool.with_labels(first, y_pool[first])
    labels: list[int] = []
    scores: list[float] = []
    seconds: list[float] = []
    points = checkpoints(initial=initial, batch_size=batch_size, budget=budget, n_pool=len(X_pool))
    head = pipe.make_head(n_classes, multi_label)  # one head, refitted each round, as run_curve
    for i, n_labeled in enumerate(points):
        head = head.fit(*pool.labeled_data())
        labels.append(n_labeled)
        scores.append(_score(head, X_test, y_test, multi_label=multi_label))
        if i + 1 == len(points):
            break
        t0 = time.perf_counter()
        res = strategy.query(pool, batch_size, head=head, rng=rng)
        seconds.append(time.perf_counter() - t0 - float(res.params.get("fit_seconds", 0.0)))
        pool = pool.with_labels(res.indices, y_pool[res.indices])
    return Curve(labels, scores, float(np.median(seconds)) if seconds else 0.0)


def parse(name: str) -> tuple[str, str | None]:
    """``"strategy[@head][+cold_start]"`` -> ``(strategy, head or None)``."""
    base, _, head = name.partition("+")[0].partition("@")
    return base, head or None


def labella_pipeline(name: str) -> Pipeline:
    """The pipeline of a Labella row ``strategy[@head][+cold_start]``."""
    base, head = parse(name)
    cold = name.partition("+")[2] or None
    pipe = pipeline_for(base)
    if head:
        pipe = replace(pipe, head=head)
    if cold:
        REGISTRY.info(cold)  # an unknown name fails here, listing the known ones
        pipe = replace(pipe, cold_start=None if cold == "random" else cold)
    return pipe


def is_peer(name: str) -> bool:
    return parse(name)[0] in peers.PEERS


def describe(name: str) -> str:
    """What a row runs, for the cache key: the pipeline, or the peer and its head."""
    base, head = parse(name)
    if base in peers.PEERS:
        return f"peer {base} head={head or 'logistic_regression'} first=random"
    return repr(labella_pipeline(name))


def compute_curve(p: Prepared, name: str, *, budget: int, batch_size: int, initial: int,
                  seed: int) -> Curve:
    """One learning curve of ``name`` (``strategy[@head]``: a Labella pipeline or a peer)."""
    common: dict[str, Any] = dict(n_classes=p.n_classes, multi_label=p.multi_label, budget=budget,
                                  batch_size=batch_size, initial=initial, seed=seed)
    base, head = parse(name)
    if base in peers.PEERS:
        return run_peer_curve(p.X_pool, p.y_pool, p.X_test, p.y_test, strategy=peers.PEERS.get(base),
                              pipeline=Pipeline("random", head=head or "logistic_regression"),
                              **common)
    return run_curve(p.X_pool, p.y_pool, p.X_test, p.y_test, pipeline=labella_pipeline(name),
                     **common)


class CurveStore:
    """One JSON file per (dataset fingerprint, settings, strategy definition, seed)."""

    def __init__(self, root: Path, *, fresh: bool = False) -> None:
        self.root = root
        self.fresh = fresh

    def path(self, p: Prepared, name: str, *, budget: int, batch_size: int, initial: int,
             seed: int) -> Path:
        run = f"{p.name}-{p.fingerprint}-b{budget}-bs{batch_size}-i{initial}"
        tag = hashlib.sha1(describe(name).encode()).hexdigest()[:8]
        safe = name.replace(":", "__").replace("@", "--").replace("+", "__cold-")
        return self.root / run / f"{safe}-{tag}-seed{seed}.json"

    def get_or_run(self, p: Prepared, name: str, **kw: Any) -> dict[str, Any]:
        path = self.path(p, name, **kw)
        if path.exists() and not self.fresh:
            return json.loads(path.read_text())
        t0 = time.perf_counter()
        c = compute_curve(p, name, **kw)
        rec = {"labels": c.labels, "scores": c.scores, "seconds_per_query": c.seconds_per_query,
               "wall_seconds": time.perf_counter() - t0, "runs": describe(name)}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(rec))
        tmp.replace(path)
        return rec


# -- figures -----------------------------------------------------------------------------


def _median_labels(values: list[int | None]) -> float | None:
    """Median over seeds; a seed that never reaches the target counts as infinitely many."""
    arr = np.array([np.inf if v is None else v for v in values], dtype=float)
    m = float(np.median(arr))
    return None if np.isinf(m) else m


def summarise_strategy(curves: list[dict[str, Any]], target: float,
                       rnd: dict[str, Any] | None) -> dict[str, Any]:
    labels = curves[0]["labels"]
    mean = np.mean([c["scores"] for c in curves], axis=0)
    out: dict[str, Any] = {
        "labels": labels,
        "scores": [c["scores"] for c in curves],
        "mean": [float(v) for v in mean],
        "labels_to_95": metrics.labels_to_target(labels, list(mean), target),
        "labels_to_95_seeds": [metrics.labels_to_target(labels, c["scores"], target) for c in curves],
        "seconds_per_query": float(np.median([c["seconds_per_query"] for c in curves])),
        "wall_seconds": float(sum(c.get("wall_seconds", 0.0) for c in curves)),
    }
    out["labels_to_95_median_seeds"] = _median_labels(out["labels_to_95_seeds"])
    if rnd is not None:
        sv = metrics.savings(labels, list(mean), rnd["labels"], rnd["mean"], target)
        out["savings_vs_random"] = sv.as_dict()
        gap = (mean - np.asarray(rnd["mean"])) * 100.0
        j = int(np.argmin(gap))
        out["worst_gap_points"] = float(gap[j])
        out["worst_gap_at"] = int(labels[j])
    return out


def _fmt_labels(v: float | int | None, budget: int) -> str:
    return f">{budget}" if v is None else f"{v:g}"


def _fmt_savings(s: dict[str, Any] | None) -> str:
    if not s or s["factor"] is None:
        return "-"
    return f"{'>=' if s['lower_bound'] else ''}{s['factor']:.2f}x"


def table(result: dict[str, Any]) -> str:
    """The per-dataset table as fixed-width text."""
    b = result["budget"]
    head = (f"{result['dataset']}: {result['metric']} target 95% of {result['full_score']:.3f} = "
            f"{result['target']:.3f}  (pool {result['n_pool']}, test {result['n_test']}, "
            f"batch {result['batch_size']}, budget {b}, seeds {result['seeds']}, {result['featuriser']})")
    cols = ["strategy", "l95 med", "l95 mean", "vs random", "worst gap", "final", "s/query"]
    rows = []
    for name, s in result["strategies"].items():
        gap = "-" if name == "random" or "worst_gap_points" not in s else \
            f"{s['worst_gap_points']:+.1f} @{s['worst_gap_at']}"
        rows.append([name, _fmt_labels(s["labels_to_95_median_seeds"], b),
                     _fmt_labels(s["labels_to_95"], b),
                     "-" if name == "random" else _fmt_savings(s.get("savings_vs_random")),
                     gap, f"{s['mean'][-1]:.3f}", f"{s['seconds_per_query']:.3f}"])
    lines = [head, f"{result['default_strategy']} = {result['default_pipeline']}", _grid(cols, rows)]
    lines += [f"  error in {name}: {err}" for name, err in result.get("errors", {}).items()]
    return "\n".join(lines)


def _grid(cols: list[str], rows: list[list[str]]) -> str:
    """Fixed-width text table: first column left-aligned, the rest right-aligned."""
    widths = [max(len(str(r[i])) for r in [cols, *rows]) for i in range(len(cols))]

    def line(r: list[str]) -> str:
        return "  ".join(str(v).ljust(w) if i == 0 else str(v).rjust(w)
                         for i, (v, w) in enumerate(zip(r, widths, strict=True)))

    return "\n".join([line(cols), line(["-" * w for w in widths]), *map(line, rows)])


def _rank_key(s: dict[str, Any]) -> tuple[float, float]:
    l95 = s["labels_to_95"]
    return (np.inf if l95 is None else l95, -float(np.mean(s["mean"])))


def summary(results: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """Default vs best peer per dataset, and median savings over single-label sets."""
    rows: list[list[str]] = []
    body: dict[str, Any] = {"datasets": {}}
    default_savings, peer_savings = [], []
    for ds, r in results.items():
        st = r["strategies"]
        d = st.get(r["default_strategy"])
        if d is None:
            continue
        peer_names = [n for n in st if is_peer(n)]
        best = min(peer_names, key=lambda n: _rank_key(st[n])) if peer_names else None
        sv = d.get("savings_vs_random") or {}
        same = next((st[n] for n in same_head_random() if n in st), None)
        vs_same = None
        if same is not None:
            vs_same = metrics.savings(d["labels"], d["mean"], same["labels"], same["mean"],
                                      r["target"]).as_dict()
        vs_peer = None
        if best is not None:
            vs_peer = metrics.savings(d["labels"], d["mean"], st[best]["labels"], st[best]["mean"],
                                      r["target"]).as_dict()
        body["datasets"][ds] = {"default_l95": d["labels_to_95"], "best_peer": best,
                                "best_peer_l95": st[best]["labels_to_95"] if best else None,
                                "default_vs_random": sv, "default_vs_same_head_random": vs_same,
                                "default_vs_best_peer": vs_peer}
        if not r["multi_label"]:
            if sv.get("factor") is not None:
                default_savings.append(sv["factor"])
            if best is not None and (st[best].get("savings_vs_random") or {}).get("factor") is not None:
                peer_savings.append(st[best]["savings_vs_random"]["factor"])
        b = r["budget"]
        rows.append([ds, _fmt_labels(d["labels_to_95"], b),
                     _fmt_labels(st["random"]["labels_to_95"], b) if "random" in st else "-",
                     best or "-", _fmt_labels(st[best]["labels_to_95"], b) if best else "-",
                     _fmt_savings(sv), _fmt_savings(vs_same), _fmt_savings(vs_peer)])
    body["median_savings_default_single_label"] = float(np.median(default_savings)) if default_savings else None
    body["median_savings_best_peer_single_label"] = float(np.median(peer_savings)) if peer_savings else None
    lines = ["summary: labels to reach 95% (mean curves); 'vs X' = labels X needs / labels the "
             "default needs",
             _grid(["dataset", "default", "random", "best peer", "peer", "vs random",
                    "vs random@head", "vs best peer"], rows)]
    lines.append(
        "median savings vs random over single-label sets: default "
        + (f"{body['median_savings_default_single_label']:.2f}x" if default_savings else "-")
        + f" ({len(default_savings)} sets); best peer per set "
        + (f"{body['median_savings_best_peer_single_label']:.2f}x" if peer_savings else "-")
        + " ('>=' factors count at their lower bound)")
    return "\n".join(lines), body


# -- driver ------------------------------------------------------------------------------


def strategies_for(p: Prepared, peer_filter: list[str] | None, include_slow: bool,
                   extra: list[str], peer_head: str | None = None) -> list[str]:
    """Default, random, ``extra``, then the peers that fit the task kind.

    ``peer_filter``: None = every installed peer not marked slow; otherwise exact
    names (slow ones included) and library prefixes such as ``"skactiveml:"``.
    """
    fits = peers.names(multi_label=p.multi_label, include_slow=True)
    slow = {i.name for i in peers.PEERS if getattr(i.factory, "slow", False)}
    if peer_filter is None:
        chosen = [n for n in fits if include_slow or n not in slow]
    else:
        unknown = [f for f in peer_filter
                   if f not in peers.PEERS and not any(n.startswith(f) for n in peers.PEERS.names())]
        if unknown:
            raise SystemExit(f"unknown peer(s) {unknown}; known: {', '.join(peers.PEERS.names())}")
        chosen = [n for n in fits if n in peer_filter
                  or any(n.startswith(f) and (include_slow or n not in slow) for f in peer_filter)]
    if peer_head:
        chosen = ["random@" + peer_head] + [f"{n}@{peer_head}" for n in chosen]
    return list(dict.fromkeys([DEFAULT_STRATEGY, "random", *same_head_random(), *extra, *chosen]))


def same_head_random() -> list[str]:
    """``random@<default head>`` when the default pipeline's head is not the plain one.

    It separates what the default gains from its head from what it gains from its queries.
    """
    head = pipeline_for(DEFAULT_STRATEGY).head
    return [] if head == Pipeline("random").head else [f"random@{head}"]


def run_dataset(spec: DatasetSpec, *, seeds: int, first_seed: int = 0,
                peer_filter: list[str] | None, include_slow: bool,
                extra: list[str], store: CurveStore, cache: Path, peer_head: str | None = None,
                on_result: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    p = prepare(spec, cache)
    fs = full_score(p.X_pool, p.y_pool, p.X_test, p.y_test, n_classes=p.n_classes,
                    multi_label=p.multi_label)
    target = 0.95 * fs
    kw = dict(budget=spec.budget, batch_size=spec.batch_size, initial=spec.initial)
    names = strategies_for(p, peer_filter, include_slow, extra, peer_head)
    raw: dict[str, list[dict[str, Any]]] = {}
    errors: dict[str, str] = {}
    for name in names:
        curves = []
        for seed in range(first_seed, first_seed + seeds):
            t0 = time.perf_counter()
            try:
                curves.append(store.get_or_run(p, name, seed=seed, **kw))
            except Exception as exc:  # one failing peer must not stop a long run
                log.warning("%s / %s / seed %d failed: %r", spec.name, name, seed, exc)
                errors[name] = f"{type(exc).__name__}: {exc}"
                break
            log.info("%s / %s / seed %d: %.1fs", spec.name, name, seed, time.perf_counter() - t0)
        if len(curves) == seeds:
            raw[name] = curves
    rnd = summarise_strategy(raw["random"], target, None) if "random" in raw else None
    strategies = {n: (rnd if n == "random" else summarise_strategy(c, target, rnd))
                  for n, c in raw.items()}
    result = {"dataset": spec.name, "multi_label": p.multi_label, "modality": p.modality,
              "featuriser": p.featuriser, "fingerprint": p.fingerprint, "n_pool": len(p.X_pool),
              "n_test": len(p.X_test), "n_classes": p.n_classes,
              "metric": "micro_f1" if p.multi_label else "accuracy", "full_score": fs,
              "target": target, "seeds": seeds, "first_seed": first_seed,
              "default_strategy": DEFAULT_STRATEGY,
              "default_pipeline": describe(DEFAULT_STRATEGY),
              **kw, "strategies": strategies, "errors": errors}
    if on_result:
        on_result(result)
    return result


def _csv(v: str | None) -> list[str] | None:
    return [s.strip() for s in v.split(",") if s.strip()] if v else None


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description="Label efficiency of Labella's default vs random and peers.")
    ap.add_argument("--datasets", help=f"comma-separated names ({', '.join(DATASETS)}) or paths "
                                       "(a path gets --budget / --batch-size); default: all")
    ap.add_argument("--peers", help="comma-separated peer names or library prefixes "
                                    "('smalltext:', 'skactiveml:'); 'none' for no peers; default: "
                                    "all that are installed and not marked slow")
    ap.add_argument("--slow-peers", action="store_true", help="include peers marked slow")
    ap.add_argument("--extra", help="more Labella strategies/pipelines to run, each optionally "
                                    "'@head' and '+cold_start' (e.g. margin,badge@balanced_logistic_regression,"
                                    "labella+typiclust)")
    ap.add_argument("--peer-head", help="run the peers (and a random row) with this Labella head "
                                        "instead of plain LR, e.g. balanced_logistic_regression")
    ap.add_argument("--fresh", action="store_true", help="recompute curves even if stored")
    ap.add_argument("--seeds", type=int, help="seeds per strategy (default 3; 1 with --quick)")
    ap.add_argument("--first-seed", type=int, default=0,
                    help="seeds are first-seed, first-seed + 1, ... (default 0): fresh seeds "
                         "check a choice made on seeds 0..n-1")
    ap.add_argument("--budget", type=int, help="override every dataset's budget")
    ap.add_argument("--batch-size", type=int, help="override every dataset's batch size")
    ap.add_argument("--initial", type=int, help="override every dataset's first-batch size")
    ap.add_argument("--quick", action="store_true",
                    help=f"smoke run: budget {QUICK_BUDGET}, 1 seed (unless --budget/--seeds given)")
    ap.add_argument("--results-dir", type=Path,
                    help="per-curve cache (default: $LABELLA_CACHE_DIR/benchmarks/label_efficiency)")
    ap.add_argument("--cache-dir", type=Path, help="cache root (default $LABELLA_CACHE_DIR or ~/.cache/labella)")
    ap.add_argument("--out", type=Path, help="write all results as JSON here")
    ap.add_argument("--threads", type=int, help="limit BLAS/OpenMP threads (threadpoolctl)")
    ap.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO if a.verbose else logging.WARNING,
                        format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    cache = a.cache_dir or cache_root()
    store = CurveStore(a.results_dir or cache / "benchmarks" / "label_efficiency", fresh=a.fresh)
    seeds = a.seeds or (1 if a.quick else 3)
    peer_filter = _csv(a.peers)
    if peer_filter == ["none"]:
        peer_filter = []
    specs = []
    for item in _csv(a.datasets) or list(DATASETS):
        spec = DATASETS.get(item) or DatasetSpec(Path(item).stem, Path(item), 500, 10)
        if a.quick:
            spec = replace(spec, budget=min(spec.budget, QUICK_BUDGET))
        spec = replace(spec, budget=a.budget or spec.budget, batch_size=a.batch_size or spec.batch_size,
                       initial=a.initial or spec.initial)
        specs.append(spec)

    from threadpoolctl import threadpool_limits

    results: dict[str, dict[str, Any]] = {}
    with threadpool_limits(limits=a.threads):
        for spec in specs:
            r = run_dataset(spec, seeds=seeds, first_seed=a.first_seed, peer_filter=peer_filter,
                            include_slow=a.slow_peers,
                            extra=_csv(a.extra) or [], store=store, cache=cache,
                            peer_head=a.peer_head)
            results[spec.name] = r
            print(table(r) + "\n", flush=True)
    text, body = summary(results)
    print(text, flush=True)
    out = {"datasets": results, "summary": body,
           "peer_versions": {lib: v for lib, v in peers.VERSIONS.items() if peers.available(lib)}}
    if a.out:
        a.out.write_text(json.dumps(out, indent=1))
        print(f"wrote {a.out}")
    return out


if __name__ == "__main__":
    main()
