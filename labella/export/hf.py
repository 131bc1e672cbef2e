"""A Hugging Face ``datasets`` folder: Parquet files per split plus a dataset card.

Layout (what ``datasets.load_dataset(str(folder))`` reads, offline)::

    folder/
      README.md                          YAML header (configs, dataset_info) + card text
      data/train-00000-of-00001.parquet  pool items
      data/test-00000-of-00001.parquet   evaluation items

The YAML header declares the typed features the way ``datasets`` writes them
itself (``Features._to_yaml_list``): ``label`` as a ``class_label`` with
``names: {'0': ..., '1': ...}`` (unlabelled rows hold -1), or ``labels`` as a
``sequence`` of that ``class_label`` (unlabelled rows hold null, "none applies"
an empty list); ``image`` as the ``image`` feature (a struct of ``bytes`` and
``path``) when the spec can give the image bytes, else the reference string.
``pyarrow`` writes the files; ``datasets`` is not needed to export.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from labella.errors import DataError
from labella.export.model import (
    SPLIT_NAMES,
    ExportItem,
    ExportSpec,
    atomic_dir,
    selected,
    split_name,
    to_utc,
)

BATCH_ROWS = 256
"""Rows buffered per split before they are written out (images can be large)."""


def data_file(split: str) -> str:
    """Path of a split's Parquet file inside the folder."""
    return f"data/{split}-00000-of-00001.parquet"


