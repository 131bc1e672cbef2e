"""Importing data into a project: the ``import`` job.

An import reads a source (an uploaded or local table, image folder or zip, an
``s3://`` URI, or a catalogue dataset) in batches. Each batch is one short
transaction: items whose content is already in the project are skipped (so
re-importing the same data adds nothing), images go to the blob store, labels
present in the source become ``import`` annotations, and ``split=test`` rows
become the evaluation set. A bad row is reported with its position and reason
and the good rows still land: values no database can store (NUL characters, ids over
:data:`~labella.ingest.cells.MAX_ID_CHARS`) are caught by the reader, and should a batch
still be refused, its rows are stored one by one so that only the refused ones are
reported (never with the database's own message). The job is resumable: a re-run skips
what landed. When new items landed, a ``featurise`` job follows. An uploaded file is
removed when its import ends, however it ends (:mod:`labella.service.uploads`).

:func:`preview_source` / :func:`preview_upload` read a source the same way without
importing it: the new-project wizard shows its columns, label names and splits.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from typing import IO, TYPE_CHECKING, Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import select

from labella.ingest.records import RawRecord, RowError
from labella.jobs.runner import JobContext, JobInterrupted
from labella.service import auth, uploads
from labella.service.errors import InvalidRequestError, PermissionDeniedError
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
    """Rows whose content the project already had: before this import, or from an earlier
    row of the same import (those are also counted in ``repeated_in_file``)."""
    repeated_in_file: int = 0
    labeled: int = 0
    evaluation: int = 0
    n_errors: int = 0

    def as_dict(self, errors: list[dict[str, Any]]) -> dict[str, Any]:
        return {"added": self.added, "duplicates": self.duplicates,
                "repeated_in_file": self.repeated_in_file, "labeled": self.labeled,
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
    job = ctx.enqueue("import", params={"project_id": project_id, "source": source,
                                        "text_column": text_column, "label_column": label_column,
                                        "labels": labels, "user_id": user.id, "cleanup": cleanup},
                      project_id=project_id, created_by=user.id)
    if cleanup:
        uploads.claim_upload(ctx, source, job.id)
    return job


def import_upload(ctx: ServiceContext, user: auth.UserPublic, project_id: int,
                  stream: IO[bytes], filename: str | None, *, text_column: str | None = None,
                  label_column: str | None = None, labels: str = "all") -> Any:
    """Store an uploaded file and enqueue its import; the file goes when the import ends."""
    with ctx.session() as s:
        auth.require_role(s, user, project_id, "admin")
    uploads.sweep_uploads(ctx)
    path = uploads.save_upload(ctx, stream, filename)
    try:
        return start_import(ctx, user, project_id, str(path), text_column=text_column,
                            label_column=label_column, labels=labels, cleanup=True)
    except BaseException:
        uploads.remove_upload(ctx, path)
        raise


def check_source(user: auth.UserPublic, source: str) -> str:
    """``source`` stripped, if ``user`` may read it: an ``s3://`` URI or a catalogue dataset
    for anyone, a path on the server for site admins only."""
    src = source.strip()
    if not src:
        raise InvalidRequestError("no source given")
    if not (src.startswith("s3://") or src.startswith(CATALOGUE_PREFIX)) and not user.is_admin:
        raise PermissionDeniedError("only site admins may import from paths on the server; "
                                    "upload the file instead")
    return src


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


def printable(text: str) -> str:
    """``text`` as any database can store it in a job's result: NUL and lone surrogates escaped."""
    return text.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")


def _where(rec: RawRecord) -> str:
    """How a message names a record: its image file, or its row."""
    if rec.image_name is not None:
        from labella.ingest.images import short_name

        return short_name(rec.image_name)
    return f"row {rec.position}"


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
    """The ``import`` job; an uploaded source is removed when the job ends, however it ends
    (only a run interrupted to be resumed keeps it)."""
    uploads.sweep_uploads(ctx)
    resumed_later = False
    try:
        return _run_import(ctx, job)
    except JobInterrupted:
        resumed_later = job.resumable
        raise
    finally:
        if job.params.get("cleanup") and not resumed_later:
            uploads.remove_upload(ctx, job.params["source"])


def _run_import(ctx: ServiceContext, job: JobContext) -> dict[str, Any]:
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
            errors.append({"position": pos, "source": printable(src), "message": printable(msg)})

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
                bad(rec.position, rec.source, f"{_where(rec)}: {exc}")
                continue
            if (rec.text is None) == (rec.image is None):
                bad(rec.position, rec.source, f"{_where(rec)}: expected a {project.task} item")
                continue
            good.append((rec, content_hash(rec), labels))
        _land_batch(ctx, project, good, user_id, report, bad, job_id=job.job.id)
        job.progress(seen, total, f"{report.added} added, {report.duplicates} duplicates, "
                                  f"{report.n_errors} bad rows")
    job.progress(seen, seen, "done")
    if report.n_errors:
        job.log(f"{report.n_errors} bad row(s); first: {errors[0]['source']}: {errors[0]['message']}")
    if report.added:
        ctx.enqueue("featurise", params={"project_id": project_id}, project_id=project_id,
                    created_by=user_id)
    return report.as_dict(errors)


