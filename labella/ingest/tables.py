"""Text tables: CSV, TSV, JSON lines, JSON arrays and Parquet, read as a stream of records.

Columns (names case-insensitive):

* ``text`` (or ``text_column``): required; an empty or whitespace-only text is a row error;
  nothing else is stripped.
* ``label`` / ``labels`` (or ``label_column``): ``|``-separated names, or a JSON list
  (also a list column in JSON / Parquet). Empty / null means unlabelled; for
  multi-label tasks an explicit empty list ``[]`` means "no label applies".
* ``split``: ``train`` / ``pool`` / ``unlabeled`` / ``dev`` / ``validation`` / empty -> pool; a
  :data:`~labella.ingest.records.TEST_SPLITS` name -> evaluation.
* ``id``: the source's own id (kept as a string).
* every other column goes to ``meta`` (JSON-safe values).

Text files are read as bytes and decoded line by line, so that one row that is not
valid UTF-8 is reported on its own and the other rows still land. Whole-file
problems (no text column, unreadable header or Parquet footer) raise
:class:`~labella.errors.DataError` when the source is opened, before any record.
"""

from __future__ import annotations

import base64
import codecs
import contextlib
import csv
import datetime as dt
import io
import json
import logging
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import IO, Any, Literal

from labella.config import Limits
from labella.errors import DataError
from labella.ingest.records import TEST_SPLITS, RawRecord, RowError, Split

log = logging.getLogger(__name__)

Opener = Callable[[], contextlib.AbstractContextManager[IO[bytes]]]
"""Opens a fresh binary stream over the source (called once per pass)."""

TableKind = Literal["csv", "tsv", "jsonl", "json", "parquet"]
TABLE_SUFFIXES: dict[str, TableKind] = {
    ".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json",
    ".parquet": "parquet",
}
POOL_SPLITS = frozenset({"", "train", "pool", "unlabeled", "unlabelled", "dev", "val", "valid",
                         "validation"})
"""Split values that put a row in the labelling pool (a validation split is labelled training
data as far as active learning is concerned; only test splits are held out)."""

