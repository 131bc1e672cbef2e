"""Latency of the labelling loop over HTTP at 100 000 items: annotate, next, and the two together.

Starts ``labella serve`` on a temporary data directory (or uses a running server
with ``--url`` / ``--token``), creates a text project of ``--items`` items whose
embeddings are already in the server's embedding cache (so the import's
featurise job finds every vector and the loop starts at once), then times many
annotate -> next round trips through the Python SDK, client-side, with
``time.perf_counter()``:

* ``annotate``: ``POST .../annotations`` of the item on screen, until its ack;
* ``next``: ``GET .../next?n=1`` right after, until the next item is there;
* ``annotate -> next``: both, i.e. what a labeller waits for between two items.

Each of ``--runs`` runs times ``--rounds`` rounds after ``--warmup`` rounds; the
table gives the median over runs of each statistic. It then samples how long the
server's online refit takes: the time from an annotation's ack until a newer
``model_version`` shows in ``metrics()`` (polled every 10 ms).

The vectors: by default (MiniLM installed) real all-MiniLM-L6-v2 embeddings of
``--base`` distinct review sentences, each reused for ``items / base`` items with
a small random perturbation (cosine ~0.96 to the original, renormalised); with
``--vectors synthetic``, 384-d unit vectors drawn around 20 cluster centres. Either
way the point is the loop's latency, not the model's accuracy. Without MiniLM the
project uses the torch-free ``hashing`` featuriser and the server computes its
(real) vectors itself during the import.

    python benchmarks/loop_latency.py                      # 100 000 items, SQLite
    python benchmarks/loop_latency.py --database-url postgresql://user@host/db
    python benchmarks/loop_latency.py --items 20000 --rounds 100 --runs 1
    python benchmarks/loop_latency.py --url http://127.0.0.1:8000 --token lbl_... \\
        --cache-dir /srv/labella/embeddings

The script reports; it asserts nothing. The target is p95 <= 30 ms for
annotate -> next at 100 000 items.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labella.client import Client, Item, Project

LABELLA = [sys.executable, "-c", "from labella.cli import main; main()"]
TARGET_P95_MS = 30.0
DIM = 384

SUBJECTS = ["the battery", "the screen", "this camera", "the keyboard", "the charger",
            "the speaker", "the software update", "the case", "the headphones", "this laptop",
            "the delivery", "customer service", "the manual", "the remote", "the strap",
            "the hinge", "the fan", "the touchpad", "the microphone", "the webcam"]
POSITIVE = ["is fantastic", "works perfectly", "exceeded my expectations", "is excellent value",
            "is a joy to use", "feels really solid", "is brilliant", "made me very happy",
            "is quiet and reliable", "does exactly what it promises"]
NEGATIVE = ["is terrible", "stopped working after a week", "is a waste of money",
            "broke on the first day", "is painfully slow", "feels cheap and flimsy", "is awful",
            "made me regret buying it", "is noisy and unreliable", "never did what it promised"]
TAILS = ["", " and I would say so again", " honestly", " after two months of use",
         " for the price", " in my experience", " compared to my old one", " every single day",
         " according to my whole family", " so far"]


# -- data ------------------------------------------------------------------------------


def base_sentences(n: int, *, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` distinct review sentences with their sentiment (``neg`` / ``pos``)."""
    combos = [(f"{s} {o}{t}.", lab) for s in SUBJECTS
              for lab, ops in (("pos", POSITIVE), ("neg", NEGATIVE)) for o in ops for t in TAILS]
    if n > len(combos):
        raise SystemExit(f"--base can be at most {len(combos)}")
    random.Random(seed).shuffle(combos)
    return [(text[0].upper() + text[1:], lab) for text, lab in combos[:n]]


def item_texts(base: Sequence[tuple[str, str]], n: int) -> list[tuple[str, str, int]]:
    """``n`` distinct item texts: (text, label, index of its base sentence)."""
    return [(f"{base[i % len(base)][0]} (review {i:06d})", base[i % len(base)][1], i % len(base))
            for i in range(n)]


