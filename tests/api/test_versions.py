"""Dataset versions through the SDK: freeze, list, diff, export, on both databases."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from labella.client import LabellaClientError
from tests.api.conftest import LiveServer, text_project, write_reviews


def _labels_in(path: Path) -> dict[int, str]:
    return {int(r["id"]): r["label"] for r in csv.DictReader(path.open(encoding="utf-8"))}


def test_freeze_diff_and_export_versions(server: LiveServer, tmp_path: Path) -> None:
    admin = server.client()
    p = text_project(admin, "versions")
    write_reviews(tmp_path / "r.csv", 30)
    assert p.import_file(tmp_path / "r.csv").wait(60).status == "succeeded"
    server.add_user("ann1")
    p.add_member("ann1")
    ann = server.client("ann1").project(p.id)
    a, b, c, d = (it.id for it in ann.next(n=4))
    for item_id, label in ((a, "neg"), (b, "pos"), (c, "neg")):
        ann.annotate(item_id, label=label)

    v1 = p.freeze("v1", note="first three")
    assert v1["n_labels"] == 3 and v1["label_counts"] == {"neg": 2, "pos": 1}
    with pytest.raises(LabellaClientError) as err:  # names are never reused
        p.freeze("v1")
    assert err.value.status == 409
    with pytest.raises(LabellaClientError) as err:  # annotators do not freeze
        ann.freeze("mine")
    assert err.value.status == 403

    ann.annotate(a, label="pos")  # changed neg -> pos
    ann.undo(c)  # removed
    ann.annotate(d, label="neg")  # added
    assert p.diff("v1")["n_changed"] == 1  # against the labels now
    p.freeze("v2")

    vs = ann.versions()  # any member reads them
    assert [v["name"] for v in vs] == ["v1", "v2"]
    assert vs[0]["note"] == "first three" and vs[0]["created_by"] == "admin"
    assert vs[1]["n_labels"] == 3 and vs[1]["label_counts"] == {"neg": 1, "pos": 2}
    got = p.diff("v1", "v2")
    assert (got["n_added"], got["n_changed"], got["n_removed"], got["n_unchanged"]) == (1, 1, 1, 1)
    assert got["added"] == [{"item_id": d, "labels": ["neg"]}]
    assert got["changed"] == [{"item_id": a, "old": ["neg"], "new": ["pos"]}]
    assert got["removed"] == [{"item_id": c, "labels": ["neg"]}]
    assert got["transitions"] == {"neg -> pos": 1}
    assert p.diff("v2")["n_changed"] + p.diff("v2")["n_added"] == 0

    old = p.export(tmp_path / "v1.csv", version="v1")
    assert _labels_in(old) == {a: "neg", b: "pos", c: "neg"}  # the old labels, still
    assert _labels_in(p.export(tmp_path / "now.csv")) == {a: "pos", b: "pos", d: "neg"}
    with server.http("admin") as h:
        r = h.get(f"/api/projects/{p.id}/export", params={"format": "jsonl", "version": "v2"})
        assert r.status_code == 200
        assert r.headers["x-labella-dataset-version"] == "v2"
        assert 'filename="versions-labels-v2.jsonl"' in r.headers["content-disposition"]
        recs = [json.loads(line) for line in r.text.splitlines()]
        assert {rec["id"]: rec["label"] for rec in recs} == {a: "pos", b: "pos", d: "neg"}
        assert {rec["meta"]["dataset_version"] for rec in recs} == {"v2"}
        assert h.get(f"/api/projects/{p.id}/versions/nope/diff").status_code == 404
        bad = h.post(f"/api/projects/{p.id}/versions", json={"name": "now"})
        assert bad.status_code == 422
