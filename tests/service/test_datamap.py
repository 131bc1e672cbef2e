"""The data map: the projection job, its cache per embeddings, the points and regions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from labella.al.datamap import display_sample, in_polygon, project_2d
from labella.service import auth, browse, datamap
from labella.service.context import ServiceContext
from labella.service.errors import InvalidRequestError
from labella.service.importing import start_import
from labella.service.removal import delete_project
from tests.service.conftest import reviews, wait_jobs, write_csv


def _project(ctx: ServiceContext, make, tmp_path: Path, admin: auth.UserPublic,  # type: ignore[no-untyped-def]
             n: int = 120) -> int:
    p = make()
    rows = [{"text": t, "label": lab if k % 4 == 0 else "", "split": "test" if k >= n - 20
             else "train"} for k, (t, lab) in enumerate(reviews(n, seed=5))]
    start_import(ctx, admin, p.id, str(write_csv(tmp_path / "r.csv", rows)))
    wait_jobs(ctx, p.id)
    return p.id


def _made(ctx: ServiceContext, job: object) -> object:
    info = ctx.jobs.wait(job.id, timeout=180)  # type: ignore[attr-defined]
    assert info.status == "succeeded", info.error
    return info


def test_map_job_points_cache_and_region(ctx: ServiceContext, admin: auth.UserPublic,
                                         make_text_project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pid = _project(ctx, make_text_project, tmp_path, admin)
    before = datamap.map_points(ctx, admin, pid)
    assert before.status == "none" and before.ids == [] and before.n_missing == 120

    job = datamap.start_map(ctx, admin, pid)
    assert datamap.start_map(ctx, admin, pid).id == job.id  # queued or running: the same job
    info = _made(ctx, job)
    assert info.result["method"] == "umap" and info.result["n_items"] == 120
    # cached: asking again answers the job that made the map of these embeddings
    assert datamap.start_map(ctx, admin, pid).id == job.id
    fresh = datamap.start_map(ctx, admin, pid, refresh=True)
    assert fresh.id != job.id
    _made(ctx, fresh)

    m = datamap.map_points(ctx, admin, pid)
    assert m.status == "ready" and m.job.id == fresh.id and m.method == "umap"
    assert m.n_items == m.n_shown == 120 and m.n_missing == 0
    assert len(m.ids) == len(m.x) == len(m.y) == len(m.confidence) == 120
    assert sorted(m.ids) == m.ids
    assert max(map(abs, m.x + m.y)) <= 1.0001 and np.std(m.x) > 0.05
    # columns: 30 labelled by the import (every 4th row, as its user); 20 held out
    labelled = [k for k, c in enumerate(m.label.codes) if c >= 0]
    assert len(labelled) == 30 and set(m.label.values) == {"neg", "pos"}
    assert m.annotator.values == ["admin"] and m.annotator.codes.count(0) == 30
    assert m.split.values == ["evaluation", "pool"]
    assert sum(m.split.values[c] == "evaluation" for c in m.split.codes) == 20
    assert m.model_version is not None and set(m.prediction.values) <= {"neg", "pos"}
    assert all(c is not None and 0 <= c <= 1 for c in m.confidence)

    # a sample beyond max_points keeps every labelled item
    small = datamap.map_points(ctx, admin, pid, max_points=50)
    assert small.n_shown == 50 and small.n_items == 120
    assert sum(c >= 0 for c in small.label.codes) == 30

    # a region selects every mapped item inside it; the browser filters by it
    xy = np.column_stack([m.x, m.y])
    box = np.array([[-2, -2], [0, -2], [0, 2], [-2, 2]], dtype=float)
    want = sorted(np.array(m.ids)[xy[:, 0] < 0].tolist())
    assert 0 < len(want) < 120
    assert datamap.items_in_region(ctx, pid, box).tolist() == want
    page = browse.list_items(ctx, admin, pid, region="-2,-2;0,-2;0,2;-2,2", limit=500)
    assert [r.id for r in page.items] == want and page.total == len(want)
    with pytest.raises(InvalidRequestError, match="vertices"):
        browse.list_items(ctx, admin, pid, region="0,0;1,1")


def test_new_embeddings_need_a_new_map(ctx: ServiceContext, admin: auth.UserPublic,
                                       make_text_project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pid = _project(ctx, make_text_project, tmp_path, admin, n=40)
    first = _made(ctx, datamap.start_map(ctx, admin, pid))
    # items added since: counted as missing, and the map is made again on request
    more = [{"text": f"the case is superb, new item {k}", "label": ""} for k in range(10)]
    start_import(ctx, admin, pid, str(write_csv(tmp_path / "more.csv", more)))
    wait_jobs(ctx, pid)
    assert datamap.map_points(ctx, admin, pid).n_missing == 10
    again = datamap.start_map(ctx, admin, pid)
    assert again.id != first.id  # type: ignore[attr-defined]
    made = _made(ctx, again)
    assert datamap.map_points(ctx, admin, pid).n_items == 50

    # deleting the project deletes its maps' files
    blobs = [first.result["blob"], made.result["blob"]]  # type: ignore[attr-defined]
    assert all(ctx.blobs.exists(b) for b in blobs)
    delete_project(ctx, admin, pid, confirm="reviews")
    assert not any(ctx.blobs.exists(b) for b in blobs)


def test_projection_helpers() -> None:
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (60, 20)), rng.normal(6, 1, (60, 20))])
    p = project_2d(X, method="pca")
    assert p.xy.shape == (120, 2) and p.method == "pca" and np.abs(p.xy).max() <= 1
    assert (p.xy[:60, 0] < 0).all() != (p.xy[60:, 0] < 0).all()  # the two blobs split
    assert project_2d(X[:5]).method == "pca"  # too few for UMAP's neighbours
    sq = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=float)
    pts = np.array([[0.5, 0.5], [1.5, 0.5], [0.2, 0.9], [-0.1, 0.5]])
    assert in_polygon(pts, sq).tolist() == [True, False, True, False]
    keep = np.zeros(100, dtype=bool)
    keep[[3, 50, 97]] = True
    rows = display_sample(100, 10, keep=keep)
    assert len(rows) == 10 and {3, 50, 97} <= set(rows.tolist())
    assert display_sample(5, 10).tolist() == [0, 1, 2, 3, 4]
