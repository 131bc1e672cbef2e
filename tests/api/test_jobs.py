"""Jobs over HTTP: reading one, listing a project's, cancelling a queued one, access."""

from __future__ import annotations

from pathlib import Path

import pytest

from labella.client import JobFailed, LabellaClientError
from tests.api.conftest import LiveServer, ServerFactory, text_project, write_reviews

JOB_FIELDS = {"id", "project_id", "kind", "status", "progress", "done", "total", "message",
              "eta_seconds", "error", "result", "log_tail", "created_at", "started_at",
              "finished_at"}


def test_a_finished_job_reads_back(server: LiveServer, tmp_path: Path) -> None:
    admin = server.client("admin")
    p = text_project(admin)
    write_reviews(tmp_path / "r.csv", 50)
    job = p.import_file(tmp_path / "r.csv").wait(60)
    with server.http("admin") as http:
        r = http.get(f"/api/jobs/{job.id}")
        assert r.status_code == 200
        body = r.json()
        assert set(body) == JOB_FIELDS
        assert body["kind"] == "import" and body["status"] == "succeeded"
        assert body["project_id"] == p.id and body["done"] == body["total"] == 50
        assert body["started_at"] and body["finished_at"] and body["error"] is None
        listed = http.get(f"/api/projects/{p.id}/jobs").json()
        assert [j["kind"] for j in listed] == ["featurise", "import"]  # newest first
        assert http.get(f"/api/projects/{p.id}/jobs", params={"limit": 1}).json() == listed[:1]
        assert http.get("/api/jobs/999999").status_code == 404
    assert admin.job(job.id).result == job.result
    # members see their project's jobs; others get 404, as for a project they cannot see
    p.add_member("annotator")
    assert server.client("annotator").job(job.id).status == "succeeded"
    with pytest.raises(LabellaClientError) as err:
        server.client("outsider").job(job.id)
    assert err.value.status == 404


def test_cancel_a_queued_job(server_factory: ServerFactory, tmp_path: Path) -> None:
    server = server_factory(worker=False)  # nothing runs jobs: they stay queued
    admin = server.client("admin")
    p = text_project(admin)
    write_reviews(tmp_path / "r.csv", 50)
    job = p.import_file(tmp_path / "r.csv")
    assert job.status == "queued" and job.progress is None and job.eta is None
    retrain = p.retrain()
    p.add_member("annotator")
    with pytest.raises(LabellaClientError) as err:
        server.client("annotator").job(job.id).cancel()
    assert err.value.status == 403
    assert job.refresh().status == "queued"

    assert job.cancel().status == "cancelled"
    assert job.refresh().status == "cancelled" and job.data["finished_at"]
    assert job.cancel().status == "cancelled"  # cancelling again changes nothing
    with pytest.raises(JobFailed, match="cancelled"):
        job.wait(5)
    assert {j.id: j.status for j in p.jobs()} == {job.id: "cancelled", retrain.id: "queued"}
    assert p.refresh().data["n_items"] == 0