Good = list[tuple[RawRecord, str, "list[str] | None"]]
"""Checked records with their content hash and validated labels."""


def _land_batch(ctx: ServiceContext, project: Project, good: Good, user_id: int | None,
                report: ImportReport, bad: Callable[[int, str, str], None], *,
                job_id: int) -> None:
    """Store ``good`` in one transaction; if the database refuses it, row by row, reporting
    only the rows it refuses (with a plain message, never the database's)."""
    try:
        _land(ctx, project, good, user_id, report, job_id=job_id)
        return
    except sa_exc.StatementError as exc:
        if not _refused(exc):
            raise  # the database is unreachable or busy: the job fails (and may be resumed)
        if len(good) == 1:
            rec = good[0][0]
            log.warning("import into project %d: %s was refused by the database (%s)",
                        project.id, rec.source, type(exc).__name__)
            bad(rec.position, rec.source, "the database refused this row (a value it cannot "
                                          "store); nothing of it was imported")
            return
    for one in good:
        _land_batch(ctx, project, [one], user_id, report, bad, job_id=job_id)


def _refused(exc: sa_exc.StatementError) -> bool:
    """Whether the database refused the values (not: it could not be reached)."""
    if isinstance(exc, sa_exc.DataError | sa_exc.IntegrityError):
        return True
    return not isinstance(exc, sa_exc.DBAPIError)  # a value the driver could not send


def _land(ctx: ServiceContext, project: Project, good: Good, user_id: int | None,
          report: ImportReport, *, job_id: int) -> None:
    if not good:
        return
    tally = ImportReport()
    hashes = list({h for _, h, _ in good})
    with ctx.session() as s:
        found = s.execute(select(Item.content_hash, Item.import_job_id).where(
            Item.project_id == project.id, Item.content_hash.in_(hashes))).all()
        existing = {h for h, _ in found}
        this_import = {h for h, j in found if j == job_id}  # landed by an earlier batch
        new_items: list[tuple[Item, list[str] | None]] = []
        for rec, h, labels in good:
            if h in existing:
                tally.duplicates += 1
                tally.repeated_in_file += h in this_import
                continue
            existing.add(h)
            this_import.add(h)
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
            tally.added += 1
            if item.split == "evaluation":
                tally.evaluation += 1
            if labels is not None:
                tally.labeled += 1
                s.add(Annotation(project_id=project.id, item_id=item.id, user_id=user_id,
                                 action="label", value=labels, source="import", created_at=now))
    # counted once the transaction committed: a refused batch counts nothing
    report.added += tally.added
    report.duplicates += tally.duplicates
    report.repeated_in_file += tally.repeated_in_file
    report.evaluation += tally.evaluation
    report.labeled += tally.labeled


# ---------------------------------------------------------------------------- preview


def preview_source(ctx: ServiceContext, user: auth.UserPublic, source: str, *, task: str,
                   multi_label: bool, text_column: str | None = None,
                   label_column: str | None = None, complete: bool = True) -> dict[str, Any]:
    """What an import of ``source`` (an ``s3://`` URI, or for site admins a path on the
    server) would find: columns, label names, splits, bad rows; read by the import's own
    reader (see :mod:`labella.ingest.preview`)."""
    src = check_source(user, source)
    if src.startswith(CATALOGUE_PREFIX):
        raise InvalidRequestError("a catalogue dataset is not previewed; /api/catalogue lists "
                                  "its labels")
    return _preview(ctx, src, task=task, multi_label=multi_label, text_column=text_column,
                    label_column=label_column, complete=complete)


def _preview(ctx: ServiceContext, source: str, *, task: str, multi_label: bool,
             text_column: str | None, label_column: str | None,
             complete: bool) -> dict[str, Any]:
    from labella.ingest.preview import preview_source as summarise
    from labella.ingest.reader import open_source

    if task not in ("text", "image"):
        raise InvalidRequestError(f"task must be text or image; got {task!r}")
    opened = open_source(source, task=task,  # type: ignore[arg-type]
                         multi_label=multi_label, limits=ctx.settings.limits,
                         storage_options=ctx.settings.storage_options,
                         text_column=text_column or None, label_column=label_column or None)
    return summarise(opened, complete=complete).as_dict()


def preview_upload(ctx: ServiceContext, user: auth.UserPublic, stream: IO[bytes],
                   filename: str | None, *, task: str, multi_label: bool,
                   text_column: str | None = None, label_column: str | None = None,
                   complete: bool = True) -> dict[str, Any]:
    """:func:`preview_source` of an uploaded file, which is removed before this returns."""
    uploads.sweep_uploads(ctx)
    path = uploads.save_upload(ctx, stream, filename)
    try:
        return _preview(ctx, str(path), task=task, multi_label=multi_label,
                        text_column=text_column, label_column=label_column, complete=complete)
    finally:
        uploads.remove_upload(ctx, path)
