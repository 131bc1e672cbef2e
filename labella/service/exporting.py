"""Exporting a project's labels (CSV, JSONL, Hugging Face, Label Studio) and its model.

Labels are streamed from the database in id order into the pure writers of
:mod:`labella.export`; the file lands in a folder of its own under the data
directory's ``exports`` (a Hugging Face folder is zipped) and is returned for
download. The model is saved in the safe format of :mod:`labella.al.serialize`
(JSON metadata + ``.npz`` arrays, no pickle) and zipped.

Exports run side by side: each request writes only in its own folder, the caller
removes it with :func:`discard` once the file is sent, and folders left behind (a
crash, a dropped download) are removed only when older than :data:`GRACE_SECONDS`,
so no request ever deletes another's file in flight.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from labella.al.serialize import can_save, save_head
from labella.export import ExportItem, ExportSpec, get_format
from labella.export import export_labels as write_labels
from labella.service import auth
from labella.service.errors import InvalidRequestError
from labella.service.labels import current_labels
from labella.service.versions import NOW, snapshot_labels, version_exists
from labella.store.items import Item
from labella.store.projects import Project
from labella.store.users import User

if TYPE_CHECKING:
    from labella.service.context import ServiceContext

PAGE = 2000
GRACE_SECONDS = 6 * 3600
"""Export folders older than this are leftovers (the request that made them is long over)."""
PREFIX = "export-"


def _work_dir(ctx: ServiceContext) -> Path:
    """A new folder of this request's own under ``exports``; prunes old leftovers first."""
    root = ctx.settings.data_dir / "exports"
    root.mkdir(parents=True, exist_ok=True)
    cutoff = time.time() - GRACE_SECONDS
    for p in root.iterdir():
        try:
            old = p.lstat().st_mtime < cutoff
        except FileNotFoundError:  # another request removed it just now
            continue
        if old:
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    return Path(tempfile.mkdtemp(prefix=PREFIX, dir=root))


