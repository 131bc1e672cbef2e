"""Reliability under load: many annotators while an admin changes settings and imports.

Starts ``labella serve`` on a temporary data directory (SQLite, or PostgreSQL with
``--database-url``), creates a text project of ``--items`` review sentences (the
torch-free ``hashing`` featuriser, so the server computes real vectors in seconds),
then for ``--seconds``:

* ``--annotators`` clients (threads), each: ``next?n=5``, then annotates those items one
  by one with a fresh request id, as the labelling page does;
* an admin changes the project's settings every ``--settings-every`` seconds
  (alternating batch size, exploration and strategy), timing each ``PATCH``;
* an admin imports a file of ``--import-rows`` new sentences every ``--import-every``
  seconds (the import's featurisation reloads the loop while annotators work).

Then it checks, against the database itself:

* items labelled twice (two ``label`` annotations on one item; nobody relabels here);
* acknowledged labels missing from the database;
* responses >= 500 (and connection errors);
* ``n_labeled`` as the metrics, the project and the database count it, once the loop
  has settled; and whether ``next?n=100`` still hands out a labelled item;
* the slowest settings request.

    python benchmarks/load_reliability.py                        # SQLite, 120 s
    python benchmarks/load_reliability.py --database-url postgresql://user@host/db

It prints a table and returns (as :func:`run`) the figures; ``tests/api/test_load.py``
runs a shorter version through :func:`drive` and :func:`check` and asserts on them.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

POS = ["great", "excellent", "love it", "works perfectly", "really happy with", "superb"]
NEG = ["terrible", "broke after a week", "waste of money", "awful", "very disappointed in",
       "useless"]
THINGS = ["the battery", "this camera", "the screen", "the keyboard", "this player", "the case",
          "the charger", "the software", "the speaker", "this phone"]
SETTINGS_CYCLE: list[dict[str, Any]] = [
    {"settings": {"batch_size": 20, "exploration": 0.1}},
    {"strategy": "margin", "settings": {"batch_size": 10, "exploration": 0.0}},
    {"settings": {"batch_size": 15}},
    {"strategy": "labella", "settings": {"batch_size": 10}},
]


def sentences(n: int, *, seed: int) -> list[tuple[str, str]]:
    """``n`` distinct review sentences with their sentiment."""
    rng = random.Random(seed)
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    while len(out) < n:
        label = rng.choice(["pos", "neg"])
        text = (f"{rng.choice(THINGS)} is {rng.choice(POS if label == 'pos' else NEG)}, "
                f"{rng.choice(THINGS)} {rng.randint(1, 10**9)}")
        if text not in seen:
            seen.add(text)
            out.append((text, label))
    return out


def csv_bytes(rows: list[tuple[str, str]]) -> bytes:
    import csv

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["text"])
    w.writerows([t] for t, _ in rows)
    return buf.getvalue().encode()


@dataclass
class Report:
    """What the clients saw."""

    acked: dict[int, list[int]] = field(default_factory=dict)
    """annotation id -> [item id, annotator index]"""
    statuses: Counter[int] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    """Replies >= 500, as method, path, status and the start of the body."""
    failures: list[str] = field(default_factory=list)
    """Requests that got no reply (connection errors, timeouts)."""
    settings_seconds: list[float] = field(default_factory=list)
    label_seconds: list[float] = field(default_factory=list)
    """Each annotator ``POST .../annotations``, timed as the settings requests are."""
    next_seconds: list[float] = field(default_factory=list)
    imports: int = 0
    seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def status(self, r: httpx.Response) -> None:
        with self.lock:
            self.statuses[r.status_code] += 1
            if r.status_code >= 500:
                self.errors.append(f"{r.request.method} {r.request.url.path}: "
                                   f"{r.status_code} {r.text[:200]}")


def _quantile(values: list[float], q: float) -> float | None:
    """The ``q`` quantile (nearest rank below), rounded to milliseconds; None if empty."""
    if not values:
        return None
    return round(sorted(values)[int(q * (len(values) - 1))], 3)


def setup(url: str, admin_token: str, *, annotators: int, items: int, seed: int = 0
          ) -> tuple[int, dict[str, str], list[str]]:
    """A project of ``items`` sentences and ``annotators`` members with tokens:
    (project id, text -> label, annotator tokens)."""
    tag = uuid.uuid4().hex[:6]
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin_token}"},
                      timeout=120) as c:
        p = c.post("/api/projects", json={
            "name": f"load-{tag}", "task": "text", "labels": ["neg", "pos"],
            "featuriser": "hashing"}).raise_for_status().json()
        pool = sentences(items, seed=seed)
        job = c.post(f"/api/projects/{p['id']}/imports",
                     files={"file": ("pool.csv", csv_bytes(pool), "text/csv")}
                     ).raise_for_status().json()
        wait_jobs(c, p["id"], job["id"])
        tokens = []
        for i in range(annotators):
            name, pw = f"ann-{tag}-{i}", f"pw-{uuid.uuid4().hex}"
            c.post("/api/users", json={"username": name, "password": pw}).raise_for_status()
            c.put(f"/api/projects/{p['id']}/members",
                  json={"username": name, "role": "annotator"}).raise_for_status()
            tokens.append(c.post("/api/auth/token", json={"username": name, "password": pw}
                                 ).raise_for_status().json()["token"])
    return int(p["id"]), dict(pool), tokens


def wait_jobs(c: httpx.Client, project_id: int, job_id: int | None = None,
              timeout: float = 300) -> None:
    """Until every job of the project has ended (an import enqueues its featurisation)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = c.get(f"/api/projects/{project_id}/jobs").raise_for_status().json()
        if jobs and all(j["status"] in ("succeeded", "failed", "cancelled") for j in jobs) and (
                job_id is None or any(j["id"] == job_id for j in jobs)):
            time.sleep(0.2)
            again = c.get(f"/api/projects/{project_id}/jobs").json()
            if len(again) == len(jobs) and all(
                    j["status"] in ("succeeded", "failed", "cancelled") for j in again):
                return
        time.sleep(0.2)
    raise TimeoutError(f"jobs of project {project_id} did not end in {timeout} s")


