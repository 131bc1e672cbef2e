"""Label-error review and calibrated suggestions through the SDK against a real server."""

from __future__ import annotations

from pathlib import Path

import pytest

from labella.client import LabellaClientError
from tests.api.conftest import LiveServer, review_texts, text_project, wait_for, write_rows

FLIP = {"pos": "neg", "neg": "pos"}


def test_scan_list_relabel_and_confirm(server: LiveServer, tmp_path: Path) -> None:
    admin = server.client("admin")
    p = text_project(admin, strategy="margin")
    data = review_texts(120, seed=4)
    wrong = {t for t, _ in data[::12]}
    write_rows(tmp_path / "r.csv", [{"text": t, "label": FLIP[lab] if t in wrong else lab}
                                    for t, lab in data])
    p.import_file(tmp_path / "r.csv").wait(120)
    assert p.label_errors()["scan_job_id"] is None
    job = p.scan_label_errors().wait(120)
    assert job.status == "succeeded"
    rep = p.label_errors(limit=500)
    assert rep["n_checked"] == 120
    found = {it["text"] for it in rep["items"]}
    assert len(found & wrong) >= 0.6 * len(wrong)
    truth = dict(data)
    hit = next(it for it in rep["items"] if it["text"] in wrong)
    assert hit["suggested"] == [truth[hit["text"]]] and hit["given"] != hit["suggested"]
    ack = p.review_label_error(hit["item_id"], label=truth[hit["text"]])
    assert ack["labels"] == [truth[hit["text"]]]
    other = next(it for it in rep["items"] if it["item_id"] != hit["item_id"])
    p.review_label_error(other["item_id"], confirm=True)
    detail = p.item(other["item_id"])
    assert detail["labels"] == other["given"]
    assert [h["action"] for h in detail["history"]].count("label") == 2  # imported, confirmed
    after = p.label_errors(limit=500)
    assert after["n_answered"] == 2 and len(after["items"]) == len(rep["items"]) - 2
    with pytest.raises(LabellaClientError) as e:
        p.review_label_error(hit["item_id"], label="maybe")
    assert e.value.status == 422


def test_suggestions_wait_for_labels_and_preselect_only_when_sure(server: LiveServer,
                                                                   tmp_path: Path) -> None:
    admin = server.client("admin")
    p = text_project(admin, strategy="margin")
    data = review_texts(200, seed=5)
    # the last 60 are labelled evaluation items: the calibrator is fitted on them
    write_rows(tmp_path / "r.csv", [{"text": t, "label": lab if i >= 140 else "",
                                     "split": "test" if i >= 140 else "train"}
                                    for i, (t, lab) in enumerate(data)])
    p.import_file(tmp_path / "r.csv").wait(120)
    truth = dict(data)
    first = p.next(1)[0]
    p.annotate(first.id, label=truth[first.text or ""])
    wait_for(lambda: p.refresh().data["model_version"] >= 1, what="a model")
    items = p.next(5)
    assert all(it.suggestion is None and not it.preselect for it in items)  # 1 label: none
    for it in items:
        p.annotate(it.id, label=truth[it.text or ""])
    # both classes among 6 labels: suggestions show; pre-selected ones are the sure ones
    labelled = 6
    while True:
        items = p.next(10)
        if any(it.suggestion for it in items) or labelled > 60:
            break
        for it in items:
            p.annotate(it.id, label=truth[it.text or ""])
        labelled += len(items)
    sugg = [it for it in items if it.suggestion]
    assert sugg, "no suggestion after 60 labels"
    assert all(it.confidence is not None for it in sugg)
    assert all(it.confidence >= 0.8 for it in sugg if it.preselect)  # type: ignore[operator]
    assert all(not it.preselect for it in sugg if it.confidence < 0.8)  # type: ignore[operator]
    p.update(settings={"preselect_threshold": 1.0})
    wait_for(lambda: all(not it.preselect for it in p.next(10)), what="no pre-selection")
    with pytest.raises(LabellaClientError, match="preselect_threshold"):
        p.update(settings={"preselect_threshold": 0.2})
