"""Deleting a project: its rows, its image blobs, its cached embeddings and its jobs.

Deletion is for the project's admins (site admins are admins of every project) and needs the
project's exact name as confirmation, so a stray request or a wrong id deletes nothing. Rows go
in one transaction (items, annotations, model versions, events, members and jobs cascade from
the project row). Blobs and embeddings are content-addressed and may be shared with other
projects that hold the same content: only those no other project uses are removed, after the
transaction committed (a crash in between leaves unused files, never a dangling reference).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import delete, select

from labella.service import auth
from labella.service.datamap import MAP_KIND
from labella.service.errors import InvalidRequestError
from labella.store.items import Item
from labella.store.projects import Project

if TYPE_CHECKING:
    from labella.service.context import ServiceContext


@dataclass(frozen=True)
class DeletedProject:
    """What a deletion removed."""

    id: int
    name: str
    items: int
    blobs: int
    embeddings: int
    jobs_cancelled: int


def _chunks(values: list[str], size: int = 500) -> list[list[str]]:
    """``values`` in pieces small enough for one ``IN (...)`` on every database."""
    return [values[i:i + size] for i in range(0, len(values), size)]


def delete_project(ctx: ServiceContext, user: auth.UserPublic, project_id: int, *,
                   confirm: str) -> DeletedProject:
    """Delete ``project_id`` and everything only it holds.

    Args:
        confirm: the project's name, typed by the person deleting it.

    Raises:
        NotFoundError: no such project (or the caller is not a member).
        PermissionDeniedError: the caller is not one of its admins.
        InvalidRequestError: ``confirm`` is not the project's name.
    """
    with ctx.session() as s:
        auth.require_role(s, user, project_id, "admin")
        project = s.get(Project, project_id)
        assert project is not None  # require_role checked it exists
        name = project.name
    if confirm != name:
        raise InvalidRequestError(f"to delete the project, confirm with its exact name "
                                  f"({name!r}); got {confirm[:200]!r}")
    cancelled = 0
    maps: set[str] = set()  # data maps' coordinate files (labella.service.datamap)
    for job in ctx.jobs.list(project_id=project_id, limit=10_000):
        if not job.terminal:
            ctx.jobs.cancel(job.id)
            cancelled += 1
        if job.kind == MAP_KIND and job.result and job.result.get("blob"):
            maps.add(str(job.result["blob"]))
    with ctx.session() as s:
        rows = s.execute(select(Item.content_hash, Item.blob_key)
                         .where(Item.project_id == project_id)).all()
        hashes = {h for h, _ in rows}
        blobs = {b for _, b in rows if b}
        shared_hashes: set[str] = set()
        shared_blobs: set[str] = set()
        for part in _chunks(sorted(hashes)):
            shared_hashes.update(s.scalars(select(Item.content_hash).where(
                Item.project_id != project_id, Item.content_hash.in_(part))))
        for part in _chunks(sorted(blobs)):
            shared_blobs.update(b for b in s.scalars(select(Item.blob_key).where(
                Item.project_id != project_id, Item.blob_key.in_(part))) if b)
        s.execute(delete(Item).where(Item.project_id == project_id))
        s.execute(delete(Project).where(Project.id == project_id))
    ctx.loops.forget(project_id)
    gone_blobs = 0
    for key in sorted((blobs - shared_blobs) | maps):
        ctx.blobs.delete(key)
        gone_blobs += 1
    gone_vectors = ctx.cache.forget([h.encode("ascii") for h in hashes - shared_hashes])
    return DeletedProject(project_id, name, len(rows), gone_blobs, gone_vectors, cancelled)
