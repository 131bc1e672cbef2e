"""The bad-input corpus through the real import, on SQLite and PostgreSQL.

Each case of ``bad_inputs/manifest.toml`` is uploaded as the web app and the SDK upload
(:func:`labella.service.importing.import_upload`), its import job is run, and the outcome
is checked against the manifest: which items land, which rows are reported and how, or
that the whole file is refused with a clear message. Every case also checks that nothing
a user can see names a server path or holds a traceback or SQL, that nothing is
half-written, and that the upload is gone afterwards; and the wizard's preview of the same
file says nothing more about the server.
"""

from __future__ import annotations

import sys
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from labella.config import Limits, Settings
from labella.errors import LabellaError
from labella.jobs.runner import LocalWorker
from labella.service import auth, projects
from labella.service.context import ServiceContext
from labella.service.importing import import_upload, preview_upload
from labella.store.annotations import Annotation
from labella.store.items import Item
from tests.corpus.binary_cases import BUILDERS, build

HERE = Path(__file__).parent / "bad_inputs"
MANIFEST = tomllib.loads((HERE / "manifest.toml").read_text(encoding="utf-8"))
CASES: list[dict[str, Any]] = MANIFEST["case"]
LIMITS = Limits(**MANIFEST["limits"])
REPO = Path(__file__).resolve().parents[2]
LEAKS = ("Traceback", 'File "', "[SQL", "INSERT INTO", "psycopg", "sqlite3.")


def test_the_manifest_covers_every_file_and_nothing_else() -> None:
    files = {p.name for p in HERE.iterdir() if p.name != "manifest.toml"}
    listed = {c["file"] for c in CASES if not c.get("built")}
    built = {c["file"] for c in CASES if c.get("built")}
    assert listed == files and built == set(BUILDERS)
    assert len(CASES) == len(files | built) >= 40
    for case in CASES:
        outcomes = [k for k in ("lands", "refused", "refused_at_upload") if k in case]
        assert len(outcomes) == 1, case["file"]
        assert ("errors" in case) == ("lands" in case), case["file"]


@pytest.fixture
def corpus_ctx(tmp_path: Path, database_url: str) -> Iterator[ServiceContext]:
    ctx = ServiceContext(Settings(data_dir=tmp_path / "data", database_url=database_url,
                                  limits=LIMITS))
    ctx.start(worker=False)  # the test runs the import itself; featurisation stays queued
    try:
        yield ctx
    finally:
        ctx.close()


def _path(case: dict[str, Any], tmp_path: Path) -> Path:
    return build(case["file"], tmp_path) if case.get("built") else HERE / case["file"]


def _no_leaks(texts: list[str], ctx: ServiceContext) -> None:
    server = (str(ctx.settings.data_dir), tempfile.gettempdir(), str(REPO), sys.prefix)
    for text in texts:
        for bad in (*server, *LEAKS):
            assert bad not in text, f"{bad!r} shown to users in: {text[:300]!r}"


def _leftover_uploads(ctx: ServiceContext) -> list[Path]:
    root = ctx.settings.data_dir / "uploads"
    return sorted(root.rglob("*")) if root.exists() else []


@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
def test_bad_input(case: dict[str, Any], corpus_ctx: ServiceContext, tmp_path: Path) -> None:
    ctx = corpus_ctx
    image = case.get("task") == "image"
    with ctx.session() as s:
        admin = auth.create_user(s, "admin", is_admin=True)
        project = projects.create_project(
            s, admin, name="corpus", task="image" if image else "text", multi_label=False,
            labels=["cat", "dog"] if image else ["neg", "pos"],
            featuriser="pixels" if image else "hashing")
    path = _path(case, tmp_path)

    if "refused_at_upload" in case:
        with path.open("rb") as f, pytest.raises(LabellaError) as err:
            import_upload(ctx, admin, project.id, f, path.name)
        assert case["refused_at_upload"] in str(err.value)
        _no_leaks([str(err.value)], ctx)
        assert _leftover_uploads(ctx) == [] and ctx.jobs.list(project_id=project.id) == []
        return

    with path.open("rb") as f:
        job = import_upload(ctx, admin, project.id, f, path.name)
    info = LocalWorker(ctx.jobs, ctx.handlers).run_one()
    assert info is not None and info.id == job.id
    result = info.result or {}
    errors = result.get("errors", [])
    _no_leaks([info.error or "", *info.log_tail, *(e["message"] for e in errors),
               *(e["source"] for e in errors)], ctx)
    assert _leftover_uploads(ctx) == [], "the upload outlived its import"

    with ctx.session() as s:
        items = list(s.scalars(select(Item).where(Item.project_id == project.id)
                               .order_by(Item.id)))
        n_annotations = s.scalar(select(func.count()).select_from(Annotation))
        orphans = s.scalar(select(func.count()).select_from(Annotation).where(
            Annotation.item_id.not_in(select(Item.id))))
    assert orphans == 0 and all((i.text is None) != (i.blob_key is None) for i in items)

    if "refused" in case:
        assert info.status == "failed", info.error
        assert case["refused"] in (info.error or ""), info.error
        assert items == [] and n_annotations == 0
        return

    assert info.status == "succeeded", info.error
    landed = [i.image_name if image else i.text for i in items]
    assert landed == case["lands"]
    got = [(e["position"], e["message"]) for e in errors]
    assert result["n_errors"] == len(got) == len(case["errors"]), got
    for (pos, msg), (want_pos, want) in zip(got, case["errors"], strict=True):
        assert pos == want_pos and want in msg, (pos, msg)
    assert result["added"] == len(items) and n_annotations == result["labeled"]
    for key, field in (("labelled", "labeled"), ("evaluation", "evaluation"),
                       ("duplicates", "duplicates")):
        if key in case:
            assert result[field] == case[key], (key, result)


@pytest.mark.parametrize("case", [c for c in CASES if "refused_at_upload" not in c],
                         ids=[c["file"] for c in CASES if "refused_at_upload" not in c])
def test_the_preview_of_a_bad_input_says_nothing_about_the_server(
        case: dict[str, Any], tmp_path: Path) -> None:
    ctx = ServiceContext(Settings(data_dir=tmp_path / "data", limits=LIMITS))
    try:
        with ctx.session() as s:
            user = auth.create_user(s, "someone")
        path = _path(case, tmp_path)
        task = case.get("task", "text")
        with path.open("rb") as f:
            if "refused" in case:
                with pytest.raises(LabellaError) as err:
                    preview_upload(ctx, user, f, path.name, task=task, multi_label=False)
                assert case["refused"] in str(err.value)
                texts = [str(err.value)]
            else:
                got = preview_upload(ctx, user, f, path.name, task=task, multi_label=False)
                texts = [e["message"] for e in got["errors"]] + [e["source"] for e in got["errors"]]
                assert got["name"].startswith(path.name)
        _no_leaks(texts, ctx)
        assert _leftover_uploads(ctx) == []
    finally:
        ctx.close()
