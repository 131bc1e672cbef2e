"""A project whose images are imported from S3 and stored in S3 (a real S3-compatible server)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image
from sqlalchemy import select

from labella.config import Settings
from labella.service import auth, labelling, projects
from labella.service.context import ServiceContext
from labella.service.importing import start_import
from labella.store.items import Item
from tests.s3_server import S3Server, s3_server  # noqa: F401  (fixture)
from tests.service.conftest import wait_jobs


def _png(value: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    px = np.clip(value + rng.normal(0, 25, (20, 20, 3)), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(px).save(buf, format="PNG")
    return buf.getvalue()


def test_import_from_s3_into_s3_blobs(tmp_path: Path, s3_server: S3Server) -> None:  # noqa: F811
    src, blobs = s3_server.prefix(), s3_server.prefix()
    for label, value in (("dark", 40), ("light", 215)):
        for i in range(5):
            s3_server.put(f"{src}/{label}/{i}.png", _png(value, i + value))
    s3_server.put(f"{src}/test/dark/t.png", _png(40, 99))
    for i in range(3):  # in the root: unlabelled
        s3_server.put(f"{src}/u{i}.png", _png(120, 200 + i))
    settings = Settings(data_dir=tmp_path / "data", blob_url=f"s3://{s3_server.bucket}/{blobs}",
                        storage_options=s3_server.storage_options)
    with ServiceContext(settings).start() as ctx:
        with ctx.session() as s:
            admin = auth.create_user(s, "admin", is_admin=True)
            p = projects.create_project(s, admin, name="s3", task="image", multi_label=False,
                                        labels=["dark", "light"], featuriser="pixels")
        start_import(ctx, admin, p.id, f"s3://{s3_server.bucket}/{src}")
        jobs = wait_jobs(ctx, p.id)
        assert {j.kind: j.status for j in jobs} == {"import": "succeeded", "featurise": "succeeded"}
        imp = next(j for j in jobs if j.kind == "import")
        assert imp.result is not None
        assert imp.result["added"] == 14 and imp.result["evaluation"] == 1
        assert imp.result["labeled"] == 11
        with ctx.session() as s:
            keys = list(s.scalars(select(Item.blob_key).where(Item.project_id == p.id)))
        stored = s3_server.client().list_objects_v2(Bucket=s3_server.bucket, Prefix=blobs)
        assert {o["Key"].split("/", 1)[1] for o in stored["Contents"]} == set(keys)
        it = labelling.next_items(ctx, admin, p.id, 1)[0]
        data, media = labelling.image_bytes(ctx, admin, p.id, it.id)
        assert media == "image/png" and Image.open(io.BytesIO(data)).size == (20, 20)
        assert "secret" not in ctx.blobs.url and s3_server.storage_options["secret"] not in repr(ctx.blobs)
