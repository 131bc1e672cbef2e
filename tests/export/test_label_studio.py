"""Label Studio export: tasks with annotations and predictions, and the matching config."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from labella.export import export_labels, label_studio_config
from tests.export.conftest import make_case


@pytest.mark.parametrize("include_unlabeled", [False, True])
def test_tasks_carry_data_annotations_and_predictions(case_name: str, include_unlabeled: bool,
                                                      tmp_path: Path) -> None:
    case = make_case(case_name, include_unlabeled=include_unlabeled)
    spec = case.spec
    out = export_labels(case.items, spec, "label_studio", tmp_path / "tasks.json")
    tasks = json.loads(out.read_text(encoding="utf-8"))
    want = case.items if include_unlabeled else case.labelled()
    assert isinstance(tasks, list) and len(tasks) == len(want)
    for task, item in zip(tasks, want, strict=True):
        assert task["id"] == item.item_id
        assert task["data"] == {spec.task: item.text if spec.task == "text" else item.image}
        assert task["meta"]["split"] == ("test" if item.split == "evaluation" else "train")
        if item.labels is None:
            assert "annotations" not in task
        else:
            (annotation,) = task["annotations"]
            if item.labels:
                (result,) = annotation["result"]
                assert result == {"from_name": "label", "to_name": spec.task, "type": "choices",
                                  "value": {"choices": item.labels}}
            else:
                assert annotation["result"] == []  # multi-label "none applies"
            assert annotation["completed_by"] == item.annotator
            assert annotation["created_at"].endswith("Z")
        if item.suggestion is None:
            assert "predictions" not in task
        else:
            (prediction,) = task["predictions"]
            assert prediction["model_version"] == "3"
            assert prediction["score"] == pytest.approx(item.confidence)
            assert prediction["result"][0]["value"]["choices"] == item.suggestion


def test_an_empty_export_is_an_empty_array(tmp_path: Path) -> None:
    case = make_case("text-single")
    out = export_labels([], case.spec, "label_studio", tmp_path / "t.json")
    assert json.loads(out.read_text()) == []


def test_config_matches_the_tasks(case_name: str) -> None:
    spec = make_case(case_name).spec
    root = ET.fromstring(label_studio_config(spec))
    assert root.tag == "View"
    obj = root.find("Text" if spec.task == "text" else "Image")
    assert obj is not None
    assert obj.attrib["name"] == spec.task and obj.attrib["value"] == f"${spec.task}"
    choices = root.find("Choices")
    assert choices is not None
    assert choices.attrib["name"] == "label" and choices.attrib["toName"] == spec.task
    assert choices.attrib["choice"] == ("multiple" if spec.multi_label else "single")
    # names with quotes, commas, < and & are escaped and come back unchanged
    assert [c.attrib["value"] for c in choices.findall("Choice")] == spec.label_names