def real_base_vectors(texts: list[str]) -> tuple[np.ndarray, str]:
    """MiniLM embeddings of the base sentences (through the user's embedding cache)."""
    from labella.features.base import default_cache_root
    from labella.features.cache import EmbeddingCache
    from labella.features.registry import get_featuriser

    feat = get_featuriser("minilm")
    vecs = EmbeddingCache(default_cache_root() / "embeddings").get_or_compute(feat, texts)
    return np.asarray(vecs, dtype=np.float32), feat.key


def perturbed(base_vecs: np.ndarray, which: np.ndarray, *, scale: float, seed: int) -> np.ndarray:
    """Rows ``base_vecs[which]`` plus Gaussian noise of norm ~``scale``, renormalised.

    Shapes: base_vecs (b, d), which (n,) -> (n, d) float32 unit rows.
    """
    rng = np.random.default_rng(seed)
    d = base_vecs.shape[1]
    x = base_vecs[which] + rng.normal(0.0, scale / np.sqrt(d), (len(which), d)).astype(np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def synthetic_vectors(labels: Sequence[str], *, seed: int) -> np.ndarray:
    """Unit vectors (n, 384) around 20 cluster centres; the ``pos`` items use the first 10."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(20, DIM)).astype(np.float32)
    which = np.array([rng.integers(0, 10) + (0 if lab == "pos" else 10) for lab in labels])
    return perturbed(centres / np.linalg.norm(centres, axis=1, keepdims=True), which,
                     scale=1.2, seed=seed + 1)


@dataclass
class _Precomputed:
    """A stand-in featuriser that hands out vectors computed beforehand, under the key of the
    real one: the embedding cache stores them exactly as the real featuriser's output."""

    key: str
    dim: int
    table: dict[str, np.ndarray]
    modality: str = "text"

    def embed(self, items: Sequence[str], **_: Any) -> np.ndarray:
        return np.stack([self.table[t] for t in items])


def fill_cache(cache_dir: Path, key: str, texts: list[str], vecs: np.ndarray) -> float:
    """Write ``vecs`` (n, d) for ``texts`` into the embedding cache at ``cache_dir``; seconds."""
    from labella.features.cache import EmbeddingCache

    t0 = time.perf_counter()
    fake = _Precomputed(key, vecs.shape[1], dict(zip(texts, vecs, strict=True)))
    EmbeddingCache(cache_dir).get_or_compute(fake, texts, batch_size=20_000)  # type: ignore[arg-type]
    return time.perf_counter() - t0


def write_csv(path: Path, rows: list[tuple[str, str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label", "split"])
        w.writerows(rows)


# -- the server ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen[bytes] | None, timeout: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"labella serve exited with status {proc.returncode}")
        try:
            if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"no server answered at {url} within {timeout:.0f} s")


@contextmanager
def local_server(data_dir: Path, database_url: str | None, env: dict[str, str]
                 ) -> Iterator[tuple[str, str]]:
    """``labella serve`` on ``data_dir``: yields (url, admin token)."""
    db = ["--database-url", database_url] if database_url else []
    out = subprocess.run([*LABELLA, "token", "create", "--data-dir", str(data_dir), *db],
                         env=env, check=True, capture_output=True, text=True)
    token = out.stdout.strip().splitlines()[-1]
    port = free_port()
    log = (data_dir / "serve.log").open("wb")
    proc = subprocess.Popen([*LABELLA, "serve", "--data-dir", str(data_dir), "--port", str(port),
                             *db], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        yield url, token
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


# -- measuring -------------------------------------------------------------------------


def stats_ms(seconds: Sequence[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000.0
    return {"p50": float(np.percentile(ms, 50)), "p95": float(np.percentile(ms, 95)),
            "p99": float(np.percentile(ms, 99)), "mean": float(ms.mean()), "max": float(ms.max())}


def rounds(p: Project, truth: dict[str, str], current: Item, n: int
           ) -> tuple[dict[str, list[float]], Item]:
    """``n`` annotate -> next rounds starting from ``current``; the times and the last item."""
    out: dict[str, list[float]] = {"annotate": [], "next": [], "annotate -> next": []}
    for _ in range(n):
        t0 = time.perf_counter()
        p.annotate(current.id, label=truth[current.text or ""])
        t1 = time.perf_counter()
        items = p.next(n=1)
        t2 = time.perf_counter()
        if not items:
            raise SystemExit("the pool ran out of unlabelled items; use more --items")
        out["annotate"].append(t1 - t0)
        out["next"].append(t2 - t1)
        out["annotate -> next"].append(t2 - t0)
        current = items[0]
    return out, current


def settle(p: Project, *, quiet: float = 1.0, timeout: float = 60.0) -> int:
    """Wait until the model version has not changed for ``quiet`` seconds; returns it."""
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        v = int(p.metrics()["model_version"])
        if v != last:
            last, since = v, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return v
        time.sleep(0.05)
    return last


def refit_seconds(p: Project, truth: dict[str, str], samples: int) -> list[float]:
    """Time from an annotation's ack to a newer model version in ``metrics()``."""
    out = []
    for _ in range(samples):
        v0 = settle(p)
        it = p.next(n=1)[0]
        p.annotate(it.id, label=truth[it.text or ""])
        t0 = time.perf_counter()
        while int(p.metrics()["model_version"]) <= v0:
            if time.perf_counter() - t0 > 60:
                raise SystemExit("the model version did not change within 60 s of a label")
            time.sleep(0.01)
        out.append(time.perf_counter() - t0)
    return out


# -- main ------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=100_000, help="items in the project (100000)")
    ap.add_argument("--test-items", type=int, default=1_000,
                    help="of which labelled split=test evaluation items (1000)")
    ap.add_argument("--initial-labels", type=int, default=100,
                    help="pool items imported with their label, so a model exists at once (100)")
    ap.add_argument("--rounds", type=int, default=300, help="timed rounds per run (300)")
    ap.add_argument("--runs", type=int, default=3, help="runs; figures are medians over runs (3)")
    ap.add_argument("--warmup", type=int, default=30, help="untimed rounds first (30)")
    ap.add_argument("--refit-samples", type=int, default=5, help="refit timings to take (5)")
    ap.add_argument("--featuriser", choices=["minilm", "hashing"], default=None,
                    help="project featuriser (default: minilm when installed, else hashing)")
    ap.add_argument("--vectors", choices=["real", "synthetic"], default="real",
                    help="minilm only: perturbed real MiniLM vectors of --base sentences, or "
                         "synthetic clustered unit vectors (real)")
    ap.add_argument("--base", type=int, default=2000,
                    help="distinct sentences embedded for real vectors (2000)")
    ap.add_argument("--database-url", default=None,
                    help="the started server's database (default: SQLite in the data dir)")
    ap.add_argument("--data-dir", type=Path, default=None,
                    help="data directory of the started server (default: a temporary one, "
                         "deleted afterwards)")
    ap.add_argument("--url", default=None, help="use this running server instead")
    ap.add_argument("--token", default=None, help="API token for --url (default $LABELLA_TOKEN)")
    ap.add_argument("--cache-dir", type=Path, default=None,
                    help="with --url: the server's embedding cache folder, to pre-fill it")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="also write the figures as JSON")
    return ap.parse_args(argv)


def choose_featuriser(name: str | None) -> str:
    from labella.features.registry import REGISTRY

    if name:
        return name
    check = REGISTRY.info("minilm").available
    return "minilm" if check is None or check()[0] else "hashing"


def prepare(args: argparse.Namespace, featuriser: str, cache_dir: Path | None, work: Path
            ) -> tuple[Path, dict[str, str], str, float | None]:
    """Write the CSV and, for MiniLM, pre-fill the cache: (csv, text -> label, how, seconds)."""
    n_pool = args.items - args.test_items
    base = base_sentences(args.base, seed=args.seed)
    items = item_texts(base, args.items)
    truth = {t: lab for t, lab, _ in items}
    rows = []
    for i, (t, lab, _b) in enumerate(items):
        test = i >= n_pool
        rows.append((t, lab if test or i < args.initial_labels else "", "test" if test else "train"))
    path = work / "items.csv"
    write_csv(path, rows)
    if featuriser != "minilm":
        return path, truth, "real hashing vectors, computed by the server's featurise job", None
    texts = [t for t, _, _ in items]
    if args.vectors == "synthetic":
        vecs = synthetic_vectors([lab for _, lab, _ in items], seed=args.seed)
        how = "SYNTHETIC 384-d unit vectors (20 clusters), not model outputs"
        from labella.features.registry import get_featuriser

        key = get_featuriser("minilm").key
    else:
        t0 = time.perf_counter()
        base_vecs, key = real_base_vectors([t for t, _ in base])
        print(f"embedded {len(base)} base sentences with MiniLM in "
              f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)
        vecs = perturbed(base_vecs, np.array([b for _, _, b in items]), scale=0.3,
                         seed=args.seed)
        how = (f"real MiniLM vectors of {len(base)} distinct sentences, each reused for "
               f"~{args.items // len(base)} items with a small perturbation")
    if cache_dir is None:
        return path, truth, how + " (NOT pre-cached: the server embeds every item)", None
    return path, truth, how, fill_cache(cache_dir, key, texts, vecs)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    featuriser = choose_featuriser(args.featuriser)
    own = args.url is None
    tmp = Path(tempfile.mkdtemp(prefix="labella-bench-"))
    data_dir = args.data_dir or tmp / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cache_dir = args.cache_dir
    if own:
        # a private embedding cache (the vectors below are for this run only); the exported
        # model files stay shared through a link
        from labella.features.base import model_cache_dir

        root = data_dir / "cache"
        root.mkdir(exist_ok=True)
        models = model_cache_dir(None)
        if models.is_dir() and not (root / "models").exists():
            (root / "models").symlink_to(models, target_is_directory=True)
        env["LABELLA_CACHE_DIR"] = str(root)
        cache_dir = root / "embeddings"
    try:
        csv_path, truth, how, fill_s = prepare(args, featuriser, cache_dir, tmp)
        if own:
            with local_server(data_dir, args.database_url, env) as (url, token):
                return measure(args, url, token, featuriser, csv_path, truth, how, fill_s)
        token = args.token or os.environ.get("LABELLA_TOKEN")
        if not token:
            raise SystemExit("--url needs --token (or $LABELLA_TOKEN)")
        wait_healthy(args.url, None, timeout=10)
        return measure(args, args.url, token, featuriser, csv_path, truth, how, fill_s)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def measure(args: argparse.Namespace, url: str, token: str, featuriser: str, csv_path: Path,
            truth: dict[str, str], how: str, fill_s: float | None) -> dict[str, Any]:
    c = Client(url, token=token, timeout=600)
    name = f"loop-latency-{int(time.time())}"
    p = c.create_project(name=name, task="text", labels=["neg", "pos"], featuriser=featuriser)
    t0 = time.perf_counter()
    job = p.import_file(csv_path).wait(7200)
    import_s = time.perf_counter() - t0
    feat = [j for j in p.jobs() if j.data["kind"] == "featurise"]
    feat_result = feat[0].result if feat else None
    t0 = time.perf_counter()
    current = p.next(n=1)[0]  # loads the project's loop state (and fits the first model)
    load_s = time.perf_counter() - t0
    start = p.metrics()
    labels_start = int(start["n_labeled"])
    _, current = rounds(p, truth, current, args.warmup)
    runs = []
    for _ in range(args.runs):
        times, current = rounds(p, truth, current, args.rounds)
        runs.append({k: stats_ms(v) for k, v in times.items()})
    refits = refit_seconds(p, truth, args.refit_samples) if args.refit_samples else []
    end = p.metrics()
    me = c.request("GET", "/api/health")
    c.close()

    table = {op: {s: statistics.median(r[op][s] for r in runs) for s in runs[0][op]}
             for op in runs[0]}
    backend = "PostgreSQL" if (args.database_url or "").startswith("postgres") else (
        "SQLite (WAL)" if args.url is None else "as configured on the server")
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    env_info = {
        "cpus": os.cpu_count(), "cpus_usable": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity") else None,
        "load_average": load, "python": platform.python_version(), "platform": platform.platform(),
        "server_version": me.get("version"), "server": "labella serve (started here)"
        if args.url is None else url, "backend": backend,
    }
    result = {
        "environment": env_info, "items": args.items, "evaluation_items": args.test_items,
        "featuriser": featuriser, "featuriser_key": (feat_result or {}).get("featuriser"),
        "vectors": how, "cache_fill_seconds": fill_s, "import_seconds": import_s,
        "import_result": {k: v for k, v in (job.result or {}).items() if k != "errors"},
        "featurise_result": {k: (feat_result or {}).get(k) for k in ("embedded", "already_cached")},
        "first_next_seconds": load_s, "labels_start": labels_start,
        "labels_end": int(end["n_labeled"]), "model_version_end": int(end["model_version"]),
        "rounds": args.rounds, "runs": args.runs, "warmup": args.warmup,
        "latency_ms": table, "per_run_ms": runs,
        "refit_seconds": refits,
    }
    report(result)
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))
    return result


def report(r: dict[str, Any]) -> None:
    e = r["environment"]
    print(f"environment: {e['cpus']} CPUs ({e['cpus_usable']} usable), load average "
          f"{'/'.join(f'{x:.1f}' for x in e['load_average']) if e['load_average'] else '?'}, "
          f"Python {e['python']}, {e['platform']}")
    print(f"server: {e['server']}, labella {e['server_version']}, database {e['backend']}")
    print(f"project: {r['items']:,} text items ({r['evaluation_items']:,} of them evaluation "
          f"items), featuriser {r['featuriser']} ({r['featuriser_key']})")
    print(f"vectors: {r['vectors']}")
    fill = f"cache filled in {r['cache_fill_seconds']:.1f} s; " if r["cache_fill_seconds"] else ""
    fr = r["featurise_result"]
    print(f"setup: {fill}import + featurise {r['import_seconds']:.1f} s (embedded "
          f"{fr['embedded']}, already cached {fr['already_cached']}); first next "
          f"{r['first_next_seconds'] * 1000:.0f} ms (loads the loop state)")
    print(f"labels: {r['labels_start']} at start, {r['labels_end']} at end; model version "
          f"{r['model_version_end']} at end")
    print()
    print(f"latency in ms, client-side over HTTP: median of {r['runs']} run(s) x {r['rounds']} "
          f"rounds, after {r['warmup']} warm-up rounds")
    cols = ["p50", "p95", "p99", "mean", "max"]
    print(f"{'':18}" + "".join(f"{c:>9}" for c in cols))
    for op, s in r["latency_ms"].items():
        print(f"{op:18}" + "".join(f"{s[c]:9.1f}" for c in cols))
    if r["runs"] > 1:
        per = ", ".join(f"{run['annotate -> next']['p95']:.1f}" for run in r["per_run_ms"])
        print(f"annotate -> next p95 per run: {per}")
    p95 = r["latency_ms"]["annotate -> next"]["p95"]
    verdict = "met" if p95 <= TARGET_P95_MS else "NOT met"
    print(f"target p95 <= {TARGET_P95_MS:.0f} ms for annotate -> next at 100 000 items: "
          f"{p95:.1f} ms, {verdict}" + ("" if r["items"] == 100_000 else
                                       f" (this run: {r['items']:,} items)"))
    if r["refit_seconds"]:
        ms = sorted(x * 1000 for x in r["refit_seconds"])
        print(f"online refit (ack -> newer model_version in metrics, polled every 10 ms), "
              f"{len(ms)} samples: median {statistics.median(ms):.0f} ms, min {ms[0]:.0f}, "
              f"max {ms[-1]:.0f}")


if __name__ == "__main__":
    main()
