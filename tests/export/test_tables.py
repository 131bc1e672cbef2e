"""CSV and JSON Lines exports: read back with pandas / json, they give the same items."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from labella.config import Limits
from labella.datafiles import load_table
from labella.errors import DataError
from labella.export import ExportItem, export_labels
from labella.ingest.records import RawRecord
from tests.export.conftest import T0, Case, make_case


def _payload(item: ExportItem) -> str | None:
    return item.text if item.text is not None else item.image


def _read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")


def _parse_cell(cell: str) -> list[str] | None:
    """The import rules: empty = unlabelled, a JSON list as is, else names joined by |."""
    if not cell:
        return None
    if cell.startswith("["):
        names = json.loads(cell)
        assert isinstance(names, list)
        return names
    return cell.split("|")


@pytest.mark.parametrize("include_unlabeled", [False, True])
def test_csv_round_trips_through_pandas(case_name: str, include_unlabeled: bool,
                                        tmp_path: Path) -> None:
    case = make_case(case_name, include_unlabeled=include_unlabeled)
    spec = case.spec
    out = export_labels(iter(case.items), spec, "csv", tmp_path / "out" / "labels.csv")

    assert out == tmp_path / "out" / "labels.csv"
    df = _read_csv(out)
    label_col = "labels" if spec.multi_label else "label"
    assert list(df.columns) == ["id", "external_id", spec.task, label_col, "split",
                                "annotator", "annotated_at", "consensus_confidence", "n_answers",
                                "source"]
    want = case.items if include_unlabeled else case.labelled()
    assert df["id"].tolist() == [str(i.item_id) for i in want]
    assert df[spec.task].tolist() == [_payload(i) for i in want]  # quotes, newlines, CRLF, ...
    assert [_parse_cell(c) for c in df[label_col]] == [i.labels for i in want]
    assert df["split"].tolist() == ["test" if i.split == "evaluation" else "train" for i in want]
    assert df["external_id"].tolist() == [i.external_id or "" for i in want]
    assert df["annotator"].tolist() == [i.annotator or "" for i in want]


def test_csv_times_are_iso_utc(tmp_path: Path) -> None:
    case = make_case("text-single")
    df = _read_csv(export_labels(case.items, case.spec, "csv", tmp_path / "l.csv"))
    times = dict(zip(df["id"], df["annotated_at"], strict=True))
    assert times["100"] == "2024-05-01T12:30:15Z"  # naive: taken as UTC
    assert times["101"] == "2024-05-01T12:31:15Z"  # +02:00 converted to UTC
    parsed = datetime.fromisoformat(times["101"])
    assert parsed.utcoffset() is not None and parsed.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert parsed == T0.replace(minute=31)


def test_csv_is_parsed_the_same_by_the_stdlib_reader(tmp_path: Path) -> None:
    case = make_case("text-multi")
    out = export_labels(case.items, case.spec, "csv", tmp_path / "l.csv")
    with out.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["text"] for r in rows] == [i.text for i in case.labelled()]
    assert rows[0]["labels"] == "joy|anger"
    assert rows[1]["labels"] == "[]"  # "none applies"; an empty cell is unlabelled
    assert json.loads(rows[3]["labels"]) == ["[x] y", "<fear & co>"]  # would start with "["
    assert out.read_bytes()[:3] != b"\xef\xbb\xbf"  # no BOM


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
@pytest.mark.parametrize("name", ["text-single", "text-multi"])
def test_export_is_a_labella_import_file(name: str, fmt: str, tmp_path: Path) -> None:
    """Read back by the importer: same texts, labels (unlabelled, none applies) and splits."""
    reader = pytest.importorskip("labella.ingest.reader")
    case = make_case(name, include_unlabeled=True)
    items = case.items
    if fmt == "jsonl" and not case.spec.multi_label:
        # A JSON string label is split on "|" by the importer, so a single-label name
        # holding "|" only round-trips through CSV (written there as a JSON list).
        items = [i for i in items if not any("|" in n for n in i.labels or [])]
    out = export_labels(items, case.spec, fmt, tmp_path / f"labels.{fmt}")
    source = reader.open_source(out, task="text", multi_label=case.spec.multi_label,
                                limits=Limits())
    records = list(source)
    assert all(isinstance(r, RawRecord) for r in records), records
    assert [r.text for r in records] == [i.text for i in items]
    assert [r.labels for r in records] == [i.labels for i in items]
    assert [r.split for r in records] == [i.split for i in items]
    assert [r.external_id for r in records] == [str(i.item_id) for i in items]


def test_single_label_csv_reads_in_the_simulation_loader(tmp_path: Path) -> None:
    case = make_case("text-single")
    items = [i for i in case.labelled() if not (i.labels or [""])[0].startswith("[")]
    out = export_labels(items, case.spec, "csv", tmp_path / "labels.csv")
    data = load_table(out, multi_label=False, dedupe=False)
    assert data.items == [i.text for i in items]
    assert data.is_test is not None
    assert data.is_test.tolist() == [i.split == "evaluation" for i in items]
    assert [data.class_names[k] for k in data.y] == [(i.labels or [""])[0] for i in items]


def test_jsonl_parses_back(case_name: str, tmp_path: Path) -> None:
    case = make_case(case_name, include_unlabeled=True)
    spec = case.spec
    out = export_labels(case.items, spec, "jsonl", tmp_path / "labels.jsonl")
    raw = out.read_bytes()
    lines = raw.decode("utf-8").split("\n")
    assert lines[-1] == ""
    rows = [json.loads(line) for line in lines[:-1]]
    assert len(rows) == len(case.items)
    for row, item in zip(rows, case.items, strict=True):
        assert row["id"] == item.item_id
        assert row["external_id"] == item.external_id
        assert row[spec.task] == _payload(item)
        if spec.multi_label:
            assert row["labels"] == item.labels and "label" not in row  # None or a list
        else:
            assert row["label"] == (None if item.labels is None else item.labels[0])
        assert row["split"] == ("test" if item.split == "evaluation" else "train")
        assert row["annotator"] == item.annotator
        if item.suggestion is None:
            assert "suggestion" not in row and "confidence" not in row
        else:
            assert row["suggestion"] == (item.suggestion if spec.multi_label
                                         else item.suggestion[0])
            assert row["confidence"] == pytest.approx(item.confidence)
            assert row["model_version"] == 3
        assert row["meta"] == {"source": "test"}
    if spec.task == "text":
        assert "café".encode() in raw  # ensure_ascii=False
        # U+2028 is escaped, so splitlines() does not cut a record in two
        assert len(raw.decode("utf-8").splitlines()) == len(case.items)
    # pandas reads it as a table too
    assert len(pd.read_json(out, lines=True, dtype=False)) == len(case.items)


def test_jsonl_leaves_out_unlabelled_items_by_default(tmp_path: Path) -> None:
    case = make_case("image-multi")
    out = export_labels(case.items, case.spec, "jsonl", tmp_path / "l.jsonl")
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == [i.item_id for i in case.labelled()]
    assert rows[1]["labels"] == []  # "none applies" is kept, distinct from unlabelled


def _one_shot(case: Case, *, fail_at: int | None = None) -> Iterator[ExportItem]:
    for n, item in enumerate(case.items):
        if n == fail_at:
            raise RuntimeError("store went away")
        yield item


def test_writers_stream_from_a_one_shot_iterator(tmp_path: Path) -> None:
    case = make_case("text-single")
    out = export_labels(_one_shot(case), case.spec, "csv", tmp_path / "l.csv")
    assert len(_read_csv(out)) == len(case.labelled())


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "label_studio"])
def test_a_failed_export_leaves_no_file(fmt: str, tmp_path: Path) -> None:
    case = make_case("text-single")
    dest = tmp_path / f"labels.{fmt}"
    with pytest.raises(RuntimeError, match="store went away"):
        export_labels(_one_shot(case, fail_at=3), case.spec, fmt, dest)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("labels", "message"), [
    (["nope"], r"item 7: labels \['nope'\] not among the project's labels"),
    (["neg", "pos"], "exactly one label"),
    ([], "exactly one label"),
])
def test_items_that_do_not_fit_the_spec_are_refused(labels: list[str], message: str,
                                                    tmp_path: Path) -> None:
    case = make_case("text-single")
    bad = ExportItem(7, None, "t", None, labels, "pool")
    with pytest.raises(DataError, match=message):
        export_labels([*case.items, bad], case.spec, "jsonl", tmp_path / "l.jsonl")
    assert not (tmp_path / "l.jsonl").exists()


def test_missing_payload_and_bad_split_are_refused(tmp_path: Path) -> None:
    case = make_case("text-single")
    with pytest.raises(DataError, match="a text task needs the item's text"):
        export_labels([ExportItem(1, None, None, "x.png", ["neg"], "pool")], case.spec, "csv",
                      tmp_path / "a.csv")
    with pytest.raises(DataError, match="split must be 'pool' or 'evaluation'; got 'train'"):
        export_labels([ExportItem(1, None, "t", None, ["neg"], "train")],  # type: ignore[arg-type]
                      case.spec, "csv", tmp_path / "b.csv")
