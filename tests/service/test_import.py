"""Importing into a project: labels, evaluation split, re-import, bad rows, images."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image
from sqlalchemy import func, select

from labella.service import auth
from labella.service.context import ServiceContext
from labella.service.importing import start_import
from labella.store.annotations import Annotation
from labella.store.items import Item
from tests.service.conftest import reviews, wait_jobs, write_csv


def _result(ctx: ServiceContext, job_id: int) -> dict:  # type: ignore[type-arg]
    info = ctx.jobs.wait(job_id, timeout=60)
    assert info.status == "succeeded", info.error
    assert info.result is not None
    return info.result


def test_labels_split_reimport_and_bad_rows(ctx: ServiceContext, admin: auth.UserPublic,
                                            make_text_project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    p = make_text_project()
    data = reviews(60)
    rows = [{"text": t, "label": lab if i % 3 == 0 else "", "split": "test" if i % 5 == 0 else "train"}
            for i, (t, lab) in enumerate(data)]
    rows += [{"text": "", "label": "pos", "split": "train"},                 # empty text
             {"text": "a fine text", "label": "maybe", "split": "train"},    # unknown label
             {"text": "another fine text", "label": "", "split": "later"}]  # unknown split
    src = write_csv(tmp_path / "reviews.csv", rows)
    r = _result(ctx, start_import(ctx, admin, p.id, str(src)).id)
    assert r["added"] == 60 and r["n_errors"] == 3 and r["duplicates"] == 0
    assert r["evaluation"] == 12 and r["labeled"] == 20
    assert sorted(e["position"] for e in r["errors"]) == [61, 62, 63]
    assert any("maybe" in e["message"] for e in r["errors"])
    jobs = wait_jobs(ctx, p.id)
    assert {j.kind: j.status for j in jobs} == {"import": "succeeded", "featurise": "succeeded"}
    with ctx.session() as s:
        assert s.scalar(select(func.count()).select_from(Item).where(Item.project_id == p.id)) == 60
        assert s.scalar(select(func.count()).select_from(Annotation)) == 20
        srcs = set(s.scalars(select(Annotation.source)))
    assert srcs == {"import"}
    # the same file again adds nothing
    again = _result(ctx, start_import(ctx, admin, p.id, str(src)).id)
    assert again["added"] == 0 and again["duplicates"] == 60
    with ctx.session() as s:
        assert s.scalar(select(func.count()).select_from(Item)) == 60
        assert s.scalar(select(func.count()).select_from(Annotation)) == 20


def test_image_folder_lands_in_blob_store(ctx: ServiceContext, admin: auth.UserPublic,
                                         tmp_path: Path) -> None:
    from labella.service import projects

    with ctx.session() as s:
        p = projects.create_project(s, admin, name="shapes", task="image", multi_label=False,
                                    labels=["dark", "light"], featuriser="pixels")
    root = tmp_path / "imgs"
    rng = np.random.default_rng(0)
    for label, base in (("dark", 40), ("light", 210)):
        (root / label).mkdir(parents=True)
        for i in range(6):
            px = np.clip(base + rng.normal(0, 20, (24, 24, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(px).save(root / label / f"{i}.png")
    (root / "light" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    r = _result(ctx, start_import(ctx, admin, p.id, str(root)).id)
    assert r["added"] == 12 and r["labeled"] == 12 and r["n_errors"] == 1
    wait_jobs(ctx, p.id)
    with ctx.session() as s:
        item = s.scalars(select(Item).where(Item.project_id == p.id)).first()
        assert item is not None and item.blob_key and item.text is None
        key = item.blob_key
    img = Image.open(io.BytesIO(ctx.blobs.get(key)))
    assert img.size == (24, 24)
    st = ctx.loops.state(p.id)
    assert len(st.index) == 12 and st.n_labeled == 12 and st.X.shape == (12, 3 * 32 * 32)


def test_keep_only_evaluation_labels(ctx: ServiceContext, admin: auth.UserPublic,
                                     make_text_project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    p = make_text_project()
    rows = [{"text": t, "label": lab, "split": "test" if i % 4 == 0 else "train"}
            for i, (t, lab) in enumerate(reviews(40))]
    src = write_csv(tmp_path / "labelled.csv", rows)
    r = _result(ctx, start_import(ctx, admin, p.id, str(src), labels="evaluation").id)
    assert r["added"] == 40 and r["evaluation"] == 10 and r["labeled"] == 10
    wait_jobs(ctx, p.id)
    st = ctx.loops.state(p.id)
    assert st.n_labeled == 0 and len(st.index) == 30
