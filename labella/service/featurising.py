"""Featurising a project's items: the ``featurise`` job.

Embeds every item of the project whose embedding is not in the cache yet, in
chunks; each chunk is persisted as soon as it is done, so a job interrupted by a
crash resumes where it stopped (the cache keeps finished chunks). Items that
cannot be featurised (an image that will not decode) are reported and left
out of the pool. When done, the project's loop state is rebuilt in the
background and swapped in.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import select

from labella.features.cache import FeaturiseError
from labella.jobs.runner import JobContext
from labella.service.errors import InvalidRequestError
from labella.store.items import Item
from labella.store.projects import Project

if TYPE_CHECKING:
    from labella.service.context import ServiceContext

log = logging.getLogger(__name__)

CHUNK = {"text": 1024, "image": 64}


def run_featurise(ctx: ServiceContext, job: JobContext) -> dict[str, Any]:
    project_id = int(job.params["project_id"])
    with ctx.session() as s:
        project = s.get(Project, project_id)
        if project is None:
            raise InvalidRequestError(f"project {project_id} no longer exists")
        rows = s.execute(select(Item.id, Item.content_hash).where(Item.project_id == project_id)
                         .order_by(Item.id)).all()
        featuriser_name, modality = project.featuriser, project.task
    featuriser = ctx.featuriser(featuriser_name)
    hashes = [r[1].encode("ascii") for r in rows]
    _, found = ctx.cache.lookup(featuriser, hashes)
    todo = [int(r[0]) for r, ok in zip(rows, found, strict=True) if not ok]
    total = len(todo)
    job.log(f"{len(rows)} items, {len(rows) - total} already embedded, {total} to embed "
            f"with {featuriser.key}")
    job.progress(0, total, f"embedding with {featuriser_name}")
    failed: dict[int, str] = {}
    chunk = CHUNK.get(modality, 256)
    done = 0
    for start in range(0, total, chunk):
        ids = todo[start:start + chunk]
        with ctx.session() as s:
            items = s.execute(select(Item.id, Item.text, Item.blob_key)
                              .where(Item.id.in_(ids)).order_by(Item.id)).all()
        payload: list[Any] = []
        keep: list[int] = []
        for item_id, text, blob_key in items:
            if modality == "text":
                payload.append(text or "")
                keep.append(item_id)
            else:
                try:
                    if not blob_key:
                        raise ValueError("the item has no image blob")
                    payload.append(ctx.blobs.get(blob_key))
                    keep.append(item_id)
                except Exception as exc:  # a missing blob is reported per item, never fatal
                    failed[item_id] = f"image blob unavailable: {exc}"
        try:
            ctx.cache.get_or_compute(featuriser, payload)
        except FeaturiseError as exc:
            for pos, msg in exc.errors.items():
                failed[keep[pos]] = msg
        done += len(ids)
        job.progress(done, total, f"{done} of {total} embedded"
                                  + (f", {len(failed)} failed" if failed else ""))
    if failed:
        first = next(iter(failed.items()))
        job.log(f"{len(failed)} item(s) could not be featurised; item {first[0]}: {first[1]}")
    ctx.loops.reload(project_id)
    return {"embedded": total - len(failed), "already_cached": len(rows) - total,
            "failed": len(failed),
            "failures": [{"item_id": k, "message": v} for k, v in list(failed.items())[:200]],
            "featuriser": featuriser.key, "dim": int(featuriser.dim),
            "n_items": len(rows), "n_embedded_total": int(np.sum(found)) + total - len(failed)}
