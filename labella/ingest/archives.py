"""Zip archives (local or on S3), read in memory member by member, never extracted.

An archive holds an image layout (see :mod:`labella.ingest.images`) or, for text
tasks, exactly one table (``.csv``, ``.tsv``, ``.jsonl``, ``.json``, ``.parquet``).
A single top-level folder wrapping everything (``photos.zip`` holding ``photos/...``)
is treated as the root when its name is the archive's stem, when it holds
``labels.csv``, or when images sit two or more folders below it.

Guards, because an archive is the easiest way to attack an importer:

* more than ``max_archive_members`` members, or a declared total uncompressed size over
  ``max_uncompressed_bytes``: the whole archive is refused (:class:`DataError`);
* a member name that is absolute, has a drive letter, a backslash or a ``..``
  segment (zip-slip), a symbolic link, an encrypted member, or a member whose
  uncompressed / compressed ratio exceeds ``max_compression_ratio``: that member is
  reported and never opened;
* declared sizes are never trusted: at most ``max_image_bytes + 1`` bytes of a
  member are read, and the bytes actually decompressed count against
  ``max_uncompressed_bytes``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import stat
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from pathlib import PurePosixPath
from typing import IO, Any

from labella.config import Limits
from labella.errors import DataError
from labella.ingest.images import (
    IMAGE_SUFFIXES,
    LABELS_FILE,
    ImageEntry,
    ImageSource,
    LabelsFile,
    ReadMany,
    is_image_name,
)
from labella.ingest.records import SPLIT_FOLDERS
from labella.ingest.remote import is_hidden_name
from labella.ingest.tables import TABLE_SUFFIXES, Opener, TableSource

log = logging.getLogger(__name__)

_DRIVE = re.compile(r"^[A-Za-z]:")
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError,
                RuntimeError, ValueError)


def unsafe_name(name: str) -> str | None:
    """Why a member name could escape the archive's root (zip-slip), or ``None``."""
    if name.startswith(("/", "\\")):
        return "an absolute path"
    if _DRIVE.match(name):
        return "a drive letter"
    if "\\" in name:
        return "a backslash"
    if "\x00" in name:
        return "a NUL character"
    if ".." in name.split("/"):
        return "a '..' segment"
    return None


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def _ratio(info: zipfile.ZipInfo) -> float:
    if info.file_size == 0:
        return 0.0
    return info.file_size / info.compress_size if info.compress_size else float("inf")


def member_problem(info: zipfile.ZipInfo, limits: Limits) -> str | None:
    """Why a member must not be opened, or ``None``."""
    if (why := unsafe_name(info.filename)) is not None:
        return f"unsafe member name {info.filename!r} ({why}); not opened"
    if _is_symlink(info):
        return "a symbolic link; links in archives are not followed"
    if info.flag_bits & 0x1:
        return "encrypted; expected an unencrypted member"
    ratio = _ratio(info)
    if ratio > limits.max_compression_ratio:
        return (f"compression ratio {ratio:,.0f}:1 is over the limit of "
                f"{limits.max_compression_ratio:,.0f}:1 (zip bomb?); not opened")
    return None


class _ZipGuard:
    """Counts what is actually decompressed; reads at most ``limit`` bytes per member."""

    def __init__(self, zf: zipfile.ZipFile, limits: Limits) -> None:
        self.zf = zf
        self.infos = zf.infolist()  # entries' keys index this list: names may repeat
        self.limits = limits
        self.total = 0

    def read_many(self, batch: Sequence[ImageEntry]) -> list[bytes | str]:
        out: list[bytes | str] = []
        for entry in batch:
            if self.total > self.limits.max_uncompressed_bytes:
                out.append(f"the archive has expanded past {self.limits.max_uncompressed_bytes:,} "
                           "bytes; not read")
                continue
            try:
                with self.zf.open(self.infos[int(entry.key)]) as f:
                    data = f.read(self.limits.max_image_bytes + 1)
            except _READ_ERRORS as exc:
                out.append(f"cannot read this member ({type(exc).__name__}: {exc})")
                continue
            self.total += len(data)
            if len(data) > self.limits.max_image_bytes:
                out.append(f"member holds more than {self.limits.max_image_bytes:,} bytes (its "
                           f"header says {entry.size:,}); not read")
            else:
                out.append(data)
        return out


