"""What an import would find in a source, without importing it: the new-project wizard's
label names, and a check before a long import.

The preview reads the source with the import's own reader (:func:`~labella.ingest.reader
.open_source`), so its columns, label names, splits and bad rows are the import's. Image
sources are previewed from their listing (and ``labels.csv``) alone: no image is opened, so
a broken image is only found by the import.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from labella.ingest.images import LABELS_FILE, ImageSource
from labella.ingest.reader import ImportSource
from labella.ingest.records import RawRecord, RowError
from labella.ingest.tables import TableSource

PREVIEW_MAX_ROWS = 200_000
"""A preview reads at most this many rows or images (``complete`` is false then)."""
PREVIEW_ERRORS = 20
"""How many bad rows a preview lists (it counts them all)."""


def natural_key(name: str) -> list[Any]:
    """Sort key that puts ``"2"`` before ``"10"`` and ignores case."""
    return [(0, int(p), "") if p.isdigit() else (1, 0, p.lower())
            for p in re.split(r"(\d+)", name) if p]


@dataclass(frozen=True)
class Preview:
    """A summary of a source as an import would read it.

    Attributes:
        name: the file or folder name.
        kind: ``table`` or ``images``.
        columns: a table's column names (empty for images).
        text_column: the column the texts come from (tables).
        label_column: the column the labels come from, if any (tables).
        label_source: where label names come from, for people ("column “label”",
            "the folder names", "labels.csv"), or ``None`` when there are none.
        labels: label name -> how many items carry it, in natural order of the names.
        splits: ``pool`` / ``evaluation`` -> how many items go there.
        items: items an import would add to an empty project (distinct contents; images
            are counted by file, not by content).
        labelled: how many of them come with labels.
        duplicates: rows whose content an earlier row already has.
        n_errors: bad rows seen.
        errors: the first :data:`PREVIEW_ERRORS` bad rows (position, source, message).
        complete: whether the whole source was read.
    """

    name: str
    kind: str
    columns: list[str]
    text_column: str | None
    label_column: str | None
    label_source: str | None
    labels: dict[str, int]
    splits: dict[str, int]
    items: int
    labelled: int
    duplicates: int
    n_errors: int
    errors: list[dict[str, Any]] = field(default_factory=list)
    complete: bool = True

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def preview_source(source: ImportSource, *, max_rows: int = PREVIEW_MAX_ROWS,
                   complete: bool = True) -> Preview:
    """Read ``source`` (at most ``max_rows`` rows or images) and summarise it.

    ``complete=False`` says the caller gave only the start of the file (the wizard sends
    the first megabytes of a large table).
    """
    images = isinstance(source, ImageSource)
    records = source.layout() if isinstance(source, ImageSource) else iter(source)
    labels: dict[str, int] = {}
    splits = {"pool": 0, "evaluation": 0}
    seen: set[bytes] = set()
    items = labelled = duplicates = n_errors = rows = 0
    errors: list[dict[str, Any]] = []
    for rec in records:
        rows += 1
        if rows > max_rows:
            complete = False
            break
        if isinstance(rec, RowError):
            n_errors += 1
            if len(errors) < PREVIEW_ERRORS:
                errors.append(asdict(rec))
            continue
        if not images and _seen_before(rec, seen):
            duplicates += 1
            continue
        items += 1
        splits[rec.split] += 1
        if rec.labels is not None:
            labelled += 1
            for name in rec.labels:
                labels[name] = labels.get(name, 0) + 1
    ordered = {k: labels[k] for k in sorted(labels, key=natural_key)}
    columns: list[str] = []
    text_column = label_column = label_source = None
    if isinstance(source, TableSource):
        columns = source.columns
        roles = source.roles
        text_column, label_column = roles.text, roles.label
        label_source = f"column “{label_column}”" if label_column else None
    elif isinstance(source, ImageSource):
        if source.labels_file is not None:
            label_source = LABELS_FILE
        elif ordered:
            label_source = "the folder names"
    return Preview(name=source.name, kind="images" if images else "table", columns=columns,
                   text_column=text_column, label_column=label_column,
                   label_source=label_source, labels=ordered, splits=splits, items=items,
                   labelled=labelled, duplicates=duplicates, n_errors=n_errors, errors=errors,
                   complete=complete)


def _seen_before(rec: RawRecord, seen: set[bytes]) -> bool:
    """Whether an earlier record had the same text (the import's content hash, shortened)."""
    digest = hashlib.sha256((rec.text or "").encode("utf-8", "surrogatepass")).digest()[:16]
    if digest in seen:
        return True
    seen.add(digest)
    return False