def drive(url: str, admin_token: str, tokens: list[str], project_id: int,
          truth: dict[str, str], *, seconds: float, settings_every: float = 0.5,
          import_every: float = 10.0, import_rows: int = 50, seed: int = 0) -> Report:
    """Run the annotators, the settings changer and the importer for ``seconds``."""
    rep = Report()
    stop = threading.Event()
    base = f"/api/projects/{project_id}"

    def annotator(i: int) -> None:
        rng = random.Random(seed * 1000 + i)
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {tokens[i]}"},
                          timeout=60) as c:
            while not stop.is_set():
                try:
                    t0 = time.perf_counter()
                    r = c.get(f"{base}/next", params={"n": 5})
                    dt = time.perf_counter() - t0
                    rep.status(r)
                    with rep.lock:
                        rep.next_seconds.append(dt)
                    if r.status_code != 200:
                        time.sleep(0.2)
                        continue
                    for it in r.json():
                        if stop.is_set():
                            return
                        label = truth.get(it["text"]) or rng.choice(["neg", "pos"])
                        t0 = time.perf_counter()
                        a = c.post(f"{base}/annotations", json={
                            "item_id": it["id"], "label": label,
                            "request_id": uuid.uuid4().hex})
                        dt = time.perf_counter() - t0
                        rep.status(a)
                        with rep.lock:
                            rep.label_seconds.append(dt)
                        if a.status_code == 200:
                            with rep.lock:
                                rep.acked[a.json()["annotation_id"]] = [it["id"], i]
                except httpx.HTTPError as exc:
                    with rep.lock:
                        rep.failures.append(f"annotator {i}: {type(exc).__name__}: {exc}")

    def admin() -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin_token}"},
                          timeout=120) as c:
            k = 0
            next_import = time.monotonic() + import_every
            while not stop.wait(settings_every):
                try:
                    t0 = time.perf_counter()
                    r = c.patch(base, json=SETTINGS_CYCLE[k % len(SETTINGS_CYCLE)])
                    dt = time.perf_counter() - t0
                    rep.status(r)
                    with rep.lock:
                        rep.settings_seconds.append(dt)
                    k += 1
                    if time.monotonic() >= next_import:
                        rows = sentences(import_rows, seed=seed * 7919 + 1000 + k)
                        truth.update(rows)
                        r = c.post(f"{base}/imports", files={
                            "file": (f"more-{k}.csv", csv_bytes(rows), "text/csv")})
                        rep.status(r)
                        rep.imports += 1
                        next_import = time.monotonic() + import_every
                except httpx.HTTPError as exc:
                    with rep.lock:
                        rep.failures.append(f"admin: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=annotator, args=(i,), daemon=True)
               for i in range(len(tokens))]
    threads.append(threading.Thread(target=admin, daemon=True))
    t0 = time.monotonic()
    for t in threads:
        t.start()
    stop.wait(seconds)
    stop.set()
    for t in threads:
        t.join(120)
    rep.seconds = time.monotonic() - t0
    return rep


