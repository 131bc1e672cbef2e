"""Size limits and concurrency of the API against a real server, on both databases:
lists that do not grow with labels, and exports that run side by side."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from labella.config import REQUEST_LIMITS as LIMITS
from tests.api.conftest import LiveServer, text_project, wait_for, write_reviews


def test_project_lists_carry_summaries_not_label_names(server: LiveServer) -> None:
    admin = server.client("admin")
    many = [f"{i:04d}-" + "x" * (LIMITS.max_label_chars - 5) for i in range(LIMITS.max_labels)]
    p = text_project(admin, "many labels", labels=many)
    text_project(admin, "two labels")
    with server.http("admin") as http:
        listed = http.get("/api/projects")
        one = http.get(f"/api/projects/{p.id}")
    assert listed.status_code == 200 and one.status_code == 200
    rows = {row["name"]: row for row in listed.json()}
    assert rows["many labels"]["n_labels"] == LIMITS.max_labels
    assert "labels" not in rows["many labels"] and "settings" not in rows["many labels"]
    assert len(listed.content) < 2000  # two summaries, whatever their labels
    assert one.json()["labels"] == many  # the details are on the project's own route
    assert admin.project("many labels").labels == many  # the SDK fetches them


def test_forty_parallel_exports_all_succeed(server: LiveServer, tmp_path: Path) -> None:
    admin = server.client("admin")
    p = text_project(admin)
    write_reviews(tmp_path / "reviews.csv", 60, labelled=True)
    p.import_file(tmp_path / "reviews.csv").wait(60)
    formats = ["jsonl", "csv", "label_studio", "hf"]

    def export(i: int) -> tuple[int, str, bytes]:
        fmt = formats[i % len(formats)]
        with server.http("admin") as http:
            r = http.get(f"/api/projects/{p.id}/export", params={"format": fmt}, timeout=120)
        return r.status_code, fmt, r.content

    with ThreadPoolExecutor(40) as pool:
        results = list(pool.map(export, range(40)))
    assert [status for status, _, _ in results] == [200] * 40, [
        (s, body[:200]) for s, _, body in results if s != 200]
    for _, fmt, body in results:
        if fmt == "jsonl":
            assert len(body.decode().splitlines()) == 60
        elif fmt == "csv":
            assert len(body.decode().splitlines()) == 61  # header + rows
        elif fmt == "label_studio":
            assert len(json.loads(body)) == 60
        else:
            assert body[:2] == b"PK"  # a zip
    # each request removes its own folder once its file is sent
    exports = server.settings.data_dir / "exports"
    wait_for(lambda: not any(exports.iterdir()), timeout=10, what="export folders removed")


def test_a_model_export_is_removed_after_download(server: LiveServer, tmp_path: Path) -> None:
    admin = server.client("admin")
    p = text_project(admin)
    write_reviews(tmp_path / "reviews.csv", 40, labelled=True)
    p.import_file(tmp_path / "reviews.csv").wait(60)
    with httpx.Client(base_url=server.url, timeout=60,
                      headers={"Authorization": f"Bearer {server.tokens['admin']}"}) as http:
        for _ in range(100):
            r = http.get(f"/api/projects/{p.id}/model")
            if r.status_code == 200:
                break
            assert r.status_code == 422  # no model yet
            time.sleep(0.2)
    assert r.status_code == 200 and r.content[:2] == b"PK"
    assert "attachment" in r.headers["content-disposition"]
    exports = server.settings.data_dir / "exports"
    wait_for(lambda: not any(exports.rglob("*.zip")), timeout=10, what="the zip removed")
