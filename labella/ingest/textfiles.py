"""Reading text tables as bytes: UTF-8 decoded line by line (so one bad row is reported
on its own), universal newlines, CSV rows, JSON lines and streamed JSON arrays."""

from __future__ import annotations

import codecs
import csv
import json
import logging
import re
from collections import deque
from collections.abc import Iterator
from typing import IO, Any, NamedTuple

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


SUSPECT_FIELD_LINES = 20
"""A quoted CSV field spanning more lines than this is checked for swallowed rows."""


class CsvRow(NamedTuple):
    """One CSV record.

    Attributes:
        fields: the parsed fields, or ``None`` when the record is unusable.
        raw: the record's raw decoded text (quoted fields may span lines).
        error: why the record is unusable, or ``None``.
        line: the file line the record starts on (1-based).
    """

    fields: list[str] | None
    raw: str
    error: str | None
    line: int


class _Lines:
    """The lines a ``csv.reader`` reads: numbered, each ending in a newline, and able to be
    read again (after an unclosed quote, the lines it swallowed are parsed once more)."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._source = enumerate(lines, start=1)
        self.again: deque[tuple[int, str]] = deque()
        self.taken: list[tuple[int, str]] = []
        self.at_end = False

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self.again:
            item = self.again.popleft()
        else:
            got = next(self._source, None)
            if got is None:
                self.at_end = True
                raise StopIteration
            n, line = got
            # a last line without its newline: end it, so that a reader that asks for a
            # line after a newline can only be inside a quoted field
            item = (n, line if line.endswith(("\n", "\r")) else line + "\n")
        self.taken.append(item)
        return item[1]

    def take(self) -> tuple[str, int]:
        """The text and first line number of the record just read; starts the next one."""
        raw = "".join(line for _, line in self.taken)
        first = self.taken[0][0] if self.taken else 0
        return raw, first

    def reread_after_first(self) -> None:
        """Parse the current record's lines after its first one again."""
        self.again.extendleft(reversed(self.taken[1:]))
        self.at_end = False

    def reset(self) -> None:
        self.taken = []


def _looks_like_rows(lines: list[str], *, delimiter: str, n_fields: int) -> int:
    """How many of ``lines``, each parsed on its own, have exactly ``n_fields`` fields."""
    hits = 0
    for line in lines:
        try:
            fields = next(csv.reader([line], delimiter=delimiter), [])
        except csv.Error:
            continue
        hits += len(fields) == n_fields
    return hits


def csv_rows(stream: IO[bytes], *, delimiter: str, where: str) -> Iterator[CsvRow]:
    """CSV records with the raw text and line each came from (quoted fields may span lines).

    A quote that is never closed would swallow the rest of the file into one field. It is
    reported as a bad record (naming its line), and the lines after that record's first
    line are parsed again, so the rows it swallowed still come out: when the file ends
    inside a quoted field, when the csv module gives up on a record spanning several
    lines (e.g. a field over the size limit), and when a quoted field spans more than
    :data:`SUSPECT_FIELD_LINES` lines and most of them read as rows of this file on their
    own (a stray quote later on closed it).
    """
    lines = _Lines(decoded_lines(stream, where, universal=True))
    reader = csv.reader(lines, delimiter=delimiter)
    n_fields: int | None = None
    while True:
        lines.reset()
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raw, first = lines.take()
            if len(lines.taken) > 1:
                lines.reread_after_first()
                raw = lines.taken[0][1]
                yield CsvRow(None, raw, f"cannot parse this CSV row ({exc}); a quote opened on "
                             f"line {first} may never be closed", first)
            else:
                yield CsvRow(None, raw, f"cannot parse this CSV row ({exc})", first)
            continue
        raw, first = lines.take()
        if lines.at_end and row:
            lines.reread_after_first()
            yield CsvRow(None, lines.taken[0][1], f"a quote opened on line {first} is never "
                         "closed (the file ends inside it)", first)
            continue
        spanned = [line for _, line in lines.taken[1:]]
        # (with one column every line reads as a row: nothing to tell a long text by)
        if n_fields is not None and n_fields > 1 and len(spanned) >= SUSPECT_FIELD_LINES:
            hits = _looks_like_rows(spanned, delimiter=delimiter, n_fields=n_fields)
            if hits >= 0.8 * len(spanned):
                lines.reread_after_first()
                yield CsvRow(None, lines.taken[0][1], f"a quoted field runs from line {first} "
                             f"to line {lines.taken[-1][0]} and holds {hits} lines that read "
                             f"as rows of their own: a quote opened on line {first} is "
                             "probably closed by a stray quote much later", first)
                continue
        if row:  # blank lines are not rows
            if n_fields is None:
                n_fields = len(row)
            yield CsvRow(row, raw, None, first)


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


MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays and objects accepted in one JSON row (the row object is level 1)."""
_TOO_DEEP = f"nested more than {MAX_JSON_DEPTH} levels deep; expected a flat JSON object"


def json_depth(value: Any, *, limit: int = MAX_JSON_DEPTH) -> int:
    """Nesting depth of lists and dicts in ``value`` (a scalar is 0), counted up to ``limit + 1``."""
    deepest, level = 0, [(value, 1)]
    while level:
        v, d = level.pop()
        if isinstance(v, dict | list):
            deepest = max(deepest, d)
            if d > limit:
                return d
            level.extend((c, d + 1) for c in (v.values() if isinstance(v, dict) else v))
    return deepest


def _checked_object(obj: Any, text: str) -> dict[str, Any] | str:
    if not isinstance(obj, dict):
        return f"expected a JSON object; got {type(obj).__name__}"
    if json_depth(obj) > MAX_JSON_DEPTH:
        return _TOO_DEEP
    if _SURROGATE_ESCAPE.search(text) and _SURROGATE.search(json.dumps(obj, ensure_ascii=False)):
        return "contains a lone UTF-16 surrogate escape (\\udXXX); expected valid Unicode"
    return obj


def _json_object(text: str) -> dict[str, Any] | str:
    if (bad := utf8_problem(text)) is not None:
        return bad
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        return f"not valid JSON ({exc.msg.removesuffix(' at')} at column {exc.colno})"
    except RecursionError:
        return _TOO_DEEP
    return _checked_object(obj, text)


_JSON_STRUCTURE = re.compile(r'["\\\[\]{}]')


def _value_end(text: str, start: int) -> int | None:
    """Where the JSON array or object at ``text[start]`` ends (by brackets and strings, without
    parsing it), or ``None`` if ``text`` stops first."""
    depth, in_string, skip = 0, False, start
    for m in _JSON_STRUCTURE.finditer(text, start):
        if m.start() < skip:
            continue  # the character after a backslash
        c = m.group()
        if in_string:
            if c == "\\":
                skip = m.end() + 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
            if depth == 0:
                return m.end()
    return None


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
        deep = False
        while True:
            try:
                obj, end = parser.raw_decode(buf, pos)
            except json.JSONDecodeError as exc:
                if more():
                    continue
                yield n, (f"not valid JSON ({exc.msg.removesuffix(' at')}); the rest of the "
                          "file was not read")
                return
            except RecursionError:  # skip the element by its brackets instead
                found = _value_end(buf, pos)
                if found is None and more():
                    continue
                if found is None:
                    yield n, f"{_TOO_DEEP}; the rest of the file was not read"
                    return
                obj, end, deep = None, found, True
            if end == len(buf) and more():
                continue  # a number may go on in the next chunk
            break
        piece = buf[pos:end]
        pos = end
        if (bad := utf8_problem(piece)) is not None:
            yield n, bad
        else:
            yield n, _TOO_DEEP if deep else _checked_object(obj, piece)
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
