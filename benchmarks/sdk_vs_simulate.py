"""The server's loop against the simulator: same data, same default pipeline, same budget.

Starts ``labella serve`` on a temporary data directory, creates a text project
through the SDK, imports DATA with its ``split=test`` rows (their labels kept:
the evaluation set) and its pool rows *without* labels, then labels with an
oracle (the file's own labels) through ``next`` / ``annotate`` until BUDGET
labels, and reads the evaluation-set accuracy from ``metrics()``. Then runs
``labella simulate DATA --strategies labella --budget BUDGET`` and prints the
simulator's mean accuracy at BUDGET labels beside the server's.

    python benchmarks/sdk_vs_simulate.py /path/to/data.csv --budget 200
    python benchmarks/sdk_vs_simulate.py /path/to/data.csv --runs 6 --seeds 6 --pace 0.3

Without ``--pace`` the oracle answers as fast as the server acknowledges (about 8 ms per
label here), so the server's queue is ranked by a model several batches old: the figure
then measures how far the background refitter lags behind, not the pipeline. ``--pace``
waits that many seconds before each answer, as a (fast) person would.

DATA: a CSV with ``text``, ``label`` and ``split`` (``train``/``test``) columns.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labella.client import Client

LABELLA = [sys.executable, "-c", "from labella.cli import main; main()"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(data_dir: Path, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([*LABELLA, "serve", "--data-dir", str(data_dir), "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"labella serve exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise TimeoutError("labella serve did not answer within 120 s")


def token(data_dir: Path, env: dict[str, str]) -> str:
    out = subprocess.run([*LABELLA, "token", "create", "--data-dir", str(data_dir)], env=env,
                         check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def server_run(data: Path, *, budget: int, batch: int, runs: int, work: Path,
               env: dict[str, str], pace: float = 0.0) -> dict[str, Any]:
    df = pd.read_csv(data)
    df = df.drop_duplicates("text")
    truth = dict(zip(df["text"], df["label"].astype(str), strict=True))
    upload = df.copy()
    upload["label"] = upload["label"].astype(str).where(upload["split"] == "test", "")
    upload_path = work / "upload.csv"
    upload[["text", "label", "split"]].to_csv(upload_path, index=False)
    data_dir, port = work / "data", free_port()
    proc = start_server(data_dir, port, env)
    try:
        c = Client(f"http://127.0.0.1:{port}", token=token(data_dir, env))
        out: list[dict[str, Any]] = []
        for run in range(runs):  # one project per run: each has its own seed (its id)
            p = c.create_project(name=f"{data.stem}-{run}", task="text",
                                 labels=sorted(df["label"].astype(str).unique()))
            t0 = time.perf_counter()
            p.import_file(upload_path).wait(timeout=1800)
            t_import = time.perf_counter() - t0
            n = 0
            t0 = time.perf_counter()
            while n < budget:
                for it in p.next(n=min(batch, budget - n)):
                    if pace:
                        time.sleep(pace)
                    p.annotate(it.id, label=truth[it.text or ""])
                    n += 1
            t_label = time.perf_counter() - t0
            # let the refitter catch up with the last label, then read the evaluation score
            deadline = time.monotonic() + 30
            m = p.metrics()
            while time.monotonic() < deadline and (
                    m["learning_curve"] == [] or m["learning_curve"][-1]["n_labels"] < budget):
                time.sleep(0.2)
                m = p.metrics()
            out.append({"accuracy": m["scores"].get("accuracy"), "source": m["scores"].get("source"),
                        "n_labeled": m["n_labeled"], "model_version": m["model_version"],
                        "import_seconds": round(t_import, 1), "label_seconds": round(t_label, 1)})
        accs = [r["accuracy"] for r in out if r["accuracy"] is not None]
        return {"accuracy": sum(accs) / len(accs) if accs else None, "runs": out,
                "source": out[0]["source"], "model_version": out[0]["model_version"],
                "import_seconds": out[0]["import_seconds"], "label_seconds": out[0]["label_seconds"]}
    finally:
        proc.terminate()
        proc.wait(30)


def simulate_run(data: Path, *, budget: int, batch: int, seeds: int, work: Path,
                 env: dict[str, str]) -> dict[str, Any]:
    out = work / "simulate.json"
    subprocess.run([*LABELLA, "simulate", str(data), "--strategies", "labella", "--budget",
                    str(budget), "--batch-size", str(batch), "--initial", str(batch),
                    "--seeds", str(seeds), "--out", str(out)], env=env, check=True,
                   capture_output=True)
    r = json.loads(out.read_text())
    s = r["strategies"]["labella"]
    at = s["labels"].index(budget) if budget in s["labels"] else -1
    return {"accuracy": s["mean"][at], "per_seed": [sc[at] for sc in s["scores"]],
            "labels": s["labels"][at], "full_score": r["full_score"]}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", type=Path)
    ap.add_argument("--budget", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=10)
    ap.add_argument("--seeds", type=int, default=3, help="simulator seeds")
    ap.add_argument("--runs", type=int, default=3, help="server projects (each its own seed)")
    ap.add_argument("--pace", type=float, default=0.0,
                    help="seconds the oracle waits before each answer (default 0: as fast as it can)")
    args = ap.parse_args(argv)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env.setdefault("LABELLA_CACHE_DIR", str(Path.home() / ".cache" / "labella"))
        server = server_run(args.data, budget=args.budget, batch=args.batch_size, runs=args.runs,
                            work=work, env=env, pace=args.pace)
        sim = simulate_run(args.data, budget=args.budget, batch=args.batch_size, seeds=args.seeds,
                           work=work, env=env)
    diff = None if server["accuracy"] is None else 100 * (server["accuracy"] - sim["accuracy"])
    print(f"{args.data.name}: {args.budget} labels")
    per_run = ", ".join(f"{r['accuracy']:.3f}" for r in server["runs"])
    print(f"  server (SDK, oracle, pace {args.pace:g} s): accuracy {server['accuracy']:.3f} on the evaluation set "
          f"(mean of {args.runs} projects: {per_run}; {server['source']}; first import "
          f"{server['import_seconds']} s, labelling {server['label_seconds']} s)")
    print(f"  labella simulate:       accuracy {sim['accuracy']:.3f} (mean of {args.seeds} seeds: "
          f"{', '.join(f'{x:.3f}' for x in sim['per_seed'])}); full-pool score {sim['full_score']:.3f}")
    print(f"  difference: {diff:+.1f} points" if diff is not None else "  no server score")
    return {"server": server, "simulate": sim, "difference_points": diff}


if __name__ == "__main__":
    main()
