"""Label Studio: a JSON array of tasks, and the matching labelling-interface XML.

Each task carries the item under ``data`` (``text`` or ``image``), the current
label as an ``annotations`` entry (only when labelled) and the model's suggestion
as a ``predictions`` entry (only when there is one). Both use a ``choices``
result from the ``label`` control to the ``text`` / ``image`` object, which is
what :func:`label_studio_config` declares, so the file imports into a project
set up with that config.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from labella.export.model import (
    ExportItem,
    ExportSpec,
    atomic_file,
    iso_utc,
    selected,
    split_name,
)

FROM_NAME = "label"
"""Name of the ``Choices`` control in the config and of ``from_name`` in results."""


def label_studio_config(spec: ExportSpec) -> str:
    """The labelling-interface XML matching :func:`write_label_studio`'s tasks.

    ``<View><Text name="text" value="$text"/><Choices name="label" toName="text"
    choice="single">...<Choice value="neg"/>...</Choices></View>`` (``Image`` for
    image tasks, ``choice="multiple"`` for multi-label); values are XML-escaped.
    """
    obj = spec.task
    tag = "Text" if obj == "text" else "Image"
    choice = "multiple" if spec.multi_label else "single"
    lines = [
        "<View>",
        f"  <{tag} name={quoteattr(obj)} value={quoteattr('$' + obj)}/>",
        f"  <Choices name={quoteattr(FROM_NAME)} toName={quoteattr(obj)} "
        f"choice={quoteattr(choice)} showInline=\"true\">",
        *(f"    <Choice value={quoteattr(name)}/>" for name in spec.label_names),
        "  </Choices>",
        "</View>",
    ]
    return "\n".join(lines) + "\n"


def _result(names: list[str], spec: ExportSpec) -> list[dict[str, Any]]:
    # A multi-label "none applies" answer is an annotation with an empty result.
    if not names:
        return []
    return [{"from_name": FROM_NAME, "to_name": spec.task, "type": "choices",
             "value": {"choices": list(names)}}]


def label_studio_task(item: ExportItem, spec: ExportSpec) -> dict[str, Any]:
    """One Label Studio task for ``item``."""
    data = {spec.task: item.text if spec.task == "text" else item.image}
    task: dict[str, Any] = {"id": item.item_id, "data": data}
    if item.labels is not None:
        annotation: dict[str, Any] = {"result": _result(item.labels, spec)}
        if item.annotator is not None:
            annotation["completed_by"] = item.annotator
        if item.annotated_at is not None:
            annotation["created_at"] = iso_utc(item.annotated_at)
        if item.consensus_confidence is not None:
            annotation["consensus_confidence"] = float(item.consensus_confidence)
        if item.n_answers is not None:
            annotation["n_answers"] = int(item.n_answers)
        task["annotations"] = [annotation]
    if item.suggestion is not None:
        prediction: dict[str, Any] = {"result": _result(item.suggestion, spec)}
        if item.model_version is not None:
            prediction["model_version"] = str(item.model_version)
        if item.confidence is not None:
            prediction["score"] = float(item.confidence)
        task["predictions"] = [prediction]
    meta: dict[str, Any] = {"split": split_name(item)}
    if item.source is not None:
        meta["label_source"] = item.source  # "model": accepted from the model, not a person
    if item.external_id is not None:
        meta["external_id"] = item.external_id
    task["meta"] = {**item.meta, **meta}
    return task


def write_label_studio(items: Iterable[ExportItem], spec: ExportSpec, dest: Path) -> Path:
    """Write a JSON array of tasks to ``dest``, one task per line, streamed."""
    with atomic_file(dest) as f:
        f.write("[")
        first = True
        for item in selected(items, spec):
            f.write("\n" if first else ",\n")
            f.write(json.dumps(label_studio_task(item, spec), ensure_ascii=False, default=str))
            first = False
        f.write("\n]\n")
    return dest
