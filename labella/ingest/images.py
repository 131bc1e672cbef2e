"""Image folders (local or S3) and the checks every imported image goes through.

Layout, relative to the root (a folder, an S3 prefix or a zip archive):

* ``[split/]class/file``: the class folder's name is the label; a top-level folder
  named as in :data:`~labella.ingest.records.SPLIT_FOLDERS` (``train``, ``val``, ``test``,
  ... any case) is a split, not a class. Deeper folders belong to their top class folder.
* images directly in the root (or directly in a split folder) are unlabelled.
* a ``labels.csv`` in the root (``filename,labels[,split]``, file names relative
  to the root, labels ``|``-separated, empty = unlabelled) is then the only source
  of labels: images it does not list are unlabelled. Its ``split`` cell, when
  given, wins over a split folder. Other columns go to ``meta``.

Hidden files and folders and ``__MACOSX`` are skipped; files with another
extension are skipped (and counted in the log). Order is sorted by path.

Every image is checked before it becomes a record (:func:`check_image`): its size
in bytes, its pixel count *before* decoding (decompression bombs), then a full
decode to catch truncated or corrupt files.
"""

from __future__ import annotations

import contextlib
import io
import logging
import struct
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from PIL import Image

from labella.config import Limits
from labella.errors import DataError
from labella.ingest.cells import (
    MAX_NAME_CHARS,
    RowProblem,
    check_meta,
    check_string,
    json_safe,
    parse_labels,
    parse_split,
)
from labella.ingest.records import SPLIT_FOLDERS, RawRecord, RowError, Split, split_of
from labella.ingest.remote import Files, Listed
from labella.ingest.textfiles import csv_rows, header_names, utf8_problem

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff"})
PIL_FORMATS = ("JPEG", "MPO", "PNG", "GIF", "BMP", "DIB", "WEBP", "TIFF")
"""Decoders Pillow may use: the ones for :data:`IMAGE_SUFFIXES`, nothing exotic."""
LABELS_FILE = "labels.csv"
_FILENAME_COLUMNS = ("filename", "file", "path", "image")
_BATCH_FILES = 32
_BATCH_BYTES = 64 * 1024**2

# What a broken or hostile file can make Pillow raise while opening or decoding.
_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    OSError, ValueError, SyntaxError, EOFError, IndexError, KeyError, TypeError,
    ZeroDivisionError, struct.error, zlib.error, Image.DecompressionBombError,
    Image.DecompressionBombWarning,
)


def is_image_name(name: str) -> bool:
    dot = name.rfind(".")
    return dot > 0 and name[dot:].lower() in IMAGE_SUFFIXES and not name.endswith("/")


def _mega(n: int) -> str:
    return f"{n / 1e6:.3g} M"


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    format: str


def _formats() -> list[str]:
    Image.init()
    return [f for f in PIL_FORMATS if f in Image.OPEN]


def _declared_size(data: bytes, formats: Sequence[str]) -> tuple[int, int] | None:
    """Width and height from the header alone, skipping Pillow's global bomb check."""
    for fmt in formats:
        factory, accept = Image.OPEN[fmt]
        try:
            ok = accept(data[:16]) if accept else True
            if not ok or isinstance(ok, str):
                continue
            with factory(io.BytesIO(data), "") as im:
                return im.size
        except _DECODE_ERRORS:
            continue
    return None


def _too_many_pixels(w: int, h: int, limits: Limits) -> RowProblem:
    return RowProblem(f"image is {w}x{h} = {_mega(w * h)} pixels; the limit is "
                      f"{_mega(limits.max_image_pixels)} (decompression bomb?)")


