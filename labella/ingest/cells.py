"""Cell values of imported rows: text, labels, split and id parsed and checked, extra
columns made JSON-safe, and the column mapping of a table (:class:`Columns`)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from labella.config import Limits
from labella.errors import DataError
from labella.ingest.records import RawRecord, Split, split_of

log = logging.getLogger(__name__)


MAX_ID_CHARS = 256
"""Longest id (a table's ``id`` column) accepted; a longer one is a row error."""
MAX_NAME_CHARS = 1000
"""Longest image file name (path inside its folder or archive) accepted."""
_SURROGATE = re.compile("[\ud800-\udfff]")


class RowProblem(Exception):
    """One row cannot be used; the message says what was expected and what came."""


def check_string(value: str, what: str) -> str:
    """``value`` unchanged, or :class:`RowProblem` when no database could store it as text
    (a NUL character, or a lone surrogate that is not Unicode)."""
    nul = value.find("\x00")
    if nul >= 0:
        raise RowProblem(f"{what} contains a NUL character (\\x00) at character {nul + 1}; "
                         "expected text without control bytes")
    if (m := _SURROGATE.search(value)) is not None:
        raise RowProblem(f"{what} is not valid Unicode (a lone surrogate at character "
                         f"{m.start() + 1})")
    return value


def check_meta(meta: Mapping[str, Any]) -> dict[str, Any]:
    """``meta`` (already :func:`json_safe`) as a dict, or :class:`RowProblem` naming the column
    whose keys or strings cannot be stored."""
    for column, value in meta.items():
        check_string(column, "a column name")
        stack = [value]
        while stack:
            v = stack.pop()
            if isinstance(v, str):
                check_string(v, f"column {column!r}")
            elif isinstance(v, dict):
                for k in v:
                    check_string(k, f"a key in column {column!r}")
                stack.extend(v.values())
            elif isinstance(v, list):
                stack.extend(v)
    return dict(meta)


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
    names = list(dict.fromkeys(check_string(n, "a label") for n in names if n))
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
    split = split_of(value)
    if split is None:
        raise RowProblem(f"unknown split {value.strip()!r}; expected train or test")
    return split


def parse_id(value: Any) -> str | None:
    if _is_missing(value):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise RowProblem(f"id must be a string or a number; got {type(value).__name__}")
    ext = check_string(str(value).strip(), "the id")
    if len(ext) > MAX_ID_CHARS:
        raise RowProblem(f"id is {len(ext):,} characters; the limit is {MAX_ID_CHARS}")
    return ext or None


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
    return check_string(value, "text")


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
    meta = check_meta({k: json_safe(v) for k, v in values.items() if k not in roles})
    return RawRecord(position=position, source=source, text=text, labels=labels, split=split,
                     external_id=ext, meta=meta)
