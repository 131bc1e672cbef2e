"""Importing into a project: labels, evaluation split, re-import, bad rows, images."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select

from labella.config import Settings
from labella.ingest.records import RawRecord
from labella.jobs.runner import JobCancelled, JobContext, LocalWorker
from labella.service import auth, projects
from labella.service.context import ServiceContext
from labella.service.errors import InvalidRequestError, PermissionDeniedError
from labella.service.importing import (
    ImportReport,
    _land_batch,
    content_hash,
    import_upload,
    preview_source,
    preview_upload,
    start_import,
)
from labella.service.uploads import sweep_uploads
from labella.store.annotations import Annotation
from labella.store.items import Item
from labella.store.projects import Project
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


# -- uploads: removed when the import ends, however it ends ---------------------------


def _idle_context(tmp_path: Path, database_url: str) -> ServiceContext:
    """A context whose jobs only run when a test runs them."""
    return ServiceContext(Settings(data_dir=tmp_path / "data", database_url=database_url))


@pytest.fixture
def idle(tmp_path: Path, database_url: str) -> Iterator[tuple[ServiceContext, auth.UserPublic, int]]:
    """An idle context, a user and their text project."""
    ctx = _idle_context(tmp_path, database_url).start(worker=False)
    try:
        with ctx.session() as s:
            user = auth.create_user(s, "u")
        yield ctx, user, _text_project(ctx, user)
    finally:
        ctx.close()


def _uploads(ctx: ServiceContext) -> list[Path]:
    root = ctx.settings.data_dir / "uploads"
    return sorted(root.rglob("*")) if root.exists() else []


def _text_project(ctx: ServiceContext, user: auth.UserPublic) -> int:
    with ctx.session() as s:
        return projects.create_project(s, user, name="p", task="text", multi_label=False,
                                       labels=["neg", "pos"], featuriser="hashing").id


def test_a_failed_import_removes_its_upload_and_logs_no_traceback(
        idle: tuple[ServiceContext, auth.UserPublic, int]) -> None:
    ctx, user, pid = idle
    job = import_upload(ctx, user, pid, io.BytesIO(b"body\nno text column\n"), "x.csv")
    assert len([p for p in _uploads(ctx) if p.name == "x.csv"]) == 1
    end = LocalWorker(ctx.jobs, ctx.handlers).run_one()
    assert end is not None and end.id == job.id and end.status == "failed"
    assert end.error == "DataError: x.csv: no 'text' column; columns are ['body']"
    assert not any("Traceback" in line or "File \"" in line for line in end.log_tail)
    assert _uploads(ctx) == []


def test_a_cancelled_import_removes_its_upload(
        idle: tuple[ServiceContext, auth.UserPublic, int]) -> None:
    ctx, user, pid = idle
    job = import_upload(ctx, user, pid, io.BytesIO(b"text\na\nb\n"), "y.csv")
    running = ctx.jobs.claim("test")
    assert running is not None and running.id == job.id
    ctx.jobs.cancel(job.id)  # asked while it runs: it stops at its first progress report
    entry = ctx.handlers.get("import")
    assert entry is not None
    with pytest.raises(JobCancelled):
        entry.handler(JobContext(ctx.jobs, running, worker_id="test"))
    assert _uploads(ctx) == []


@pytest.mark.parametrize(("name", "says"), [
    ("nul\x00.csv", "bad upload file name"), (".hidden.csv", "bad upload file name"),
    ("n" * 300 + ".csv", "upload file name of 304 bytes; at most 200")])
def test_upload_names_no_file_system_takes_are_refused(
        idle: tuple[ServiceContext, auth.UserPublic, int], name: str, says: str) -> None:
    ctx, user, pid = idle
    with pytest.raises(InvalidRequestError, match=says):
        import_upload(ctx, user, pid, io.BytesIO(b"text\na\n"), name)
    assert _uploads(ctx) == [] and ctx.jobs.list(project_id=pid) == []


def test_uploads_of_imports_that_never_ran_go_at_the_next_start(
        tmp_path: Path, database_url: str) -> None:
    ctx = _idle_context(tmp_path, database_url).start(worker=False)
    with ctx.session() as s:
        user = auth.create_user(s, "u")
    pid = _text_project(ctx, user)
    queued = import_upload(ctx, user, pid, io.BytesIO(b"text\na\n"), "queued.csv")
    crashed = import_upload(ctx, user, pid, io.BytesIO(b"text\nb\n"), "crashed.csv")
    assert sweep_uploads(ctx, unclaimed_seconds=0) == 0  # both imports still to run
    ctx.jobs.cancel(queued.id)  # cancelled before it started: its handler never runs
    assert ctx.jobs.claim("a-process-that-dies") is not None  # takes `crashed`...
    ctx.jobs.cancel(crashed.id)  # ...and dies before it sees the cancel
    unclaimed = tmp_path / "data" / "uploads" / "upload-0" / "lost.csv"
    unclaimed.parent.mkdir()
    unclaimed.write_text("text\nd\n")
    ctx.close()
    assert {p.name for p in _uploads(ctx)} >= {"queued.csv", "crashed.csv", "lost.csv"}
    # the server starts again: recovery ends the crashed job, and its upload goes
    again = _idle_context(tmp_path, database_url).start(recover_all=True)
    try:
        assert again.jobs.get(crashed.id).status == "cancelled"
        assert {p.name for p in _uploads(again)} == {"upload-0", "lost.csv"}  # too recent
        assert sweep_uploads(again, unclaimed_seconds=0) == 1
        assert _uploads(again) == []
    finally:
        again.close()


def test_rows_the_database_refuses_are_reported_one_by_one(
        idle: tuple[ServiceContext, auth.UserPublic, int]) -> None:
    """The reader stops such values first; should one still reach the database (here built
    by hand: an id over the column's 500 characters, which only PostgreSQL refuses), only
    its row fails, with a plain message."""
    ctx, user, pid = idle
    with ctx.session() as s:
        project = s.get(Project, pid)
        assert project is not None
        s.expunge(project)
    recs = [RawRecord(position=i, source=f"hand:{i}", text=f"text {i}",
                      external_id="x" * (600 if i == 2 else 3)) for i in (1, 2, 3)]
    good = [(r, content_hash(r), None) for r in recs]
    report, bad = ImportReport(), []
    _land_batch(ctx, project, good, user.id, report,
                lambda pos, src, msg: bad.append((pos, msg)), job_id=1)
    with ctx.session() as s:
        texts = list(s.scalars(select(Item.text).order_by(Item.id)))
    if ctx.engine.dialect.name == "postgresql":
        assert texts == ["text 1", "text 3"] and report.added == 2
        assert bad == [(2, "the database refused this row (a value it cannot store); "
                           "nothing of it was imported")]
    else:
        assert texts == ["text 1", "text 2", "text 3"] and bad == []


# -- preview: the wizard's look at a file, read by the import's reader -------------------


def test_preview_of_a_table(ctx: ServiceContext, admin: auth.UserPublic) -> None:
    with ctx.session() as s:
        someone = auth.create_user(s, "someone")
    data = (b"text,Labels,split,id\nb,x|y,train\na,y,VAL\nb,x,test\nc,,holdout\n"
            b"d,z,later\n,x,\ne,item 10,\nf,item 9,\n")
    got = preview_upload(ctx, someone, io.BytesIO(data), "t.csv", task="text", multi_label=True)
    assert got["columns"] == ["text", "Labels", "split", "id"]
    assert (got["text_column"], got["label_column"]) == ("text", "Labels")
    assert got["label_source"] == "column “Labels”"
    assert got["labels"] == {"item 9": 1, "item 10": 1, "x": 1, "y": 2}  # natural order
    assert got["splits"] == {"pool": 4, "evaluation": 1}
    assert (got["items"], got["labelled"], got["duplicates"], got["n_errors"]) == (5, 4, 1, 2)
    assert [e["message"] for e in got["errors"]] == [
        "row 5: unknown split 'later'; expected train or test", "row 6: empty text"]
    assert _uploads(ctx) == []


def test_preview_of_an_image_zip_opens_no_image(ctx: ServiceContext,
                                               admin: auth.UserPublic) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in ("train/cat/1.png", "val/dog/2.png", "test/cat/3.png", "loose.png"):
            zf.writestr(name, b"not even an image")  # a preview reads the listing only
    got = preview_upload(ctx, admin, io.BytesIO(buf.getvalue()), "pets.zip", task="image",
                         multi_label=False)
    assert got["kind"] == "images" and got["label_source"] == "the folder names"
    assert got["labels"] == {"cat": 2, "dog": 1}
    assert got["splits"] == {"pool": 3, "evaluation": 1} and got["n_errors"] == 0


def test_preview_of_a_path_on_the_server_is_for_site_admins(
        ctx: ServiceContext, admin: auth.UserPublic, tmp_path: Path) -> None:
    src = write_csv(tmp_path / "r.csv", [{"text": t, "label": lab} for t, lab in reviews(5)])
    with ctx.session() as s:
        someone = auth.create_user(s, "someone")
    with pytest.raises(PermissionDeniedError):
        preview_source(ctx, someone, str(src), task="text", multi_label=False)
    got = preview_source(ctx, admin, str(src), task="text", multi_label=False)
    assert got["items"] == 5 and got["name"] == "r.csv"
    assert src.exists()  # a path on the server is read, never removed
