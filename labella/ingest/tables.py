"""Text tables: CSV, TSV, JSON lines, JSON arrays and Parquet, read as a stream of records.

Columns (names case-insensitive):

* ``text`` (or ``text_column``): required; an empty or whitespace-only text is a row error;
  nothing else is stripped.
* ``label`` / ``labels`` (or ``label_column``): ``|``-separated names, or a JSON list
  (also a list column in JSON / Parquet). Empty / null means unlabelled; for
  multi-label tasks an explicit empty list ``[]`` means "no label applies".
* ``split``: a :data:`~labella.ingest.records.POOL_SPLITS` value (``train``, ``val``,
  ``validation``, ``dev``, ``pool``, empty, ...) -> pool; a
  :data:`~labella.ingest.records.TEST_SPLITS` name (``test``, ``eval``, ``holdout``, ...)
  -> evaluation; anything else is a row error.
* ``id``: the source's own id (kept as a string).
* every other column goes to ``meta`` (JSON-safe values).

Text files are read as bytes and decoded line by line, so that one row that is not
valid UTF-8 is reported on its own and the other rows still land. Whole-file
problems (no text column, unreadable header or Parquet footer) raise
:class:`~labella.errors.DataError` when the source is opened, before any record.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import IO, Any, Literal

from labella.config import Limits
from labella.errors import DataError
from labella.ingest import textfiles
from labella.ingest.cells import Columns, RowProblem, make_record
from labella.ingest.records import RawRecord, RowError
from labella.ingest.textfiles import (
    count_newlines,
    csv_rows,
    ensure_csv_field_limit,
    header_names,
    json_array,
    json_lines,
    utf8_problem,
)

log = logging.getLogger(__name__)


Opener = Callable[[], contextlib.AbstractContextManager[IO[bytes]]]
"""Opens a fresh binary stream over the source (called once per pass)."""

TableKind = Literal["csv", "tsv", "jsonl", "json", "parquet"]
TABLE_SUFFIXES: dict[str, TableKind] = {
    ".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json",
    ".parquet": "parquet",
}
JSON_SNIFF_ENTRIES = 1000
"""A JSON source fails as a whole only when none of its first this many entries has a text."""


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
                sample = f.read(textfiles.CHUNK)
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
            ensure_csv_field_limit(self.limits)
            with self._open() as f:
                for row in csv_rows(f, delimiter=self._delimiter, where=self.name):
                    if row.fields is None:
                        raise DataError(f"{self.name}: cannot read the header row: {row.error}")
                    self._header = header_names(row.fields, self.name)
                    break
            if not self._header:
                raise DataError(f"{self.name}: the file is empty; expected a header row "
                                f"with a {self.text_column or 'text'!r} column")
            self._columns = self._resolve(self._header)
            self._require_text(self._columns, self._header)
        elif self.kind == "parquet":
            with self._open() as f:
                names = self._parquet(f).schema_arrow.names
            self._header = list(names)
            self._columns = self._resolve(names)
            self._require_text(self._columns, names)
        else:
            self._check_json()

    def _check_json(self) -> None:
        with self._open() as f:
            if self.kind == "json":
                head = f.read(textfiles.CHUNK).removeprefix(textfiles.BOM).lstrip()
                if head[:1] not in (b"[", b"{", b""):
                    raise DataError(f"{self.name}: expected a JSON array of objects or JSON "
                                    f"lines; the file starts with {head[:20]!r}")
                self._json_lines = head[:1] != b"["
                f.seek(0)
            rows = json_lines(f, self.name) if self._json_lines else json_array(f, self.name)
            problems: list[str] = []
            fields: list[str] = []
            # one object without the text field is a bad row, not a bad file: look further
            for _n, obj in rows:
                if isinstance(obj, dict):
                    try:
                        if self._resolve(list(obj)).text is not None:
                            self._header = list(obj)
                            return
                    except DataError as exc:  # ambiguous keys: a bad row, reported then
                        problems.append(str(exc))
                        continue
                    fields = fields or list(obj)
                    problems.append(f"no {self.text_column or 'text'!r} field")
                else:
                    problems.append(obj)
                if len(problems) >= JSON_SNIFF_ENTRIES:
                    break
        text = self.text_column or "text"
        if fields:
            raise DataError(f"{self.name}: no {text!r} column; columns are {fields} (none of "
                            f"the first {len(problems)} entries has a {text!r} field)")
        if problems:
            raise DataError(f"{self.name}: expected JSON objects with a {text!r} field; none "
                            f"of the first {len(problems)} entries is one (first: {problems[0]})")
        if self._json_lines:
            raise DataError(f"{self.name}: the file is empty; expected one JSON object per line")

    @property
    def columns(self) -> list[str]:
        """The table's column names (for JSON, the fields of its first object with a text)."""
        return list(self._header)

    @property
    def roles(self) -> Columns:
        """Which of :attr:`columns` hold the text, labels, split and id."""
        return self._columns or self._resolve(self._header)

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
                position, row, line = next(rows)
            except StopIteration:
                return
            except DataError as exc:  # the stream broke off (e.g. a member expands too far)
                yield RowError(position + 1, f"{self.name}:{position + 1}",
                               f"{exc}; the rest of the file was not read")
                return
            n += 1
            source = f"{self.name}:{position}"
            # a CSV row after a multi-line field starts further down the file: say where
            where = f"row {position}" + (f" (line {line})" if line not in (None, position + 1)
                                         else "")
            if n > self.limits.max_rows:
                yield RowError(position, source, f"{where}: more than "
                               f"{self.limits.max_rows:,} rows; this row and the rest were "
                               "not read")
                return
            if isinstance(row, str):
                yield RowError(position, source, f"{where}: {row}")
                continue
            try:
                yield make_record(row, self._columns_for(row), position=position, source=source,
                                  multi_label=self.multi_label, limits=self.limits,
                                  text_name=self.text_column or "text")
            except RowProblem as exc:
                yield RowError(position, source, f"{where}: {exc}")
            except DataError as exc:  # ambiguous keys in one JSON object
                yield RowError(position, source, f"{where}: {exc}")
            except RecursionError:  # a nested Parquet value too deep to walk
                yield RowError(position, source, f"{where}: nested too deeply; expected flat "
                               "values")

    def _columns_for(self, row: Mapping[str, Any]) -> Columns:
        if self._columns is not None:
            return self._columns
        return self._resolve(list(row))

    def _rows(self) -> Iterator[tuple[int, Mapping[str, Any] | str, int | None]]:
        """``(position, row or problem, first line for CSV rows)``."""
        with self._open() as f:
            if self.kind in ("csv", "tsv"):
                yield from self._csv(f)
                return
            if self.kind == "parquet":
                rows = self._parquet_rows(f)
            elif self._json_lines:
                rows = json_lines(f, self.name)
            else:
                rows = json_array(f, self.name)
            for position, row in rows:
                yield position, row, None

    def _csv(self, f: IO[bytes]) -> Iterator[tuple[int, Mapping[str, Any] | str, int]]:
        header = self._header
        rows = csv_rows(f, delimiter=self._delimiter, where=self.name)
        next(rows, None)  # the header, checked when the source was opened
        for position, (fields, raw, err, line) in enumerate(rows, start=1):
            if fields is None:
                yield position, err or "cannot parse this CSV row", line
            elif (bad := utf8_problem(raw)) is not None:
                yield position, bad, line
            elif len(fields) > len(header) and any(x.strip() for x in fields[len(header):]):
                yield position, (f"{len(fields)} fields, but the header has {len(header)} "
                                 f"({', '.join(header)})"), line
            else:
                fields += [""] * (len(header) - len(fields))
                yield position, dict(zip(header, fields, strict=False)), line

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