_BOM = codecs.BOM_UTF8
_BAD_BYTE = re.compile("[\udc80-\udcff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_CHUNK = 1 << 20


class RowProblem(Exception):
    """One row cannot be used; the message says what was expected and what came."""


# ---------------------------------------------------------------- cell values


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _scalar_name(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise RowProblem(f"expected label names; got {type(value).__name__} {value!r}")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def parse_labels(value: Any, *, multi_label: bool) -> list[str] | None:
    """Label names in a cell; ``None`` for an empty cell (unlabelled)."""
    if _is_missing(value):
        return None
    if isinstance(value, str):
        s = value.strip()
        if not s:
            return None
        if s.startswith("["):
            try:
                value = json.loads(s)
            except ValueError:
                value = None
            if not isinstance(value, list):
                value = s  # a name that happens to start with "["
        if isinstance(value, str):
            names = [p.strip() for p in s.split("|")]
            return _checked(names, multi_label=multi_label, empty_means_none=True)
    if isinstance(value, list | tuple):
        return _checked([_scalar_name(v) for v in value if not _is_missing(v)],
                        multi_label=multi_label, empty_means_none=not multi_label)
    return _checked([_scalar_name(value)], multi_label=multi_label, empty_means_none=True)


def _checked(names: list[str], *, multi_label: bool, empty_means_none: bool) -> list[str] | None:
    names = list(dict.fromkeys(n for n in names if n))
    if not names:
        return None if empty_means_none else []
    if not multi_label and len(names) > 1:
        raise RowProblem(f"single-label task, but {len(names)} labels given "
                         f"({', '.join(map(repr, names))}); expected one")
    return names


def parse_split(value: Any) -> Split:
    if _is_missing(value):
        return "pool"
    if not isinstance(value, str):
        raise RowProblem(f"unknown split {value!r}; expected train or test")
    s = value.strip().lower()
    if s in POOL_SPLITS:
        return "pool"
    if s in TEST_SPLITS:
        return "evaluation"
    raise RowProblem(f"unknown split {value.strip()!r}; expected train or test")


def parse_id(value: Any) -> str | None:
    if _is_missing(value):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value).strip() or None
    raise RowProblem(f"id must be a string or a number; got {type(value).__name__}")


def parse_text(value: Any, *, limits: Limits) -> str:
    if _is_missing(value):
        raise RowProblem("empty text")
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RowProblem(f"text is not valid UTF-8 ({exc.reason} at byte {exc.start})") from exc
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise RowProblem(f"text must be a string; got {type(value).__name__}")
    if not value.strip():
        raise RowProblem("empty text")
    if len(value) > limits.max_text_chars:
        raise RowProblem(f"text is {len(value):,} characters; the limit is {limits.max_text_chars:,}")
    return value


def json_safe(value: Any) -> Any:
    """``value`` as plain JSON types: numpy / pandas scalars unwrapped, NaN -> None."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    if getattr(value, "shape", None) == () and hasattr(value, "item"):  # numpy scalar
        return json_safe(value.item())
    if hasattr(value, "tolist"):  # numpy array
        return json_safe(value.tolist())
    if type(value).__name__ in ("NAType", "NaTType"):  # pandas missing values
        return None
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return json_safe(float(value))
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)


# ---------------------------------------------------------------- columns


@dataclass(frozen=True)
class Columns:
    """Which source column plays which role (actual column names, or ``None``)."""

    text: str | None
    label: str | None
    split: str | None
    id: str | None

    @property
    def roles(self) -> frozenset[str]:
        return frozenset(c for c in (self.text, self.label, self.split, self.id) if c is not None)

    @classmethod
    def resolve(cls, names: Sequence[str], *, multi_label: bool, text_column: str | None,
                label_column: str | None, where: str) -> Columns:
        by_lower: dict[str, list[str]] = {}
        for n in names:
            by_lower.setdefault(n.strip().lower(), []).append(n)

        def find(wanted: str) -> str | None:
            hits = by_lower.get(wanted.strip().lower(), [])
            if len(hits) > 1:
                raise DataError(f"{where}: {len(hits)} columns match {wanted!r} "
                                f"({', '.join(map(repr, hits))}); expected one")
            return hits[0] if hits else None

        if label_column is not None:
            label = find(label_column)
            if label is None:
                raise DataError(f"{where}: no label column {label_column!r}; "
                                f"columns are {list(names)}")
        else:
            order = ("labels", "label") if multi_label else ("label", "labels")
            label = find(order[0]) or find(order[1])
        return cls(text=find(text_column or "text"), label=label, split=find("split"),
                   id=find("id"))


def make_record(values: Mapping[str, Any], cols: Columns, *, position: int, source: str,
                multi_label: bool, limits: Limits, text_name: str) -> RawRecord:
    if cols.text is None:
        raise RowProblem(f"no {text_name!r} field; fields are {list(values)}")
    text = parse_text(values.get(cols.text), limits=limits)
    labels = parse_labels(values.get(cols.label), multi_label=multi_label) if cols.label else None
    split = parse_split(values.get(cols.split)) if cols.split else "pool"
    ext = parse_id(values.get(cols.id)) if cols.id else None
    roles = cols.roles
    meta = {k: json_safe(v) for k, v in values.items() if k not in roles}
    return RawRecord(position=position, source=source, text=text, labels=labels, split=split,
                     external_id=ext, meta=meta)


# ---------------------------------------------------------------- decoding text files


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
    while chunk := stream.read(_CHUNK):
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
            raw = raw.removeprefix(_BOM)
            first = False
        yield raw.decode("utf-8", "surrogateescape")


def _ensure_csv_field_limit(limits: Limits) -> None:
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
        chunk = stream.read(_CHUNK)
        if first:
            _check_encoding(chunk, where)
            chunk = chunk.removeprefix(_BOM)
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
    while chunk := stream.read(_CHUNK):
        n += chunk.count(b"\n")
        last = chunk[-1:]
    return n + (last != b"\n")


# ---------------------------------------------------------------- the source


class TableSource:
    """A table file as an :class:`~labella.ingest.reader.ImportSource`."""

    def __init__(self, *, name: str, kind: TableKind, opener: Opener, multi_label: bool,
                 limits: Limits, text_column: str | None = None, label_column: str | None = None,
                 size: int | None = None, exact_count: bool = True) -> None:
        self.name = name
        self.kind: TableKind = kind
        self._open = opener
        self.multi_label = multi_label
        self.limits = limits
        self.text_column = text_column
        self.label_column = label_column
        self._size = size
        self._exact_count = exact_count
        self._estimated: tuple[int | None] | None = None
        self._json_lines = kind == "jsonl"
        self._columns: Columns | None = None
        self._header: list[str] = []
        self._check()

    @property
    def estimated_total(self) -> int | None:
        """Rows, for progress bars: exact for Parquet, counted or sampled lines otherwise."""
        if self._estimated is None:
            self._estimated = (self._estimate(),)
        return self._estimated[0]

    def _estimate(self) -> int | None:
        with self._open() as f:
            if self.kind == "parquet":
                return int(self._parquet(f).metadata.num_rows)
            if not self._json_lines and self.kind == "json":
                return None
            if self._exact_count or self._size is None:
                lines = count_newlines(f)
            else:
                sample = f.read(_CHUNK)
                lines = count_newlines(io.BytesIO(sample))
                if len(sample) < self._size:
                    lines = round(lines * self._size / max(len(sample), 1))
        return max(lines - (self.kind in ("csv", "tsv")), 0)

    def _resolve(self, names: Sequence[str]) -> Columns:
        return Columns.resolve(names, multi_label=self.multi_label, text_column=self.text_column,
                               label_column=self.label_column, where=self.name)

    def _require_text(self, cols: Columns, names: Sequence[str]) -> None:
        if cols.text is None:
            raise DataError(f"{self.name}: no {self.text_column or 'text'!r} column; "
                            f"columns are {list(names)}")

    def _check(self) -> None:
        """Raise DataError now for a whole-file problem."""
        if self.kind in ("csv", "tsv"):
            _ensure_csv_field_limit(self.limits)
            with self._open() as f:
                for fields, _raw, err in csv_rows(f, delimiter=self._delimiter, where=self.name):
                    if fields is None:
                        raise DataError(f"{self.name}: cannot read the header row: {err}")
                    self._header = header_names(fields, self.name)
                    break
            if not self._header:
                raise DataError(f"{self.name}: the file is empty; expected a header row "
                                f"with a {self.text_column or 'text'!r} column")
            self._columns = self._resolve(self._header)
            self._require_text(self._columns, self._header)
        elif self.kind == "parquet":
            with self._open() as f:
                names = self._parquet(f).schema_arrow.names
            self._columns = self._resolve(names)
            self._require_text(self._columns, names)
        else:
            self._check_json()

    def _check_json(self) -> None:
        with self._open() as f:
            if self.kind == "json":
                head = f.read(_CHUNK).removeprefix(_BOM).lstrip()
                if head[:1] not in (b"[", b"{", b""):
                    raise DataError(f"{self.name}: expected a JSON array of objects or JSON "
                                    f"lines; the file starts with {head[:20]!r}")
                self._json_lines = head[:1] != b"["
                f.seek(0)
            rows = json_lines(f, self.name) if self._json_lines else json_array(f, self.name)
            problems: list[str] = []
            for _n, obj in rows:
                if isinstance(obj, dict):
                    names = list(obj)
                    self._require_text(self._resolve(names), names)
                    return
                problems.append(obj)
                if len(problems) >= 1000:
                    break
        if problems:
            raise DataError(f"{self.name}: expected JSON objects with a "
                            f"{self.text_column or 'text'!r} field; none of the first "
                            f"{len(problems)} entries is one (first: {problems[0]})")
        if self._json_lines:
            raise DataError(f"{self.name}: the file is empty; expected one JSON object per line")

    @property
    def _delimiter(self) -> str:
        return "\t" if self.kind == "tsv" else ","

    def _parquet(self, f: IO[bytes]) -> Any:
        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(f)
        except (OSError, ValueError) as exc:  # pyarrow.ArrowInvalid is a ValueError
            raise DataError(f"{self.name}: not a readable Parquet file ({exc})") from exc

    # ---- iteration

    def __iter__(self) -> Iterator[RawRecord | RowError]:
        n, position = 0, 0
        rows = self._rows()
        while True:
            try:
                position, row = next(rows)
            except StopIteration:
                return
            except DataError as exc:  # the stream broke off (e.g. a member expands too far)
                yield RowError(position + 1, f"{self.name}:{position + 1}",
                               f"{exc}; the rest of the file was not read")
                return
            n += 1
            source = f"{self.name}:{position}"
            if n > self.limits.max_rows:
                yield RowError(position, source, f"row {position}: more than "
                               f"{self.limits.max_rows:,} rows; this row and the rest were "
                               "not read")
                return
            if isinstance(row, str):
                yield RowError(position, source, f"row {position}: {row}")
                continue
            try:
                yield make_record(row, self._columns_for(row), position=position, source=source,
                                  multi_label=self.multi_label, limits=self.limits,
                                  text_name=self.text_column or "text")
            except RowProblem as exc:
                yield RowError(position, source, f"row {position}: {exc}")
            except DataError as exc:  # ambiguous keys in one JSON object
                yield RowError(position, source, f"row {position}: {exc}")

    def _columns_for(self, row: Mapping[str, Any]) -> Columns:
        if self._columns is not None:
            return self._columns
        return self._resolve(list(row))

    def _rows(self) -> Iterator[tuple[int, Mapping[str, Any] | str]]:
        with self._open() as f:
            if self.kind in ("csv", "tsv"):
                yield from self._csv(f)
            elif self.kind == "parquet":
                yield from self._parquet_rows(f)
            elif self._json_lines:
                yield from json_lines(f, self.name)
            else:
                yield from json_array(f, self.name)

    def _csv(self, f: IO[bytes]) -> Iterator[tuple[int, Mapping[str, Any] | str]]:
        header = self._header
        rows = csv_rows(f, delimiter=self._delimiter, where=self.name)
        next(rows, None)  # the header, checked when the source was opened
        for position, (fields, raw, err) in enumerate(rows, start=1):
            if fields is None:
                yield position, err or "cannot parse this CSV row"
            elif (bad := utf8_problem(raw)) is not None:
                yield position, bad
            elif len(fields) > len(header) and any(x.strip() for x in fields[len(header):]):
                yield position, (f"{len(fields)} fields, but the header has {len(header)} "
                                 f"({', '.join(header)})")
            else:
                fields += [""] * (len(header) - len(fields))
                yield position, dict(zip(header, fields, strict=False))

    def _parquet_rows(self, f: IO[bytes]) -> Iterator[tuple[int, Mapping[str, Any] | str]]:
        pf = self._parquet(f)
        position = 0
        batches = pf.iter_batches(batch_size=1024)
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except (OSError, ValueError) as exc:
                yield position + 1, f"cannot read the Parquet data ({exc}); the rest was not read"
                return
            for row in batch.to_pylist():
                position += 1
                yield position, row