def check_image(data: bytes, *, limits: Limits) -> ImageInfo:
    """Check encoded image bytes against ``limits``; raise :class:`RowProblem` if unusable.

    The pixel count is checked from the header, before any pixel is decoded; then
    the image is fully decoded to catch truncated or corrupt files. Pillow's global
    ``MAX_IMAGE_PIXELS`` is left alone (its own bomb error is caught here too).
    """
    if not data:
        raise RowProblem("empty file (0 bytes); expected an image")
    if len(data) > limits.max_image_bytes:
        raise RowProblem(f"image is {len(data):,} bytes; the limit is {limits.max_image_bytes:,}")
    formats = _formats()
    size = _declared_size(data, formats)  # check first: Pillow would warn past its own limit
    if size is not None and size[0] * size[1] > limits.max_image_pixels:
        raise _too_many_pixels(*size, limits)
    try:
        with Image.open(io.BytesIO(data), formats=formats) as img:
            w, h = img.size
            if w * h > limits.max_image_pixels:
                raise _too_many_pixels(w, h, limits)
            fmt = img.format or "unknown"
            img.load()
    except Image.UnidentifiedImageError as exc:
        raise RowProblem("not an image Pillow can read (expected "
                         f"{', '.join(s[1:] for s in sorted(IMAGE_SUFFIXES))})") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        size = _declared_size(data, formats)
        if size is not None and size[0] * size[1] > limits.max_image_pixels:
            raise _too_many_pixels(*size, limits) from exc
        raise RowProblem(f"image is too large to decode safely ({exc})") from exc
    except _DECODE_ERRORS as exc:
        raise RowProblem(f"corrupt or truncated image ({type(exc).__name__}: {exc})") from exc
    return ImageInfo(w, h, fmt)


def short_name(rel: str, limit: int = 120) -> str:
    """``rel`` for a message: cut in the middle when longer than ``limit`` characters."""
    return rel if len(rel) <= limit else f"{rel[: limit - 30]}…{rel[-25:]}"


def check_image_name(rel: str) -> str:
    """``rel`` unchanged, or :class:`RowProblem` when it cannot be kept as the item's name."""
    check_string(rel, "the file name")
    if len(rel) > MAX_NAME_CHARS:
        raise RowProblem(f"file name is {len(rel):,} characters; the limit is {MAX_NAME_CHARS:,}")
    return rel


# ---------------------------------------------------------------- layout


@dataclass(frozen=True)
class ImageEntry:
    """One listed image (or a listed member that must not be opened, with the reason).

    Attributes:
        rel: path relative to the root, ``/``-separated; also the record's ``image_name``.
        size: the size the listing declares (``None`` if unknown).
        problem: set when the entry must be reported, never read (unsafe zip name, link).
        key: how the reader finds it (a full path, a zip member name).
    """

    rel: str
    size: int | None
    key: str
    problem: str | None = None


@dataclass(frozen=True)
class Assigned:
    labels: list[str] | None
    split: Split
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class LabelsFile:
    """A parsed ``labels.csv``: per file name its labels / split / extras, plus row errors."""

    name: str
    rows: dict[str, tuple[int, Any, Any, dict[str, Any]]] = field(default_factory=dict)
    errors: list[RowError] = field(default_factory=list)

    @classmethod
    def parse(cls, stream: IO[bytes], *, where: str, limits: Limits) -> LabelsFile:
        out = cls(where)
        rows = csv_rows(stream, delimiter=",", where=where)
        first = next(rows, None)
        if first is None or first[0] is None:
            raise DataError(f"{where}: expected a header row filename,labels[,split]")
        header = header_names(first[0], where)
        lower = {h.lower(): h for h in header}
        fname = next((lower[c] for c in _FILENAME_COLUMNS if c in lower), None)
        lab = lower.get("labels") or lower.get("label")
        if fname is None or lab is None:
            raise DataError(f"{where}: expected columns filename,labels[,split]; got {header}")
        split = lower.get("split")
        for position, (fields, raw, err, _line) in enumerate(rows, start=1):
            src = f"{where}:{position}"
            if position > limits.max_rows:
                out.errors.append(RowError(position, src, f"{LABELS_FILE} row {position}: more than "
                                           f"{limits.max_rows:,} rows; the rest were not read"))
                break
            problem = err if fields is None else utf8_problem(raw)
            if problem is not None or fields is None:
                out.errors.append(RowError(position, src, f"{LABELS_FILE} row {position}: {problem}"))
                continue
            values = dict(zip(header, fields + [""] * (len(header) - len(fields)), strict=False))
            name = values[fname].strip().replace("\\", "/").removeprefix("./")
            if not name:
                out.errors.append(RowError(position, src, f"{LABELS_FILE} row {position}: empty filename"))
            elif name in out.rows:
                out.errors.append(RowError(position, src, f"{LABELS_FILE} row {position}: {name!r} is listed "
                                           f"twice (first in row {out.rows[name][0]})"))
            else:
                extra = {k: json_safe(v) for k, v in values.items() if k not in (fname, lab, split)}
                out.rows[name] = (position, values[lab], values.get(split) if split else None,
                                  extra)
        return out


