"""Reading text tables as bytes: UTF-8 decoded line by line (so one bad row is reported
on its own), universal newlines, CSV rows, JSON lines and streamed JSON arrays."""

from __future__ import annotations

import codecs
import csv
import json
import logging
import re
from collections.abc import Iterator
from typing import IO, Any

from labella.config import Limits
from labella.errors import DataError

log = logging.getLogger(__name__)

BOM = codecs.BOM_UTF8
_BAD_BYTE = re.compile("[\udc80-\udcff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
CHUNK = 1 << 20


def utf8_problem(text: str) -> str | None:
    """Why ``text`` (decoded with ``surrogateescape``) is not valid UTF-8, or ``None``."""
    m = _BAD_BYTE.search(text)
    if m is None:
        return None
    byte = ord(m.group()) - 0xDC00
    offset = len(text[: m.start()].encode("utf-8", "surrogateescape"))
    return f"not valid UTF-8 (byte 0x{byte:02x} at offset {offset}); save the file as UTF-8"


def _check_encoding(head: bytes, where: str) -> None:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise DataError(f"{where}: the file is UTF-16; expected UTF-8 (save the file as UTF-8)")


def universal_lines(stream: IO[bytes]) -> Iterator[bytes]:
    """Lines ending in ``\n``, ``\r\n`` or a lone ``\r`` (old Mac files), endings kept."""
    parts: list[bytes] = []
    while chunk := stream.read(CHUNK):
        if b"\n" not in chunk and b"\r" not in chunk:
            parts.append(chunk)  # a long line goes on; join once, not per chunk
            continue
        lines = b"".join([*parts, chunk]).splitlines(keepends=True)
        last = lines.pop()
        yield from lines
        # keep a line without its ending, or a lone "\r" that may be half of "\r\n"
        parts = [last] if not last.endswith(b"\n") else []
        if not parts:
            yield last
    if parts:
        yield b"".join(parts)


def decoded_lines(stream: IO[bytes], where: str, *, universal: bool = False) -> Iterator[str]:
    """Lines of ``stream`` (with their endings), decoded with ``surrogateescape``; BOM dropped.

    ``universal`` also ends lines at a lone ``\r``; otherwise only ``\n`` ends a line.
    """
    first = True
    for raw in universal_lines(stream) if universal else stream:
        if first:
            _check_encoding(raw, where)
            raw = raw.removeprefix(BOM)
            first = False
        yield raw.decode("utf-8", "surrogateescape")


def ensure_csv_field_limit(limits: Limits) -> None:
    # The csv module's field limit is process-wide; only ever raise it, never lower it.
    wanted = limits.max_text_chars + 1
    if csv.field_size_limit() < wanted:
        csv.field_size_limit(wanted)


CsvRow = tuple[list[str] | None, str, str | None]
"""(fields or None, the record's raw decoded text, csv error message or None)."""


def csv_rows(stream: IO[bytes], *, delimiter: str, where: str) -> Iterator[CsvRow]:
    """CSV records with the raw text each came from (quoted fields may span lines)."""
    consumed: list[str] = []

    def feed() -> Iterator[str]:
        for line in decoded_lines(stream, where, universal=True):
            consumed.append(line)
            yield line

    reader = csv.reader(feed(), delimiter=delimiter)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raw = "".join(consumed)
            consumed.clear()
            yield None, raw, f"cannot parse this CSV row ({exc})"
            continue
        raw = "".join(consumed)
        consumed.clear()
        if row:  # blank lines are not rows
            yield row, raw, None


def header_names(fields: list[str], where: str) -> list[str]:
    if (bad := utf8_problem("".join(fields))) is not None:
        raise DataError(f"{where}: header row is {bad}")
    names: list[str] = []
    seen: set[str] = set()
    for i, f in enumerate(fields):
        name = f.strip() or f"column{i + 1}"
        base, k = name, 1
        while name in seen:
            name, k = f"{base}.{k}", k + 1
        seen.add(name)
        names.append(name)
    return names


def json_lines(stream: IO[bytes], where: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """``(line number, object or problem)`` for each non-blank line."""
    for lineno, line in enumerate(decoded_lines(stream, where), start=1):
        if not line.strip():
            continue
        yield lineno, _json_object(line)


def _json_object(text: str) -> dict[str, Any] | str:
    if (bad := utf8_problem(text)) is not None:
        return bad
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        return f"not valid JSON ({exc.msg} at column {exc.colno})"
    if not isinstance(obj, dict):
        return f"expected a JSON object; got {type(obj).__name__}"
    if _SURROGATE_ESCAPE.search(text) and _SURROGATE.search(json.dumps(obj, ensure_ascii=False)):
        return "contains a lone UTF-16 surrogate escape (\\udXXX); expected valid Unicode"
    return obj


def json_array(stream: IO[bytes], where: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """``(element number, object or problem)`` from a JSON array, read incrementally.

    A syntax error ends the array: the rest cannot be read reliably, so it is
    reported once and reading stops.
    """
    decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
    parser = json.JSONDecoder()
    buf, pos, eof, first = "", 0, False, True

    def more() -> bool:
        nonlocal buf, pos, eof, first
        chunk = stream.read(CHUNK)
        if first:
            _check_encoding(chunk, where)
            chunk = chunk.removeprefix(BOM)
            first = False
        eof = not chunk
        if pos > len(buf) // 2:
            buf, pos = buf[pos:], 0
        buf += decoder.decode(chunk, final=eof)
        return not eof

    def skip_ws() -> str:
        nonlocal pos
        while True:
            while pos < len(buf) and buf[pos] in " \t\r\n":
                pos += 1
            if pos < len(buf) or not more():
                return buf[pos] if pos < len(buf) else ""

    if skip_ws() != "[":
        raise DataError(f"{where}: expected a JSON array of objects or JSON lines")
    pos += 1
    n = 0
    if skip_ws() == "]":
        return
    while True:
        n += 1
        while True:
            try:
                obj, end = parser.raw_decode(buf, pos)
            except json.JSONDecodeError as exc:
                if more():
                    continue
                yield n, f"not valid JSON ({exc.msg}); the rest of the file was not read"
                return
            if end == len(buf) and more():
                continue  # a number may go on in the next chunk
            break
        piece = buf[pos:end]
        pos = end
        if (bad := utf8_problem(piece)) is not None:
            yield n, bad
        elif not isinstance(obj, dict):
            yield n, f"expected a JSON object; got {type(obj).__name__}"
        else:
            yield n, obj
        sep = skip_ws()
        if sep == "]":
            return
        if sep != ",":
            yield n + 1, f"expected ',' or ']' after element {n}; got {sep or 'the end of the file'!r}"
            return
        pos += 1
        skip_ws()


def count_newlines(stream: IO[bytes]) -> int:
    """Lines in ``stream`` (a last line without a newline counts)."""
    n, last = 0, b"\n"
    while chunk := stream.read(CHUNK):
        n += chunk.count(b"\n")
        last = chunk[-1:]
    return n + (last != b"\n")
