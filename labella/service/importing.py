"""Importing data into a project: the ``import`` job.

An import reads a source (an uploaded or local table, image folder or zip, an
``s3://`` URI, or a catalogue dataset) in batches. Each batch is one short
transaction: items whose content is already in the project are skipped (so
re-importing the same data adds nothing), images go to the blob store, labels
present in the source become ``import`` annotations, and ``split=test`` rows
become the evaluation set. A bad row is reported with its position and reason
and the good rows still land. The job is resumable: a re-run skips what landed.
When new items landed, a ``featurise`` job follows.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from labella.ingest.records import RawRecord, RowError
from labella.jobs.runner import JobContext
from labella.service import auth
from labella.service.errors import InvalidRequestError
from labella.store.annotations import Annotation
from labella.store.base import utcnow
from labella.store.items import Item
from labella.store.projects import Project
from labella.tasks import get_task
from labella.tasks.classification import AnnotationError

if TYPE_CHECKING:
    from labella.service.context import ServiceContext

log = logging.getLogger(__name__)

BATCH = 500
MAX_REPORTED_ERRORS = 1000
CATALOGUE_PREFIX = "catalogue:"


@dataclass
class ImportReport:
    added: int = 0
    duplicates: int = 0
    labeled: int = 0
    evaluation: int = 0
    n_errors: int = 0

    def as_dict(self, errors: list[dict[str, Any]]) -> dict[str, Any]:
        return {"added": self.added, "duplicates": self.duplicates, "labeled": self.labeled,
                "evaluation": self.evaluation, "n_errors": self.n_errors, "errors": errors}


def content_hash(rec: RawRecord) -> str:
    data = rec.text.encode("utf-8", "surrogatepass") if rec.text is not None else rec.image or b""
    return hashlib.sha256(data).hexdigest()


LABEL_MODES = ("all", "evaluation", "none")


def start_import(ctx: ServiceContext, user: auth.UserPublic, project_id: int, source: str, *,
                 text_column: str | None = None, label_column: str | None = None,
                 labels: str = "all", cleanup: bool = False) -> Any:
    """Enqueue an ``import`` job.

    Args:
        labels: which labels in the source become annotations: ``all``, only those of the
            ``evaluation`` rows (to label the pool from scratch, e.g. a demo on a labelled
            dataset), or ``none``.
        cleanup: delete ``source`` (an upload) when done.
    """
    with ctx.session() as s:
        auth.require_role(s, user, project_id, "admin")
    if not source:
        raise InvalidRequestError("no source given")
    if labels not in LABEL_MODES:
        raise InvalidRequestError(f"labels must be one of {', '.join(LABEL_MODES)}; got {labels!r}")
    return ctx.enqueue("import", params={"project_id": project_id, "source": source,
                                         "text_column": text_column, "label_column": label_column,
                                         "labels": labels, "user_id": user.id, "cleanup": cleanup},
                       project_id=project_id, created_by=user.id)


def _records(ctx: ServiceContext, project: Project, params: dict[str, Any]
             ) -> tuple[str, int | None, Iterable[RawRecord | RowError]]:
    source: str = params["source"]
    if source.startswith(CATALOGUE_PREFIX):
        from labella.ingest.catalogue import get_entry, read_catalogue

        name = source[len(CATALOGUE_PREFIX):]
        entry = get_entry(name)
        if entry.task != project.task or entry.multi_label != project.multi_label:
            raise InvalidRequestError(
                f"catalogue dataset {name!r} is a {entry.task} "
                f"{'multi' if entry.multi_label else 'single'}-label set; this project is "
                f"{project.task} {'multi' if project.multi_label else 'single'}-label")
        return name, None, read_catalogue(name, limits=ctx.settings.limits,
                                          cache_dir=ctx.settings.data_dir / "hub-cache")
    from labella.ingest.reader import open_source

    src = open_source(source, task=project.task,  # type: ignore[arg-type]
                      multi_label=project.multi_label, limits=ctx.settings.limits,
                      storage_options=ctx.settings.storage_options,
                      text_column=params.get("text_column"), label_column=params.get("label_column"))
    return src.name, src.estimated_total, src


def _batches(records: Iterable[RawRecord | RowError], size: int) -> Iterator[list[RawRecord | RowError]]:
    batch: list[RawRecord | RowError] = []
    for r in records:
        batch.append(r)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def run_import(ctx: ServiceContext, job: JobContext) -> dict[str, Any]:
    params = job.params
    project_id = int(params["project_id"])
    user_id = params.get("user_id")
    with ctx.session() as s:
        project = s.get(Project, project_id)
        if project is None:
            raise InvalidRequestError(f"project {project_id} no longer exists")
        s.expunge(project)
    task = get_task(project.task, project.multi_label)
    name, total, records = _records(ctx, project, params)
    job.log(f"importing {name} into project {project.name!r}")
    report = ImportReport()
    errors: list[dict[str, Any]] = []
    seen = 0

    def bad(pos: int, src: str, msg: str) -> None:
        report.n_errors += 1
        if len(errors) < MAX_REPORTED_ERRORS:
            errors.append({"position": pos, "source": src, "message": msg})

    keep = params.get("labels") or "all"
    job.progress(0, total, f"reading {name}")
    for batch in _batches(records, BATCH):
        good: list[tuple[RawRecord, str, list[str] | None]] = []
        for rec in batch:
            seen += 1
            if isinstance(rec, RowError):
                bad(rec.position, rec.source, rec.message)
                continue
            if keep == "none" or (keep == "evaluation" and rec.split != "evaluation"):
                rec = replace(rec, labels=None)
            try:
                labels = task.validate(rec.labels, project.labels) if rec.labels is not None else None
                if rec.labels is not None and not project.multi_label and not rec.labels:
                    raise AnnotationError("a single-label row needs one label")
            except AnnotationError as exc:
                bad(rec.position, rec.source, str(exc))
                continue
            if (rec.text is None) == (rec.image is None):
                bad(rec.position, rec.source, f"expected a {project.task} item")
                continue
            good.append((rec, content_hash(rec), labels))
        _land(ctx, project, good, user_id, report, job_id=job.job.id)
        job.progress(seen, total, f"{report.added} added, {report.duplicates} already there, "
                                  f"{report.n_errors} bad rows")
    job.progress(seen, seen, "done")
    if report.n_errors:
        job.log(f"{report.n_errors} bad row(s); first: {errors[0]['source']}: {errors[0]['message']}")
    if params.get("cleanup"):
        _cleanup(params["source"])
    if report.added:
        ctx.enqueue("featurise", params={"project_id": project_id}, project_id=project_id,
                    created_by=user_id)
    return report.as_dict(errors)


def _land(ctx: ServiceContext, project: Project, good: list[tuple[RawRecord, str, list[str] | None]],
          user_id: int | None, report: ImportReport, *, job_id: int) -> None:
    if not good:
        return
    hashes = list({h for _, h, _ in good})
    with ctx.session() as s:
        existing = set(s.scalars(select(Item.content_hash).where(
            Item.project_id == project.id, Item.content_hash.in_(hashes))))
        new_items: list[tuple[Item, list[str] | None]] = []
        for rec, h, labels in good:
            if h in existing:
                report.duplicates += 1
                continue
            existing.add(h)
            blob_key = None
            if rec.image is not None:
                suffix = PurePosixPath(rec.image_name or "").suffix.lower()[:9]
                blob_key = ctx.blobs.put(rec.image, suffix=suffix if suffix[1:].isalnum() else "")
            item = Item(project_id=project.id, content_hash=h, text=rec.text, blob_key=blob_key,
                        image_name=rec.image_name, external_id=rec.external_id,
                        meta=rec.meta or {}, split=rec.split, import_job_id=job_id)
            s.add(item)
            new_items.append((item, labels))
        s.flush()
        now = utcnow()
        for item, labels in new_items:
            report.added += 1
            if item.split == "evaluation":
                report.evaluation += 1
            if labels is not None:
                report.labeled += 1
                s.add(Annotation(project_id=project.id, item_id=item.id, user_id=user_id,
                                 action="label", value=labels, source="import", created_at=now))


def _cleanup(source: str) -> None:
    from pathlib import Path

    p = Path(source)
    try:
        if p.is_file():
            p.unlink()
            if p.parent.name.startswith("upload-") and not any(p.parent.iterdir()):
                p.parent.rmdir()
    except OSError as exc:  # leaving an upload behind is harmless; say so
        log.warning("could not remove uploaded file %s: %s", p.name, exc)
