"""What an export writer receives: one :class:`ExportItem` per item and one :class:`ExportSpec`.

Writers are pure: they turn items into files and never touch the database. The
service builds the items (streaming them from the store) and the spec (from the
project). Conventions shared by every format live here:

* ``labels=None`` is an unlabelled item, ``labels=[]`` is a multi-label "none
  applies" answer, a single-label item has exactly one name;
* the ``pool`` split is written as ``train`` and ``evaluation`` as ``test``, the
  names Labella's importers (and most tools) read back as "held out";
* times are ISO 8601 in UTC (a naive ``datetime`` is taken to be UTC already).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from labella.errors import DataError

ExportSplit = Literal["pool", "evaluation"]
SPLIT_NAMES: dict[str, str] = {"pool": "train", "evaluation": "test"}
"""Labella split -> the split name written in exported files."""


@dataclass(frozen=True)
class ExportItem:
    """One item as it is exported.

    Attributes:
        item_id: Labella's id of the item.
        external_id: the source's own id for the item, if it had one.
        text: the text (text tasks).
        image: the image's file name or reference as the service gives it (image tasks).
        labels: the current label name(s); ``None`` = unlabelled; ``[]`` = multi-label
            "none applies".
        split: ``pool`` or ``evaluation``.
        annotator: who gave the current label.
        annotated_at: when (UTC; a naive value is taken to be UTC).
        suggestion: the model's suggested label name(s), same shape as ``labels``.
        confidence: the model's confidence in its suggestion, in [0, 1].
        model_version: the version of the model that made the suggestion.
        meta: other attributes kept from the import (JSON-serialisable).
        consensus_confidence: how sure the consensus of the item's annotators is (vote share
            or Dawid–Skene posterior; 1 for a single answer or a reviewer's decision).
        n_answers: how many annotators' answers stand behind the label.
        source: where the current label came from: ``human``, ``import``, or ``model``
            (accepted from the model's suggestion by an admin, not given by a person).
    """

    item_id: int
    external_id: str | None
    text: str | None
    image: str | None
    labels: list[str] | None
    split: ExportSplit
    annotator: str | None = None
    annotated_at: datetime | None = None
    suggestion: list[str] | None = None
    confidence: float | None = None
    model_version: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    consensus_confidence: float | None = None
    n_answers: int | None = None
    source: str | None = None


@dataclass(frozen=True)
class ExportSpec:
    """What is exported and how: the project's task and label space.

    Attributes:
        project: the project's name (used in dataset cards).
        task: ``text`` or ``image``.
        multi_label: whether an item may carry several labels.
        label_names: the label space, in the project's order (class index order).
        include_unlabeled: also write items without a label.
        image_bytes: returns an item's encoded image; lets the ``hf`` writer embed
            images instead of writing their references.

    Raises:
        DataError: on an unknown task, an empty or repeated label name, a name with
            surrounding whitespace, or a multi-label name containing ``|`` (the
            separator of the CSV ``labels`` column, so it could not be read back).
    """

    project: str
    task: Literal["text", "image"]
    multi_label: bool
    label_names: list[str]
    include_unlabeled: bool = False
    image_bytes: Callable[[ExportItem], bytes] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.task not in ("text", "image"):
            raise DataError(f"export task must be 'text' or 'image'; got {self.task!r}")
        if not self.label_names:
            raise DataError("export needs at least one label name; got none")
        seen: set[str] = set()
        for name in self.label_names:
            if not isinstance(name, str) or not name.strip():
                raise DataError(f"label names must be non-empty strings; got {name!r}")
            if name != name.strip():
                raise DataError(f"label name {name!r} has surrounding whitespace, which a "
                                "re-import would strip; rename the label first")
            if name in seen:
                raise DataError(f"label name {name!r} appears twice in {self.label_names}")
            seen.add(name)
            if self.multi_label and "|" in name:
                raise DataError(f"multi-label name {name!r} contains '|', the separator of "
                                "the labels column, so the export could not be read back; "
                                "rename the label first")


def split_name(item: ExportItem) -> str:
    """``train`` for the pool, ``test`` for the evaluation set."""
    try:
        return SPLIT_NAMES[item.split]
    except KeyError:
        raise DataError(f"item {item.item_id}: split must be 'pool' or 'evaluation'; "
                        f"got {item.split!r}") from None


def iso_utc(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z`` suffix (``2024-05-01T12:00:00Z``); ``None`` stays ``None``."""
    if value is None:
        return None
    return to_utc(value).isoformat().replace("+00:00", "Z")


def to_utc(value: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken to be UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _check_names(item: ExportItem, what: str, names: list[str], spec: ExportSpec,
                 known: frozenset[str]) -> None:
    if not isinstance(names, list):
        raise DataError(f"item {item.item_id}: {what} must be a list of label names; "
                        f"got {type(names).__name__}")
    unknown = [n for n in names if n not in known]
    if unknown:
        raise DataError(f"item {item.item_id}: {what} {unknown} not among the project's "
                        f"labels {spec.label_names}")
    if not spec.multi_label and len(names) != 1:
        raise DataError(f"item {item.item_id}: a single-label item has exactly one {what[:-1]}; "
                        f"got {names}")
    if len(set(names)) != len(names):
        raise DataError(f"item {item.item_id}: {what} {names} repeat a name")


def selected(items: Iterable[ExportItem], spec: ExportSpec) -> Iterator[ExportItem]:
    """The items to write, checked against the spec (unlabelled ones only if asked for).

    Raises:
        DataError: an item's payload is missing for the task, or its labels or suggestion
            are not in the label space / have the wrong arity for the task.
    """
    known = frozenset(spec.label_names)
    for item in items:
        if item.labels is None and not spec.include_unlabeled:
            continue
        payload = item.text if spec.task == "text" else item.image
        if payload is None:
            raise DataError(f"item {item.item_id}: a {spec.task} task needs the item's "
                            f"{spec.task}; got None")
        split_name(item)
        if item.labels is not None:
            _check_names(item, "labels", item.labels, spec, known)
        if item.suggestion is not None:
            _check_names(item, "suggestions", item.suggestion, spec, known)
        yield item


def single(names: list[str] | None) -> str | None:
    """The one name of a single-label answer, or ``None``."""
    return None if names is None else names[0]


@contextmanager
def atomic_file(dest: Path, *, mode: str = "w") -> Iterator[Any]:
    """Open a temporary sibling of ``dest`` and move it into place only if writing succeeds."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        if "b" in mode:
            with tmp_path.open(mode) as f:
                yield f
        else:
            with tmp_path.open(mode, encoding="utf-8", newline="") as f:
                yield f
        os.replace(tmp_path, dest)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextmanager
def atomic_dir(dest: Path) -> Iterator[Path]:
    """A temporary sibling folder that replaces ``dest`` (new or empty) if writing succeeds.

    Raises:
        DataError: ``dest`` is a file or a folder that is not empty.
    """
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise DataError(f"export folder {dest} must be new or empty; it "
                        f"{'is a file' if not dest.is_dir() else 'already holds files'}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent))
    try:
        yield tmp
        if dest.exists():
            dest.rmdir()
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