def arrow_schema(spec: ExportSpec) -> pa.Schema:
    """The Parquet schema for ``spec`` (class labels are int64 indices)."""
    label_type = pa.list_(pa.int64()) if spec.multi_label else pa.int64()
    if spec.task == "text":
        payload = pa.field("text", pa.string())
    elif spec.image_bytes is not None:
        payload = pa.field("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())]))
    else:
        payload = pa.field("image", pa.string())
    return pa.schema([
        ("id", pa.int64()),
        ("external_id", pa.string()),
        payload,
        ("labels" if spec.multi_label else "label", label_type),
        ("annotator", pa.string()),
        ("annotated_at", pa.timestamp("us", tz="UTC")),
        ("source", pa.string()),
        ("suggestion", label_type),
        ("confidence", pa.float64()),
        ("model_version", pa.int64()),
        ("consensus_confidence", pa.float64()),
        ("n_answers", pa.int64()),
    ])


def yaml_features(spec: ExportSpec) -> list[dict[str, Any]]:
    """``dataset_info.features`` in the YAML shape ``datasets`` reads (and writes)."""
    class_label = {"class_label": {"names": {str(i): n for i, n in enumerate(spec.label_names)}}}
    label: dict[str, Any] = {"sequence": class_label} if spec.multi_label else {"dtype": class_label}
    if spec.task == "text":
        payload: dict[str, Any] = {"name": "text", "dtype": "string"}
    else:
        payload = {"name": "image", "dtype": "image" if spec.image_bytes is not None else "string"}
    return [
        {"name": "id", "dtype": "int64"},
        {"name": "external_id", "dtype": "string"},
        payload,
        {"name": "labels" if spec.multi_label else "label", **label},
        {"name": "annotator", "dtype": "string"},
        {"name": "annotated_at", "dtype": "timestamp[us, tz=UTC]"},
        {"name": "source", "dtype": "string"},
        {"name": "suggestion", **label},
        {"name": "confidence", "dtype": "float64"},
        {"name": "model_version", "dtype": "int64"},
        {"name": "consensus_confidence", "dtype": "float64"},
        {"name": "n_answers", "dtype": "int64"},
    ]


@dataclass
class _SplitWriter:
    name: str
    path: Path
    schema: pa.Schema
    rows: list[dict[str, Any]] = field(default_factory=list)
    count: int = 0
    labelled: int = 0
    nbytes: int = 0
    writer: pq.ParquetWriter | None = None

    def add(self, row: dict[str, Any], *, labelled: bool) -> None:
        self.rows.append(row)
        self.count += 1
        self.labelled += labelled
        if len(self.rows) >= BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        if self.writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.writer = pq.ParquetWriter(self.path, self.schema)
        if not self.rows:
            return
        table = pa.Table.from_pylist(self.rows, schema=self.schema)
        self.nbytes += table.nbytes
        self.writer.write_table(table)
        self.rows.clear()

    def close(self) -> None:
        self.flush()
        if self.writer is not None:
            self.writer.close()


def _row(item: ExportItem, spec: ExportSpec, index: dict[str, int]) -> dict[str, Any]:
    def encode(names: list[str] | None) -> Any:
        if spec.multi_label:
            return None if names is None else [index[n] for n in names]
        return -1 if names is None else index[names[0]]

    if spec.task == "text":
        payload: Any = item.text
    elif spec.image_bytes is not None:
        payload = {"bytes": spec.image_bytes(item), "path": item.image}
    else:
        payload = item.image
    return {
        "id": item.item_id,
        "external_id": item.external_id,
        spec.task: payload,
        "labels" if spec.multi_label else "label": encode(item.labels),
        "annotator": item.annotator,
        "annotated_at": None if item.annotated_at is None else to_utc(item.annotated_at),
        "source": item.source,
        "suggestion": encode(item.suggestion),
        "confidence": item.confidence,
        "model_version": item.model_version,
        "consensus_confidence": item.consensus_confidence,
        "n_answers": item.n_answers,
    }


def write_hf(items: Iterable[ExportItem], spec: ExportSpec, dest: Path) -> Path:
    """Write the dataset folder ``dest`` (new or empty) and return it."""
    schema = arrow_schema(spec)
    index = {n: i for i, n in enumerate(spec.label_names)}
    with atomic_dir(dest) as tmp:
        writers = {name: _SplitWriter(name, tmp / data_file(name), schema)
                   for name in SPLIT_NAMES.values()}
        try:
            for item in selected(items, spec):
                writers[split_name(item)].add(_row(item, spec, index),
                                              labelled=item.labels is not None)
            if not any(w.count for w in writers.values()):
                # datasets cannot load a dataset without rows ("corresponds to no data").
                raise DataError("a Hugging Face dataset needs at least one row; this export has "
                                "none" + ("" if spec.include_unlabeled else
                                          " (unlabelled items are left out unless included)"))
            for w in writers.values():
                if w.count:
                    w.close()
        except BaseException:
            for w in writers.values():
                if w.writer is not None:
                    w.writer.close()
            raise
        done = [w for w in writers.values() if w.writer is not None]
        (tmp / "README.md").write_text(dataset_card(spec, done), encoding="utf-8")
    return dest


# ---------------------------------------------------------------------------- dataset card


def _yaml_scalar(value: Any) -> str:
    """A YAML scalar: numbers and booleans as is, strings double-quoted.

    JSON's string escapes are valid in YAML double-quoted scalars; characters YAML
    does not allow raw (controls, surrogates, Unicode line breaks, BOM) are escaped.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    out = []
    for ch in json.dumps(str(value), ensure_ascii=False):
        cp = ord(ch)
        printable = (0x20 <= cp <= 0x7E or 0xA0 <= cp <= 0xD7FF or 0xE000 <= cp <= 0xFFFD
                     or cp >= 0x10000) and cp not in (0x2028, 0x2029, 0xFEFF)
        out.append(ch if printable else (f"\\u{cp:04x}" if cp <= 0xFFFF else f"\\U{cp:08x}"))
    return "".join(out)


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "y", "n", "null", "nan", "inf"}


def _yaml_key(key: str) -> str:
    plain = _PLAIN_KEY.fullmatch(key) and key.lower() not in _YAML_WORDS
    return key if plain else _yaml_scalar(key)


def _yaml(value: Any, indent: int = 0) -> list[str]:
    """Block-style YAML lines for nested dicts / lists of scalars (enough for a card header)."""
    pad = "  " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, dict | list) and v:
                lines.append(f"{pad}{_yaml_key(k)}:")
                lines.extend(_yaml(v, indent + 1))
            else:
                empty = "[]" if isinstance(v, list) else "{}"
                scalar = empty if isinstance(v, dict | list) else _yaml_scalar(v)
                lines.append(f"{pad}{_yaml_key(k)}: {scalar}")
    else:
        for v in value:
            sub = _yaml(v, indent + 1) if isinstance(v, dict | list) else [f"{pad}  {_yaml_scalar(v)}"]
            lines.append(f"{pad}- {sub[0].lstrip()}")
            lines.extend(sub[1:])
    return lines


def _md(text: str) -> str:
    """Plain text made safe to show in Markdown (no HTML, no emphasis surprises)."""
    for ch in "\\`*_[]<>#|":
        text = text.replace(ch, "\\" + ch)
    return " ".join(text.split())


def dataset_card(spec: ExportSpec, splits: list[_SplitWriter]) -> str:
    """``README.md``: the YAML header ``datasets`` reads, then a short card."""
    header: dict[str, Any] = {
        "pretty_name": spec.project,
        "task_categories": ["text-classification" if spec.task == "text"
                            else "image-classification"],
        "tags": ["labella", "multi-label" if spec.multi_label else "single-label"],
        "configs": [{"config_name": "default",
                     "data_files": [{"split": w.name, "path": data_file(w.name)}
                                    for w in splits]}],
        "dataset_info": {
            "features": yaml_features(spec),
            "splits": [{"name": w.name, "num_bytes": w.nbytes, "num_examples": w.count}
                       for w in splits],
        },
    }
    label_col = "labels" if spec.multi_label else "label"
    kind = "multi-label" if spec.multi_label else "single-label"
    rows = "\n".join(f"| {w.name} | {w.count} | {w.labelled} |" for w in splits)
    names = ", ".join(f"`{n}`" if "`" not in n else _md(n) for n in spec.label_names)
    unlabelled = ("Unlabelled items are included: their `label` is -1." if not spec.multi_label
                  else "Unlabelled items are included: their `labels` is null; an empty "
                  "list means no label applies.") if spec.include_unlabeled else \
        "Only labelled items are included."
    body = f"""
# {_md(spec.project)}

Labels exported from the Labella project **{_md(spec.project)}**: a {spec.task}
classification task, {kind}, with {len(spec.label_names)} labels: {names}.

| split | items | labelled |
|---|---|---|
{rows}

The `train` split holds the project's pool (items labelled through active learning,
so it is *not* a random sample); the `test` split holds the project's evaluation set.
`{label_col}` is the current label, `annotator` and `annotated_at` (UTC) say who gave it
and when; `suggestion`, `confidence` and `model_version` are the model's last prediction
where there was one; `consensus_confidence` (the vote share or Dawid–Skene posterior of
the label, 1 for a single answer) and `n_answers` (annotators' answers behind it) describe
items several annotators labelled. {unlabelled}

Load it with `datasets.load_dataset("path/to/this/folder")`.
"""
    return "---\n" + "\n".join(_yaml(header)) + "\n---\n" + body