def check(url: str, admin_token: str, database_url: str, project_id: int, rep: Report,
          *, settle_timeout: float = 180) -> dict[str, Any]:
    """Compare what the clients were told with the database and the server's counts."""
    from sqlalchemy import create_engine, func, select
    from sqlalchemy.pool import NullPool

    from labella.store.annotations import Annotation

    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin_token}"},
                      timeout=120) as c:
        wait_jobs(c, project_id, timeout=settle_timeout)
        deadline = time.monotonic() + settle_timeout
        while True:  # the loop settles: no refit pending after the last import's reload
            m = c.get(f"/api/projects/{project_id}/metrics").raise_for_status().json()
            if not m.get("refit_pending") or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        time.sleep(1.0)
        m = c.get(f"/api/projects/{project_id}/metrics").raise_for_status().json()
        proj = c.get(f"/api/projects/{project_id}").raise_for_status().json()
        served = c.get(f"/api/projects/{project_id}/next", params={"n": 100}
                       ).raise_for_status().json()
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(Annotation.id, Annotation.item_id).where(
                Annotation.project_id == project_id, Annotation.action == "label")).all()
            per_item = Counter(item for _, item in rows)
            in_db = {aid for aid, _ in rows}
            n_db = conn.scalar(select(func.count(func.distinct(Annotation.item_id))).where(
                Annotation.project_id == project_id, Annotation.action == "label"))
    finally:
        engine.dispose()
    labelled = set(per_item)
    return {
        "seconds": round(rep.seconds, 1),
        "acked_labels": len(rep.acked),
        "labels_per_second": round(len(rep.acked) / max(rep.seconds, 1e-9), 1),
        "items_labelled_twice": sum(1 for v in per_item.values() if v > 1),
        "acked_missing": len(set(rep.acked) - in_db),
        "responses_5xx": sum(v for k, v in rep.statuses.items() if k >= 500),
        "requests_without_reply": len(rep.failures),
        "statuses": dict(sorted(rep.statuses.items())),
        "n_labeled_metrics": m["n_labeled"],
        "n_labeled_project": proj["n_labeled"],
        "n_labeled_database": n_db,
        "next_serves_labelled": len({it["id"] for it in served} & labelled),
        "settings_requests": len(rep.settings_seconds),
        "settings_max_s": round(max(rep.settings_seconds, default=0.0), 3),
        "settings_p95_s": _quantile(rep.settings_seconds, 0.95),
        "settings_over_1s": sum(1 for t in rep.settings_seconds if t > 1.0),
        "settings_median_s": _quantile(rep.settings_seconds, 0.5),
        # the same figures for the annotators' own requests: a tail the settings share
        # with them is the server's load, not a settings request waiting for a model
        "label_median_s": _quantile(rep.label_seconds, 0.5),
        "label_p95_s": _quantile(rep.label_seconds, 0.95),
        "label_max_s": round(max(rep.label_seconds, default=0.0), 3),
        "label_over_1s_share": round(sum(1 for t in rep.label_seconds if t > 1.0)
                                     / max(len(rep.label_seconds), 1), 4),
        "next_median_s": _quantile(rep.next_seconds, 0.5),
        "next_p95_s": _quantile(rep.next_seconds, 0.95),
        "next_max_s": round(max(rep.next_seconds, default=0.0), 3),
        "imports": rep.imports,
        "first_errors": (rep.errors + rep.failures)[:5],
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    from benchmarks.loop_latency import local_server

    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with tempfile.TemporaryDirectory(prefix="labella-load-") as tmp:
        data = Path(tmp)
        db = args.database_url or f"sqlite:///{data / 'labella.db'}"
        with local_server(data, args.database_url, env) as (url, token):
            pid, truth, tokens = setup(url, token, annotators=args.annotators, items=args.items,
                                       seed=args.seed)
            rep = drive(url, token, tokens, pid, truth, seconds=args.seconds,
                        settings_every=args.settings_every, import_every=args.import_every,
                        import_rows=args.import_rows, seed=args.seed)
            out = check(url, token, db, pid, rep)
    out["database"] = "postgresql" if args.database_url else "sqlite"
    out["annotators"] = args.annotators
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--database-url", help="PostgreSQL URL (default: SQLite in a temp dir)")
    ap.add_argument("--annotators", type=int, default=20)
    ap.add_argument("--items", type=int, default=5000)
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--settings-every", type=float, default=0.5)
    ap.add_argument("--import-every", type=float, default=10.0)
    ap.add_argument("--import-rows", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args(argv)
    out = run(args)
    if args.json:
        print(json.dumps(out, indent=2))
        return
    width = max(len(k) for k in out)
    for k, v in out.items():
        print(f"{k:<{width}}  {v}")


if __name__ == "__main__":
    main()