def split_folder(rel: str) -> tuple[Split | None, list[str]]:
    """``(split given by a top split folder or None, the path's remaining parts)``."""
    parts = rel.split("/")
    if len(parts) > 1 and parts[0].lower() in SPLIT_FOLDERS:
        return split_of(parts[0]), parts[1:]
    return None, parts


def assign(rel: str, *, labels_file: LabelsFile | None, multi_label: bool) -> Assigned:
    """Labels and split of the image at ``rel``; raises :class:`RowProblem`."""
    folder_split, parts = split_folder(rel)
    if labels_file is not None:
        hit = labels_file.rows.pop(rel, None)
        if hit is None:
            return Assigned(None, folder_split or "pool")
        position, raw_labels, raw_split, extra = hit
        try:
            labels = parse_labels(raw_labels, multi_label=multi_label)
            split = parse_split(raw_split) if raw_split and raw_split.strip() else None
        except RowProblem as exc:
            raise RowProblem(f"{LABELS_FILE} row {position}: {exc}") from exc
        return Assigned(labels, split or folder_split or "pool", extra)
    labels = [parts[0]] if len(parts) > 1 else None
    return Assigned(labels, folder_split or "pool")


# ---------------------------------------------------------------- the source

ReadMany = Callable[[Sequence[ImageEntry]], list[bytes | str]]
"""Reads entries' bytes (each at most ``max_image_bytes + 1``) or says why it could not."""


