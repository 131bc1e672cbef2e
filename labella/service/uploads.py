"""Uploaded files on their way into an import (or a preview), and their removal.

An upload is kept in its own folder, ``<data_dir>/uploads/upload-<random>/<name>``,
for exactly as long as something needs it:

* a preview reads it and removes it at once;
* an import job removes it when the job ends, whatever the outcome (succeeded, failed
  or cancelled); only a run that is interrupted to be resumed later keeps it;
* :func:`sweep_uploads` removes what a crash left behind: folders of import jobs that
  ended without running their handler (failed at crash recovery, cancelled while
  queued, or deleted), and folders no job claimed within :data:`UNCLAIMED_SECONDS`.
  It runs when the service starts and before every import and preview.

A folder is tied to its job by a ``.job`` file holding the job's id.
"""

from __future__ import annotations

import logging
import shutil
import time
import uuid
from pathlib import Path
from typing import IO, TYPE_CHECKING

from labella.jobs.queue import JobNotFoundError
from labella.service.errors import InvalidRequestError

if TYPE_CHECKING:
    from labella.service.context import ServiceContext

log = logging.getLogger(__name__)

PREFIX = "upload-"
JOB_FILE = ".job"
UNCLAIMED_SECONDS = 3600.0
"""An upload folder no job has claimed after this long is removed by :func:`sweep_uploads`."""
MAX_NAME_BYTES = 200
"""Longest upload file name kept (file systems stop at 255 bytes)."""
_CHUNK = 1 << 20


def uploads_dir(ctx: ServiceContext) -> Path:
    return ctx.settings.data_dir / "uploads"


def save_upload(ctx: ServiceContext, stream: IO[bytes], filename: str | None) -> Path:
    """Write ``stream`` to a fresh upload folder; the file's path.

    Raises:
        InvalidRequestError: a file name that is empty, hidden, unprintable or over
            :data:`MAX_NAME_BYTES`, or more bytes than
            ``limits.max_file_bytes`` (nothing is left on disk then).
    """
    name = Path((filename or "upload").replace("\\", "/")).name
    if not name or name.startswith(".") or not name.isprintable():
        raise InvalidRequestError(f"bad upload file name {filename!r}")
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise InvalidRequestError(f"upload file name of {len(name.encode('utf-8')):,} bytes; "
                                  f"at most {MAX_NAME_BYTES} (rename the file)")
    folder = uploads_dir(ctx) / f"{PREFIX}{uuid.uuid4().hex}"
    folder.mkdir(parents=True)
    dest = folder / name
    limit = ctx.settings.limits.max_file_bytes
    written = 0
    try:
        with dest.open("wb") as out:
            while chunk := stream.read(_CHUNK):
                written += len(chunk)
                if written > limit:
                    raise InvalidRequestError(f"upload is larger than the {limit:,} byte limit")
                out.write(chunk)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return dest


def _folder_of(ctx: ServiceContext, path: str | Path) -> Path | None:
    """The upload folder holding ``path``, or ``None`` when ``path`` is not an upload."""
    p = Path(path)
    root = uploads_dir(ctx).resolve()
    folder = p.parent
    try:
        inside = folder.resolve().parent == root
    except OSError:
        return None
    return folder if inside and folder.name.startswith(PREFIX) else None


def claim_upload(ctx: ServiceContext, path: str | Path, job_id: int) -> None:
    """Tie the upload at ``path`` to the import job ``job_id``."""
    folder = _folder_of(ctx, path)
    if folder is None:
        return
    try:
        (folder / JOB_FILE).write_text(str(job_id), encoding="ascii")
    except FileNotFoundError:
        pass  # the job already ran and removed it


def remove_upload(ctx: ServiceContext, path: str | Path) -> None:
    """Remove the upload at ``path`` with its folder; anything outside the uploads folder is
    left alone (an import from a path on the server never deletes it)."""
    folder = _folder_of(ctx, path)
    if folder is None:
        return
    shutil.rmtree(folder, ignore_errors=True)
    if folder.exists():  # leaving an upload behind is harmless; say so
        log.warning("could not remove the upload folder %s", folder.name)


def _job_of(folder: Path) -> int | None:
    try:
        return int((folder / JOB_FILE).read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None


def sweep_uploads(ctx: ServiceContext, *, unclaimed_seconds: float = UNCLAIMED_SECONDS) -> int:
    """Remove upload folders nothing will read again; how many were removed."""
    root = uploads_dir(ctx)
    if not root.is_dir():
        return 0
    removed = 0
    now = time.time()
    for folder in root.iterdir():
        if not folder.is_dir() or not folder.name.startswith(PREFIX):
            continue
        job_id = _job_of(folder)
        if job_id is None:  # idle since the last byte was written?
            try:
                touched = max(p.stat().st_mtime for p in (folder, *folder.iterdir()))
            except OSError:
                continue
            stale = now - touched > unclaimed_seconds
        else:
            try:
                stale = ctx.jobs.get(job_id).terminal
            except JobNotFoundError:
                stale = True
        if stale:
            shutil.rmtree(folder, ignore_errors=True)
            removed += not folder.exists()
    if removed:
        log.info("removed %d upload folder(s) no import needs any more", removed)
    return removed
