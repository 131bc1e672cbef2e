"""CSV and JSON Lines writers: one row per item, streamed.

Both files are valid Labella import files: a ``text`` column, ``label``
(single-label) or ``labels`` (multi-label) and a ``split`` column whose ``test``
rows form the evaluation set again on re-import.

A CSV label cell follows the import rules: an empty cell is an unlabelled item,
``[]`` is a multi-label "no label applies", names are joined with ``|``; a cell
that would be misread that way (it would start with ``[``, or a single label's
name contains ``|``) is written as a JSON list instead, which the importer reads
as is.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from labella.export.model import (
    ExportItem,
    ExportSpec,
    atomic_file,
    iso_utc,
    selected,
    single,
    split_name,
)

LABEL_SEPARATOR = "|"
"""Joins the names of a CSV label cell."""


def csv_columns(spec: ExportSpec) -> list[str]:
    """The CSV header for ``spec``."""
    return ["id", "external_id", spec.task, "labels" if spec.multi_label else "label",
            "split", "annotator", "annotated_at", "consensus_confidence", "n_answers",
            "source"]


def label_cell(labels: list[str] | None) -> str:
    """A CSV label cell: ``""`` unlabelled, ``[]`` none applies, else ``a|b`` or a JSON list."""
    if labels is None:
        return ""
    joined = LABEL_SEPARATOR.join(labels)
    if not labels or joined.startswith("[") or (len(labels) == 1 and LABEL_SEPARATOR in joined):
        return json.dumps(labels, ensure_ascii=False)
    return joined


def _csv_row(item: ExportItem, spec: ExportSpec) -> list[str]:
    return [str(item.item_id), item.external_id or "",
            (item.text if spec.task == "text" else item.image) or "", label_cell(item.labels),
            split_name(item), item.annotator or "", iso_utc(item.annotated_at) or "",
            "" if item.consensus_confidence is None else f"{item.consensus_confidence:.6g}",
            "" if item.n_answers is None else str(item.n_answers),
            item.source or ""]


def write_csv(items: Iterable[ExportItem], spec: ExportSpec, dest: Path) -> Path:
    """Write a UTF-8 CSV (RFC 4180 quoting: commas, quotes and newlines survive) to ``dest``."""
    with atomic_file(dest) as f:
        writer = csv.writer(f, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
        writer.writerow(csv_columns(spec))
        for item in selected(items, spec):
            writer.writerow(_csv_row(item, spec))
    return dest


def jsonl_record(item: ExportItem, spec: ExportSpec) -> dict[str, Any]:
    """One JSON Lines object: the CSV's fields plus the model's suggestion when there is one."""
    rec: dict[str, Any] = {
        "id": item.item_id,
        "external_id": item.external_id,
        spec.task: item.text if spec.task == "text" else item.image,
    }
    if spec.multi_label:
        rec["labels"] = None if item.labels is None else list(item.labels)
    else:
        rec["label"] = single(item.labels)
    rec.update(split=split_name(item), annotator=item.annotator,
               annotated_at=iso_utc(item.annotated_at), source=item.source)
    if item.consensus_confidence is not None:
        rec["consensus_confidence"] = float(item.consensus_confidence)
    if item.n_answers is not None:
        rec["n_answers"] = int(item.n_answers)
    if item.suggestion is not None:
        rec["suggestion"] = list(item.suggestion) if spec.multi_label else single(item.suggestion)
    if item.confidence is not None:
        rec["confidence"] = float(item.confidence)
    if item.model_version is not None:
        rec["model_version"] = int(item.model_version)
    if item.meta:
        rec["meta"] = item.meta
    return rec


_LINE_BREAKS = str.maketrans({"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"})


def json_line(obj: Any) -> str:
    """``obj`` as one line of UTF-8 JSON; the Unicode line breaks that ``str.splitlines``
    would split on are escaped too, so the line stays one line for every reader."""
    return json.dumps(obj, ensure_ascii=False, default=str).translate(_LINE_BREAKS) + "\n"


def write_jsonl(items: Iterable[ExportItem], spec: ExportSpec, dest: Path) -> Path:
    """Write one UTF-8 JSON object per line to ``dest``."""
    with atomic_file(dest) as f:
        for item in selected(items, spec):
            f.write(json_line(jsonl_record(item, spec)))
    return dest