def discard(path: Path) -> None:
    """Remove an export returned by :func:`export_labels` / :func:`export_model` (and its
    folder) once it has been sent or moved."""
    folder = path.parent
    if folder.name.startswith(PREFIX) and folder.parent.name == "exports":
        shutil.rmtree(folder, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _items(ctx: ServiceContext, project: Project, include_unlabeled: bool,
           served: dict[int, tuple[list[str] | None, float | None, int]],
           version: str | None = None) -> Iterator[ExportItem]:
    # a read session: an export reads for a while, and must not hold the SQLite write
    # lock meanwhile (nor hold it while the tie-breaking probabilities wait for the loop)
    with ctx.readers() as s:
        labels = snapshot_labels(s, project.id, version) if version else \
            current_labels(s, project.id, proba_for=ctx.loops.proba_for(project.id))
        users = dict(s.execute(select(User.id, User.username)).all())
        last = 0
        while True:
            rows = list(s.scalars(select(Item).where(Item.project_id == project.id, Item.id > last)
                                  .order_by(Item.id).limit(PAGE)))
            if not rows:
                return
            last = rows[-1].id
            for it in rows:
                cur = labels.get(it.id)
                if cur is None and not include_unlabeled:
                    continue
                sugg = served.get(it.id)
                yield ExportItem(
                    item_id=it.id, external_id=it.external_id, text=it.text,
                    image=(it.image_name or it.blob_key) if project.task == "image" else None,
                    labels=cur.labels if cur else None,
                    split="evaluation" if it.split == "evaluation" else "pool",
                    annotator=users.get(cur.user_id) if cur and cur.user_id else None,
                    annotated_at=cur.created_at if cur else None,
                    suggestion=sugg[0] if sugg else None, confidence=sugg[1] if sugg else None,
                    model_version=sugg[2] if sugg else None,
                    meta={**(it.meta or {}), **({"dataset_version": version} if version else {})},
                    # a frozen version keeps labels only, not how they were reached
                    consensus_confidence=cur.confidence if cur and not version else None,
                    n_answers=cur.n_answers if cur and not version else None,
                    source=cur.source if cur and not version else None)


def export_labels(ctx: ServiceContext, user: auth.UserPublic, project_id: int, fmt: str, *,
                  include_unlabeled: bool = False, version: str | None = None
                  ) -> tuple[Path, str]:
    """Write the project's labels in ``fmt``; returns (file, media type).

    ``version``: the labels of that dataset version (:mod:`labella.service.versions`)
    instead of the current ones; the file name ends with the version's name, each item's
    ``meta`` says ``dataset_version``, and the current model's suggestions are left out
    (they belong to another model than the version's).
    """
    info = get_format(fmt)  # UnknownNameError lists the formats
    version = None if version == NOW else version
    with ctx.session() as s:
        auth.require_role(s, user, project_id)
        project = s.get(Project, project_id)
        if project is None:
            raise InvalidRequestError(f"no project {project_id}")
        if version:
            version_exists(s, project_id, version)
        s.expunge(project)
    served = {} if version else _suggestions(ctx, project_id)
    image_bytes = None
    if project.task == "image" and fmt == "hf":
        keys: dict[int, str] = {}
        with ctx.sessions() as s:
            for iid, key in s.execute(select(Item.id, Item.blob_key)
                                      .where(Item.project_id == project_id)):
                if key:
                    keys[iid] = key

        def image_bytes(item: ExportItem) -> bytes:
            return ctx.blobs.get(keys[item.item_id])

    spec = ExportSpec(project=project.name, task=project.task,  # type: ignore[arg-type]
                      multi_label=project.multi_label, label_names=list(project.labels),
                      include_unlabeled=include_unlabeled, image_bytes=image_bytes)
    out_dir = _work_dir(ctx)
    stem = f"{_slug(project.name)}-labels" + (f"-{_slug(version)}" if version else "")
    items = _items(ctx, project, include_unlabeled, served, version)
    try:
        if info.kind == "directory":
            folder = write_labels(items, spec, fmt, out_dir / "files" / stem)
            archive = shutil.make_archive(str(out_dir / stem), "zip", root_dir=folder)
            shutil.rmtree(out_dir / "files")
            return Path(archive), info.media_type
        return write_labels(items, spec, fmt, out_dir / f"{stem}{info.extension}"), info.media_type
    except BaseException:
        shutil.rmtree(out_dir, ignore_errors=True)
        raise


def _suggestions(ctx: ServiceContext, project_id: int) -> dict[int, tuple[list[str] | None, float | None, int]]:
    """The current model's suggestion for every pool item (when the loop has a model)."""
    st = ctx.loops.state(project_id)
    with st.lock:
        if st.proba is None:
            return {}
        proba, version, ids = st.proba, st.version, st.index.item_ids
    names = st.task.from_prediction(proba, st.label_names)
    conf = st.task.confidence(proba)
    return {int(i): (n, float(c), version) for i, n, c in zip(ids, names, conf, strict=True)}


def export_model(ctx: ServiceContext, user: auth.UserPublic, project_id: int) -> Path:
    """The loop's current head, saved safely and zipped."""
    with ctx.session() as s:
        auth.require_role(s, user, project_id)
        project = s.get(Project, project_id)
        name = project.name if project else str(project_id)
    st = ctx.loops.state(project_id)
    with st.lock:
        head, version = st.head, st.version
    if head is None:
        raise InvalidRequestError("the project has no model yet: label some items first")
    if not can_save(head):
        raise InvalidRequestError(f"a {type(head).__name__} head cannot be exported safely yet")
    out_dir = _work_dir(ctx)
    stem = f"{_slug(name)}-model-v{version}"
    try:
        folder = save_head(head, out_dir / "files" / stem, featuriser_key=st.featuriser_key,
                           class_names=st.label_names)
        archive = Path(shutil.make_archive(str(out_dir / stem), "zip", root_dir=folder))
        shutil.rmtree(out_dir / "files")
        return archive
    except BaseException:
        shutil.rmtree(out_dir, ignore_errors=True)
        raise


def _slug(name: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")[:60] or "project"