def _wrapper(names: Sequence[str], stem: str) -> str | None:
    """The single top-level folder to treat as the root, if there is one."""
    tops = {n.split("/", 1)[0] for n in names}
    if len(tops) != 1 or any("/" not in n for n in names):
        return None
    top = tops.pop()
    if top.lower() in SPLIT_FOLDERS:
        return None
    inner = [n.split("/", 1)[1] for n in names]
    if (top == stem or any(i.lower() == LABELS_FILE for i in inner)
            or any("/" in i and is_image_name(i) for i in inner)):
        return top
    return None


def open_zip(opener: Opener, *, name: str, task: str, multi_label: bool, limits: Limits,
             text_column: str | None = None, label_column: str | None = None
             ) -> ImageSource | TableSource:
    """A zip archive as a source; raises :class:`DataError` for whole-archive problems."""
    with opener() as f:
        infos = _infos(f, name, limits)
    stem = PurePosixPath(name).stem
    if task == "text":
        return _table_in_zip(opener, infos, name=name, multi_label=multi_label, limits=limits,
                             text_column=text_column, label_column=label_column)

    problems: list[ImageEntry] = []
    usable: list[tuple[int, zipfile.ZipInfo]] = []
    seen: set[str] = set()
    for index, info in enumerate(infos):
        name_in = info.filename
        if (why := unsafe_name(name_in)) is not None:
            problems.append(ImageEntry(name_in, info.file_size, str(index),
                                       f"unsafe member name {name_in!r} ({why}); not opened"))
            continue
        if info.is_dir() or any(is_hidden_name(p) for p in name_in.split("/")):
            continue
        if not (is_image_name(name_in) or name_in.rsplit("/", 1)[-1].lower() == LABELS_FILE):
            continue  # not ours to read; never opened
        why = member_problem(info, limits)
        if why is None and name_in in seen:
            why = "a second member with the same name; only the first is read"
        seen.add(name_in)
        if why is not None:
            problems.append(ImageEntry(name_in, info.file_size, str(index), why))
        else:
            usable.append((index, info))
    wrap = _wrapper([i.filename for _, i in usable], stem)
    cut = len(wrap) + 1 if wrap else 0
    entries = list(problems)
    labels_info = None
    for index, info in usable:
        rel = info.filename[cut:]
        if rel.lower() == LABELS_FILE:
            labels_info = info
        elif is_image_name(rel):
            entries.append(ImageEntry(rel, info.file_size, str(index)))
    entries.sort(key=lambda e: e.rel)
    if not entries:
        raise DataError(f"{name}: no images in the archive (expected [split/]class/file with "
                        f"{', '.join(sorted(IMAGE_SUFFIXES))})")
    labels_file = None
    if labels_info is not None:
        labels_file = _labels(opener, labels_info, name=name, limits=limits)

    @contextlib.contextmanager
    def reader() -> Iterator[ReadMany]:
        with opener() as f, zipfile.ZipFile(f) as zf:
            yield _ZipGuard(zf, limits).read_many

    return ImageSource(name=name, entries=entries, reader=reader, multi_label=multi_label,
                       limits=limits, labels_file=labels_file)


def zip_holds_images(opener: Opener, *, name: str, limits: Limits) -> bool:
    """Whether the archive holds images (an image import) rather than one table (text)."""
    with opener() as f:
        infos = _infos(f, name, limits)
    return any(is_image_name(i.filename) and not i.is_dir() for i in infos)


