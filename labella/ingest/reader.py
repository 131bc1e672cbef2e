"""One entry point for every import: :func:`open_source` picks the reader by what a source is.

=================================  ===========  ==========================================
source                             task         reader
=================================  ===========  ==========================================
``.csv .tsv .jsonl .ndjson .json   text         :mod:`labella.ingest.tables`
.parquet`` (local or ``s3://``)
folder / ``s3://bucket/prefix``    image        :mod:`labella.ingest.images`
``.zip`` (local or ``s3://``)      image, text  :mod:`labella.ingest.archives`
=================================  ===========  ==========================================

Whole-source problems (missing, too big, unknown format, no text column, a zip over
its limits) raise :class:`~labella.errors.DataError` here, before any record; per-row
problems come out of the iteration as :class:`~labella.ingest.records.RowError`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any, Literal, Protocol

from labella.config import Limits
from labella.errors import DataError
from labella.ingest.archives import open_zip, zip_holds_images
from labella.ingest.images import IMAGE_SUFFIXES, open_folder
from labella.ingest.records import RawRecord, RowError
from labella.ingest.remote import LocalFiles, display_url, is_s3_url, locate
from labella.ingest.tables import TABLE_SUFFIXES, TableSource

__all__ = ["ImportSource", "guess_task", "open_source"]


class ImportSource(Protocol):
    """A source being imported: iterate it for records and row errors, in source order.

    Iteration streams (nothing close to the whole source is held in memory) and may be
    repeated; each pass reads the source again.
    """

    @property
    def name(self) -> str:
        """Short display name (file or folder name)."""
        ...

    @property
    def estimated_total(self) -> int | None:
        """Expected number of rows or images, for progress bars; ``None`` if unknown."""
        ...

    def __iter__(self) -> Iterator[RawRecord | RowError]: ...


def guess_task(source: str | os.PathLike[str], *, limits: Limits,
               storage_options: dict[str, Any] | None = None) -> Literal["text", "image"]:
    """The task a source is for, by what it is: a folder, prefix or zip of images is
    ``image``; a table (or a zip holding one) is ``text``.

    Raises:
        DataError: the source does not exist.
    """
    raw = os.fspath(source)
    files, path = locate(raw, storage_options)
    kind = files.kind(path)
    if kind is None:
        shown = display_url(raw) if is_s3_url(raw) else files.display(path)
        raise DataError(f"{shown}: no such file or folder")
    if kind == "dir":
        return "image"
    name = PurePosixPath(path.replace("\\", "/")).name
    if PurePosixPath(name).suffix.lower() == ".zip":
        return "image" if zip_holds_images(lambda: files.open(path), name=name,
                                           limits=limits) else "text"
    return "image" if PurePosixPath(name).suffix.lower() in IMAGE_SUFFIXES else "text"


def _formats() -> str:
    return ", ".join([*sorted(TABLE_SUFFIXES), ".zip", "a folder of images"])


def open_source(
    source: str | os.PathLike[str],
    *,
    task: Literal["text", "image"],
    multi_label: bool,
    limits: Limits,
    storage_options: dict[str, Any] | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
) -> ImportSource:
    """Open ``source`` (a local path or ``s3://`` URL) for a ``task`` import.

    ``storage_options`` go to s3fs (``endpoint_url``, ``key``, ``secret``, ...) and never
    appear in messages. ``text_column`` / ``label_column`` name the columns to use
    instead of ``text`` and ``label``/``labels`` (case-insensitive).
    """
    if task not in ("text", "image"):
        raise DataError(f"unknown task {task!r}; expected 'text' or 'image'")
    raw = os.fspath(source)
    files, path = locate(raw, storage_options)
    shown = display_url(raw) if is_s3_url(raw) else files.display(path)
    kind = files.kind(path)
    if kind is None:
        raise DataError(f"{shown}: no such file or folder")
    name = PurePosixPath(path.replace("\\", "/")).name or path
    if kind == "dir":
        if task == "text":
            raise DataError(f"{shown} is a folder; text data must be a table file "
                            f"({', '.join(sorted(TABLE_SUFFIXES))}) or a .zip holding one")
        return open_folder(files, path, name=name, multi_label=multi_label, limits=limits)

    size = files.size(path)
    if size > limits.max_file_bytes:
        raise DataError(f"{shown}: {size:,} bytes; the limit is {limits.max_file_bytes:,}")
    suffix = PurePosixPath(name).suffix.lower()

    def opener() -> Any:
        return files.open(path)

    if suffix == ".zip":
        return open_zip(opener, name=name, task=task, multi_label=multi_label, limits=limits,
                        text_column=text_column, label_column=label_column)
    if suffix in TABLE_SUFFIXES:
        if task == "image":
            raise DataError(f"{shown} is a {suffix} table; image data must be a folder, an "
                            "s3:// prefix or a .zip of images")
        return TableSource(name=name, kind=TABLE_SUFFIXES[suffix], opener=opener,
                           multi_label=multi_label, limits=limits, text_column=text_column,
                           label_column=label_column, size=size,
                           exact_count=isinstance(files, LocalFiles))
    if suffix in IMAGE_SUFFIXES:
        raise DataError(f"{shown} is a single image; expected a folder or a .zip of images")
    raise DataError(f"{shown}: unknown format {suffix or '(no extension)'!r}; expected "
                    f"{_formats()}")
