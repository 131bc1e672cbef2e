"""Auto-accept through the REST API and the SDK against a real server: preview, accept as
model-accepted labels (marked in the items list and the export), the refusals, undo."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from labella.client import LabellaClientError
from tests.api.conftest import LiveServer, review_texts, text_project, wait_for, write_rows


def test_auto_accept_with_the_sdk_and_its_refusals(server: LiveServer, tmp_path: Path) -> None:
    admin = server.client("admin")
    p = text_project(admin, strategy="margin")
    data = review_texts(400, seed=3)
    # 40 labelled pool items, 200 unlabelled, 160 labelled held-out (evaluation) items
    write_rows(tmp_path / "r.csv", [
        {"text": t, "label": lab if i < 40 or i >= 240 else "",
         "split": "test" if i >= 240 else "train"} for i, (t, lab) in enumerate(data)])
    p.import_file(tmp_path / "r.csv").wait(120)
    wait_for(lambda: (m := p.metrics())["model_version"] >= 1 and not m["refit_pending"]
             and m["scores"].get("calibration"), timeout=60, what="a calibrated model")
    pv = p.auto_accept_preview("pos", target=0.8)
    assert pv["threshold"] is not None and pv["n_would_accept"] > 0 and pv["low"] >= 0.8, pv

    server.add_user("ann")
    p.add_member("ann", "annotator")
    with pytest.raises(LabellaClientError) as e:
        server.client("ann").project(p.id).auto_accept("pos", target=0.8,
                                                       threshold=pv["threshold"])
    assert e.value.status == 403
    with server.http("admin") as http:
        url = f"/api/projects/{p.id}/auto-accept"
        too_low = http.post(url, json={"label": "pos", "target": 0.99, "threshold": 0.01})
        assert too_low.status_code == 409 and "preview again" in too_low.json()["detail"]
        for bad in ({"label": "maybe", "target": 0.8, "threshold": 0.9},
                    {"label": "pos", "target": 1.0, "threshold": 0.9},
                    {"label": "pos", "target": 0.8, "threshold": 0}):
            assert http.post(url, json=bad).status_code == 422, bad

    res = p.auto_accept("pos", target=0.8)  # the threshold a fresh preview shows
    assert res["accepted"] == pv["n_would_accept"] and res["threshold"] == pv["threshold"]
    assert res["low"] >= 0.8 and res["n_measured"] == pv["n_measured"]
    m = p.metrics()
    assert (m["n_labeled_by_people"], m["n_model_accepted"]) == (40, res["accepted"])
    with server.http("admin") as http:
        page = http.get(f"/api/projects/{p.id}/items",
                        params={"source": "model", "limit": 500}).json()
    assert page["total"] == res["accepted"]
    assert {(it["source"], tuple(it["labels"])) for it in page["items"]} == {("model", ("pos",))}
    with (p.export(tmp_path / "labels.csv", format="csv")).open(encoding="utf-8") as fh:
        sources = [row["source"] for row in csv.DictReader(fh)]
    assert sources.count("model") == res["accepted"] and sources.count("import") == 200

    out = p.undo_auto_accept(res["batch"])
    assert out["retracted"] == res["accepted"]
    assert p.metrics()["n_model_accepted"] == 0
