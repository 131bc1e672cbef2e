"""The data map over the API and the SDK: the job, its cache, the points, a region."""

from __future__ import annotations

from pathlib import Path

import pytest

from labella.client import Client, LabellaClientError
from tests.api.conftest import LiveServer, text_project, write_reviews


def test_sdk_data_map_makes_caches_and_answers_columns(server: LiveServer, admin: Client,
                                                       tmp_path: Path) -> None:
    p = text_project(admin)
    write_reviews(tmp_path / "reviews.csv", 150, n_test=30)
    p.import_file(tmp_path / "reviews.csv").wait(60)

    m = p.data_map()
    assert m["status"] == "ready" and m["method"] == "umap"
    assert m["n_items"] == m["n_shown"] == 150 and m["n_missing"] == 0
    n = len(m["ids"])
    assert n == 150 and all(len(m[k]) == n for k in ("x", "y", "confidence"))
    assert all(len(m[k]["codes"]) == n for k in ("label", "prediction", "annotator", "split"))
    split = [m["split"]["values"][c] for c in m["split"]["codes"]]
    labelled = [m["label"]["codes"][k] >= 0 for k in range(n)]
    assert split.count("evaluation") == 30 and labelled == [s == "evaluation" for s in split]
    made_by = m["job"]["id"]

    # cached per embeddings: asking again answers the same job; refresh makes a new one
    again = p.data_map(max_points=40)
    assert again["job"]["id"] == made_by and again["n_shown"] == 40
    assert sum(c >= 0 for c in again["label"]["codes"]) == 30  # labelled items are kept
    assert p.data_map(refresh=True)["job"]["id"] > made_by

    # the data browser filters by a region of the map
    http = server.http("admin")
    left = sorted(i for i, x in zip(m["ids"], m["x"], strict=True) if x < 0)
    page = http.get(f"/api/projects/{p.id}/items",
                    params={"region": "-2,-2;0,-2;0,2;-2,2", "limit": 500}).json()
    current = p.data_map()  # the refreshed map (same embeddings, another layout)
    want = sorted(i for i, x in zip(current["ids"], current["x"], strict=True) if x < 0)
    assert [it["id"] for it in page["items"]] == want and page["total"] == len(want)
    assert left  # (the first map had points on the left too)
    bad = http.get(f"/api/projects/{p.id}/items", params={"region": "1,2;3"})
    assert bad.status_code == 422 and "region" in bad.json()["detail"]


def test_data_map_needs_membership(server: LiveServer, admin: Client) -> None:
    p = text_project(admin)
    other = server.client("outsider")
    for call in (lambda: other.request("GET", f"/api/projects/{p.id}/map"),
                 lambda: other.request("POST", f"/api/projects/{p.id}/map")):
        with pytest.raises(LabellaClientError) as exc:
            call()
        assert exc.value.status in (403, 404)
    # a project with no embedded item: the job fails and says why
    with pytest.raises(LabellaClientError, match="nothing to map"):
        p.data_map(timeout=60)
    assert admin.request("GET", f"/api/projects/{p.id}/map")["status"] == "failed"
