"""``labella serve`` killed with SIGKILL in the middle of a featurisation job.

The done-criterion: the restarted server has every acknowledged label, and the
job is resumed (and succeeds) or fails with a reason — it is never left
``running``. Real embeddings (MiniLM), a real server process, a real kill.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labella.client import Client, Job, Project
from labella.features.base import model_cache_dir
from labella.features.registry import REGISTRY
from tests.api.conftest import free_port, review_texts, wait_healthy, write_rows

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL"),
]

LABELLA = [sys.executable, "-c", "from labella.cli import main; main()"]
N_FIRST, N_LABELLED, N_SECOND = 60, 15, 3000


class Servers:
    """``labella serve`` processes on one data directory (one at a time)."""

    def __init__(self, data_dir: Path, database_url: str, env: dict[str, str], logs: Path) -> None:
        self.data_dir, self.database_url, self.env, self.logs = data_dir, database_url, env, logs
        self.procs: list[subprocess.Popen[bytes]] = []

    def cli(self, *args: str) -> str:
        out = subprocess.run([*LABELLA, *args, "--data-dir", str(self.data_dir),
                              "--database-url", self.database_url], env=self.env,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return out.stdout

    def start(self) -> tuple[subprocess.Popen[bytes], str]:
        port = free_port()
        log = (self.logs / f"serve-{len(self.procs)}.log").open("wb")
        proc = subprocess.Popen([*LABELLA, "serve", "--data-dir", str(self.data_dir),
                                 "--database-url", self.database_url, "--port", str(port)],
                                env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, timeout=120, alive=lambda: proc.poll() is None)
        return proc, url

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)


@pytest.fixture
def servers(tmp_path: Path, database_url: str) -> Iterator[Servers]:
    check = REGISTRY.info("minilm").available
    ok, why = check() if check is not None else (True, "")
    if not ok:
        pytest.skip(f"MiniLM embeddings are not available here: {why}")
    # embeddings in a cache of this test's own (a shared one would already hold them and the
    # job would end before it could be killed); the exported model is shared
    cache = tmp_path / "cache"
    cache.mkdir()
    models = model_cache_dir(None)
    if models.is_dir():
        (cache / "models").symlink_to(models, target_is_directory=True)
    env = {**os.environ, "LABELLA_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1"}
    s = Servers(tmp_path / "data", database_url, env, tmp_path)
    try:
        yield s
    finally:
        s.stop_all()


def _job(project: Project, kind: str, after: int = 0) -> Job | None:
    for j in project.jobs():
        if j.data["kind"] == kind and j.id > after:
            return j
    return None


def _wait(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = predicate()
        if got:
            return got
        time.sleep(0.2)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def test_sigkill_during_featurisation_keeps_labels_and_ends_the_job(servers: Servers,
                                                                     tmp_path: Path) -> None:
    token = servers.cli("token", "create").strip().splitlines()[-1]
    proc, url = servers.start()
    texts = review_texts(N_FIRST + N_SECOND, seed=7)
    first, second = texts[:N_FIRST], texts[N_FIRST:]
    truth = dict(texts)
    write_rows(tmp_path / "first.csv", [{"text": t} for t, _ in first])
    write_rows(tmp_path / "second.csv", [{"text": t, "split": "train"} for t, _ in second])

    with Client(url, token=token) as c:
        p = c.create_project(name="reviews", task="text", labels=["neg", "pos"],
                             featuriser="minilm")
        assert p.data["featuriser"] == "minilm"
        p.import_file(tmp_path / "first.csv").wait(180)
        acked: dict[int, str] = {}
        while len(acked) < N_LABELLED:
            for it in p.next(n=5):
                ack = p.annotate(it.id, label=truth[it.text or ""])
                assert not ack["duplicate"]
                acked[it.id] = truth[it.text or ""]
        assert p.metrics()["n_labeled"] == N_LABELLED

        imp = p.import_file(tmp_path / "second.csv").wait(120, follow=False)
        assert imp.result is not None and imp.result["added"] == N_SECOND
        feat = _wait(lambda: _job(p, "featurise", after=imp.id), 30, "the featurise job")
        # kill once the job is running and at least one chunk of embeddings is on disk
        _wait(lambda: feat.refresh().status == "running" and feat.data["done"] > 0, 240,
              "the featurise job to make progress")
        assert feat.data["done"] < feat.data["total"], "the job ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    assert proc.returncode == -signal.SIGKILL

    proc, url = servers.start()
    with Client(url, token=token) as c:
        p = c.project(p.id)
        job = c.job(feat.id)
        # the restart recovers the job at once: it is queued again, or already running again
        # in the new process, or (no attempts left) failed; never left to the dead one
        assert "requeued" in " ".join(job.data["log_tail"]) or job.status == "failed"
        for item_id, label in acked.items():
            detail = p.item(item_id)
            assert detail["labels"] == [label], item_id
            assert [h["action"] for h in detail["history"]] == ["label"]
        assert p.metrics()["n_labeled"] == N_LABELLED
        _wait(lambda: job.refresh().status in ("succeeded", "failed", "cancelled"), 300,
              "the recovered featurise job to end")
        if job.status == "succeeded":
            assert job.result is not None
            assert job.result["already_cached"] >= N_FIRST + 1  # the chunks done before the kill
            assert job.result["n_embedded_total"] == N_FIRST + N_SECOND
            assert job.result["failed"] == 0
            assert any("attempt 2" in line for line in job.data["log_tail"])
            def pool_complete() -> dict[str, Any] | None:
                m = p.metrics()
                return m if m["n_pool"] == N_FIRST + N_SECOND else None

            m = _wait(pool_complete, 60, "the loop to take in the new items")
            assert m["n_unfeaturised"] == 0 and m["n_labeled"] == N_LABELLED
        else:
            assert job.status == "failed" and job.error, job.data
        assert p.refresh().data["n_items"] == N_FIRST + N_SECOND
        it = p.next(n=1)[0]
        assert it.id not in acked and it.suggestion is not None