def _infos(f: IO[bytes], name: str, limits: Limits) -> list[zipfile.ZipInfo]:
    try:
        with zipfile.ZipFile(f) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise DataError(f"{name}: not a readable zip archive ({exc})") from exc
    if len(infos) > limits.max_archive_members:
        raise DataError(f"{name}: {len(infos):,} members; the limit is "
                        f"{limits.max_archive_members:,}")
    total = sum(i.file_size for i in infos)
    if total > limits.max_uncompressed_bytes:
        raise DataError(f"{name}: expands to {total:,} bytes; the limit is "
                        f"{limits.max_uncompressed_bytes:,}")
    return infos


def _labels(opener: Opener, info: zipfile.ZipInfo, *, name: str, limits: Limits) -> LabelsFile:
    where = f"{name}:{info.filename}"
    if (why := member_problem(info, limits)) is not None:
        raise DataError(f"{where}: {why}")
    if info.file_size > limits.max_file_bytes:
        raise DataError(f"{where}: {info.file_size:,} bytes; the limit is {limits.max_file_bytes:,}")
    with opener() as f, zipfile.ZipFile(f) as zf, zf.open(info) as m:
        data = m.read(limits.max_file_bytes + 1)
    if len(data) > limits.max_file_bytes:
        raise DataError(f"{where}: more than {limits.max_file_bytes:,} bytes")
    return LabelsFile.parse(io.BytesIO(data), where=where, limits=limits)


class _Capped(io.RawIOBase):
    """A read-only view of a member stream that fails past ``limit`` bytes from its start."""

    def __init__(self, inner: IO[bytes], limit: int, where: str) -> None:
        self.inner, self.limit, self.where, self.pos = inner, limit, where, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self.inner.seekable()

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = self.inner.seek(offset, whence)
        return self.pos

    def tell(self) -> int:
        return self.pos

    def readinto(self, b: Any) -> int:
        try:
            data = self.inner.read(len(b))
        except _READ_ERRORS as exc:
            raise DataError(f"{self.where}: cannot read ({type(exc).__name__}: {exc})") from exc
        self.pos += len(data)
        if self.pos > self.limit:
            raise DataError(f"{self.where}: expands past {self.limit:,} bytes")
        b[: len(data)] = data
        return len(data)


def _table_in_zip(opener: Opener, infos: list[zipfile.ZipInfo], *, name: str, multi_label: bool,
                  limits: Limits, text_column: str | None, label_column: str | None
                  ) -> TableSource:
    tables = [i for i in infos if not i.is_dir() and unsafe_name(i.filename) is None
              and not any(is_hidden_name(p) for p in i.filename.split("/"))
              and PurePosixPath(i.filename).suffix.lower() in TABLE_SUFFIXES]
    if len(tables) != 1:
        found = ", ".join(i.filename for i in tables[:5]) or "none"
        raise DataError(f"{name}: a text import from a zip needs exactly one table "
                        f"({', '.join(sorted(TABLE_SUFFIXES))}); found {found}")
    info = tables[0]
    where = f"{name}:{info.filename}"
    if (why := member_problem(info, limits)) is not None:
        raise DataError(f"{where}: {why}")
    limit = min(limits.max_file_bytes, limits.max_uncompressed_bytes)
    if info.file_size > limit:
        raise DataError(f"{where}: {info.file_size:,} bytes; the limit is {limit:,}")

    @contextlib.contextmanager
    def member() -> Iterator[IO[bytes]]:
        with opener() as f, zipfile.ZipFile(f) as zf, zf.open(info) as m:
            yield io.BufferedReader(_Capped(m, limit, where), buffer_size=1 << 16)

    kind = TABLE_SUFFIXES[PurePosixPath(info.filename).suffix.lower()]
    return TableSource(name=where, kind=kind, opener=member, multi_label=multi_label,
                       limits=limits, text_column=text_column, label_column=label_column)