class ImageSource:
    """Listed images as an :class:`~labella.ingest.reader.ImportSource`."""

    def __init__(self, *, name: str, entries: list[ImageEntry], reader: Callable[[],
                 contextlib.AbstractContextManager[ReadMany]], multi_label: bool,
                 limits: Limits, labels_file: LabelsFile | None = None,
                 errors: Sequence[RowError] = ()) -> None:
        self.name = name
        self.entries = entries
        self._reader = reader
        self.multi_label = multi_label
        self.limits = limits
        self.labels_file = labels_file
        self._errors = list(errors)
        self.estimated_total: int | None = len(entries)

    def __iter__(self) -> Iterator[RawRecord | RowError]:
        return self._walk(read=True)

    def layout(self) -> Iterator[RawRecord | RowError]:
        """The records' labels and splits from the listing alone, no image opened (a quick
        preview): records carry no bytes, and broken images are not found."""
        return self._walk(read=False)

    def _walk(self, *, read: bool) -> Iterator[RawRecord | RowError]:
        yield from self._errors
        lf = self.labels_file
        if lf is not None:
            yield from lf.errors
            lf = LabelsFile(lf.name, dict(lf.rows), [])  # a copy this pass may consume
        limit = self.limits.max_image_bytes
        with contextlib.ExitStack() as stack:
            read_many = stack.enter_context(self._reader()) if read else None
            for start, batch in self._batches():
                todo = [e for e in batch if e.problem is None and not self._too_big(e)]
                got = iter(read_many(todo) if read_many is not None else [b""] * len(todo))
                for i, entry in enumerate(batch):
                    position = start + i + 1
                    source = f"{self.name}:{short_name(entry.rel)}"
                    if position > self.limits.max_rows:
                        yield RowError(position, source, f"more than {self.limits.max_rows:,} "
                                       "images; this one and the rest were not read")
                        return
                    if entry.problem is not None:
                        yield RowError(position, source, f"{short_name(entry.rel)}: {entry.problem}")
                        continue
                    if self._too_big(entry):
                        yield RowError(position, source, f"{short_name(entry.rel)}: image is "
                                       f"{entry.size:,} bytes; the limit is {limit:,}")
                        continue
                    yield self._record(position, source, entry, next(got), lf, read=read)
        if lf is not None:
            for rel, (row, *_rest) in sorted(lf.rows.items(), key=lambda kv: kv[1][0]):
                yield RowError(row, f"{lf.name}:{row}", f"{LABELS_FILE} row {row} names "
                               f"{rel!r}, which is not an image in {self.name}")

    def _too_big(self, entry: ImageEntry) -> bool:
        return entry.size is not None and entry.size > self.limits.max_image_bytes

    def _batches(self) -> Iterator[tuple[int, list[ImageEntry]]]:
        batch: list[ImageEntry] = []
        start, nbytes = 0, 0
        for i, e in enumerate(self.entries):
            if batch and (len(batch) >= _BATCH_FILES or nbytes + (e.size or 0) > _BATCH_BYTES):
                yield start, batch
                batch, start, nbytes = [], i, 0
            batch.append(e)
            nbytes += e.size or 0
        if batch:
            yield start, batch

    def _record(self, position: int, source: str, entry: ImageEntry, data: bytes | str,
                labels_file: LabelsFile | None, *, read: bool = True) -> RawRecord | RowError:
        if isinstance(data, str):
            return RowError(position, source, f"{short_name(entry.rel)}: {data}")
        try:
            check_image_name(entry.rel)
            info = check_image(data, limits=self.limits) if read else None
            where = assign(entry.rel, labels_file=labels_file, multi_label=self.multi_label)
            size = {"width": info.width, "height": info.height, "format": info.format} if info else {}
            meta = check_meta({**size, **where.meta})
        except RowProblem as exc:
            return RowError(position, source, f"{short_name(entry.rel)}: {exc}")
        return RawRecord(position=position, source=source, image=data if read else None,
                         image_name=entry.rel, labels=where.labels, split=where.split, meta=meta)


# ---------------------------------------------------------------- folders


def open_folder(files: Files, root: str, *, name: str, multi_label: bool,
                limits: Limits) -> ImageSource:
    """An image folder (local directory or S3 prefix) as a source."""
    listed = files.list_files(root)
    labels_file = None
    entries: list[ImageEntry] = []
    skipped = 0
    for item in listed:
        if item.rel.lower() == LABELS_FILE:
            labels_file = _read_labels(files, f"{root}/{item.rel}", item, name, limits)
        elif is_image_name(item.rel):
            problem = "a symbolic link that cannot be followed" if item.size is None else None
            entries.append(ImageEntry(item.rel, item.size, f"{root}/{item.rel}", problem))
        else:
            skipped += 1
    if skipped:
        log.info("%s: skipped %d files that are not images", name, skipped)
    if not entries:
        raise DataError(f"{files.display(root)}: no images found (expected [split/]class/file "
                        f"with {', '.join(sorted(IMAGE_SUFFIXES))})")

    @contextlib.contextmanager
    def reader() -> Iterator[ReadMany]:
        def read_many(batch: Sequence[ImageEntry]) -> list[bytes | str]:
            return files.read_many([e.key for e in batch], limit=limits.max_image_bytes + 1)

        yield read_many

    return ImageSource(name=name, entries=entries, reader=reader, multi_label=multi_label,
                       limits=limits, labels_file=labels_file)


def _read_labels(files: Files, path: str, item: Listed, name: str, limits: Limits) -> LabelsFile:
    if item.size is not None and item.size > limits.max_file_bytes:
        raise DataError(f"{name}/{item.rel}: {item.size:,} bytes; the limit is "
                        f"{limits.max_file_bytes:,}")
    with files.open(path) as f:
        return LabelsFile.parse(f, where=f"{name}/{item.rel}", limits=limits)
