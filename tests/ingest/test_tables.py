"""Text tables: every format lands its good rows and reports each bad one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from labella.config import Limits
from labella.errors import DataError
from labella.ingest.reader import ImportSource, open_source
from labella.ingest.records import RawRecord, RowError

LIMITS = Limits()


def read(path: Path, *, multi_label: bool = False, limits: Limits = LIMITS,
         **kw: Any) -> tuple[list[RawRecord], list[RowError], ImportSource]:
    src = open_source(path, task="text", multi_label=multi_label, limits=limits, **kw)
    out = list(src)
    recs = [r for r in out if isinstance(r, RawRecord)]
    errs = [r for r in out if isinstance(r, RowError)]
    positions = [r.position for r in out]
    assert positions == sorted(positions), "records come in source order"
    return recs, errs, src


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(content.encode() if isinstance(content, str) else content)
    return p


# ---------------------------------------------------------------- CSV / TSV


def test_csv_labels_split_id_and_meta(tmp_path: Path) -> None:
    p = write(tmp_path, "reviews.csv",
              "ID,Text,Label,Split,stars\n"
              "a1,great phone,pos,train,5\n"
              "a2,  awful  ,neg,test,1\n"
              "a3,no label yet,,,3\n"
              "a4,held out,pos,Holdout,4\n")
    recs, errs, src = read(p)
    assert errs == []
    assert src.name == "reviews.csv" and src.estimated_total == 4
    assert [r.text for r in recs] == ["great phone", "  awful  ", "no label yet", "held out"]
    assert [r.labels for r in recs] == [["pos"], ["neg"], None, ["pos"]]
    assert [r.split for r in recs] == ["pool", "evaluation", "pool", "evaluation"]
    assert [r.external_id for r in recs] == ["a1", "a2", "a3", "a4"]
    assert recs[0].meta == {"stars": "5"}
    assert [r.position for r in recs] == [1, 2, 3, 4]
    assert recs[1].source == "reviews.csv:2"


def test_tsv_multi_label(tmp_path: Path) -> None:
    p = write(tmp_path, "tags.tsv", "text\tlabels\nsunny and warm\tjoy|calm\nnothing\t\n"
                                    "none apply\t[]\nlist cell\t[\"joy\", \"fear\"]\n")
    recs, errs, _ = read(p, multi_label=True)
    assert errs == []
    assert [r.labels for r in recs] == [["joy", "calm"], None, [], ["joy", "fear"]]


def test_single_label_accepts_labels_column_with_one_name(tmp_path: Path) -> None:
    p = write(tmp_path, "d.csv", "text,labels\nx,a\ny,a|b\n")
    recs, errs, _ = read(p)
    assert [r.labels for r in recs] == [["a"]]
    assert len(errs) == 1 and errs[0].position == 2
    assert "2 labels" in errs[0].message and "expected one" in errs[0].message


def test_bad_rows_are_reported_and_good_rows_land(tmp_path: Path) -> None:
    long_text = "x" * 50
    p = write(tmp_path, "mixed.csv",
              "text,label,split\n"
              "fine,a,train\n"
              "   ,a,train\n"
              "odd row,a,holdout-2\n"
              "two,a|b,\n"
              f"{long_text},a,\n"
              "also fine,b,\n")
    recs, errs, _ = read(p, limits=Limits(max_text_chars=40))
    assert [r.text for r in recs] == ["fine", "also fine"]
    assert [e.position for e in errs] == [2, 3, 4, 5]
    msgs = [e.message for e in errs]
    assert "empty text" in msgs[0]
    assert "unknown split 'holdout-2'; expected train or test" in msgs[1]
    assert "single-label" in msgs[2]
    assert "50 characters; the limit is 40" in msgs[3]
    assert all(m.startswith(f"row {e.position}: ") for m, e in zip(msgs, errs, strict=True))


def test_validation_splits_join_the_pool(tmp_path: Path) -> None:
    p = write(tmp_path, "splits.csv", "text,label,split\na,x,dev\nb,x,validation\nc,x,test\n")
    recs, errs, _ = read(p)
    assert not errs
    assert [r.split for r in recs] == ["pool", "pool", "evaluation"]


def test_non_utf8_row_is_an_error_and_other_rows_land(tmp_path: Path) -> None:
    data = b"text,label\nok one,a\ncaf\xe9 latin-1,b\nok two,b\n"
    p = write(tmp_path, "enc.csv", data)
    recs, errs, _ = read(p)
    assert [r.text for r in recs] == ["ok one", "ok two"]
    assert len(errs) == 1
    e = errs[0]
    assert (e.position, e.source) == (2, "enc.csv:2")
    assert "not valid UTF-8 (byte 0xe9 at offset 3)" in e.message
    assert "save the file as UTF-8" in e.message


def test_bom_and_quoted_newlines(tmp_path: Path) -> None:
    content = '\ufefftext,label\n"first line\nsecond line, with comma",a\n"say ""hi""",b\r\n'
    p = write(tmp_path, "bom.csv", content)
    recs, errs, _ = read(p)
    assert errs == []
    assert [r.text for r in recs] == ["first line\nsecond line, with comma", 'say "hi"']
    assert recs[1].position == 2


def test_non_utf8_inside_a_multiline_field(tmp_path: Path) -> None:
    p = write(tmp_path, "ml.csv", b'text,label\n"line one\nbad \xff here",a\nfine,b\n')
    recs, errs, _ = read(p)
    assert [r.text for r in recs] == ["fine"]
    assert errs[0].position == 1 and "byte 0xff at offset 14" in errs[0].message


def test_max_rows_reports_once_and_stops(tmp_path: Path) -> None:
    p = write(tmp_path, "many.csv", "text\n" + "".join(f"row {i}\n" for i in range(10)))
    recs, errs, _ = read(p, limits=Limits(max_rows=3))
    assert len(recs) == 3
    assert len(errs) == 1 and errs[0].position == 4
    assert "more than 3 rows" in errs[0].message and "not read" in errs[0].message


def test_extra_and_missing_fields(tmp_path: Path) -> None:
    p = write(tmp_path, "f.csv", "text,label\nshort\ntrailing,a,\ntoo,many,fields\n")
    recs, errs, _ = read(p)
    assert [(r.text, r.labels) for r in recs] == [("short", None), ("trailing", ["a"])]
    assert errs[0].position == 3 and "3 fields, but the header has 2" in errs[0].message


def test_custom_columns_case_insensitive(tmp_path: Path) -> None:
    p = write(tmp_path, "c.csv", "Review,Sentiment,text\nnice,pos,ignored\n")
    recs, errs, _ = read(p, text_column="review", label_column="SENTIMENT")
    assert errs == []
    assert recs[0].text == "nice" and recs[0].labels == ["pos"]
    assert recs[0].meta == {"text": "ignored"}


@pytest.mark.parametrize(("content", "expected"), [
    ("label,body\na,b\n", "no 'text' column; columns are ['label', 'body']"),
    ("", "the file is empty"),
    ("text,Text\na,b\n", "2 columns match 'text'"),
])
def test_whole_file_errors(tmp_path: Path, content: str, expected: str) -> None:
    p = write(tmp_path, "bad.csv", content)
    with pytest.raises(DataError, match=r"bad\.csv") as info:
        open_source(p, task="text", multi_label=False, limits=LIMITS)
    assert expected in str(info.value)


def test_missing_label_column_named_explicitly(tmp_path: Path) -> None:
    p = write(tmp_path, "d.csv", "text,label\na,b\n")
    with pytest.raises(DataError, match="no label column 'tag'"):
        open_source(p, task="text", multi_label=False, limits=LIMITS, label_column="tag")


def test_file_too_big(tmp_path: Path) -> None:
    p = write(tmp_path, "big.csv", "text\n" + "hello\n" * 100)
    with pytest.raises(DataError, match=r"big.csv: 605 bytes; the limit is 100"):
        open_source(p, task="text", multi_label=False, limits=Limits(max_file_bytes=100))


def test_utf16_file_is_refused(tmp_path: Path) -> None:
    p = write(tmp_path, "w.csv", "text\nhello\n".encode("utf-16"))
    with pytest.raises(DataError, match="UTF-16; expected UTF-8"):
        open_source(p, task="text", multi_label=False, limits=LIMITS)


def test_large_csv_streams(tmp_path: Path) -> None:
    n = 20_000
    p = tmp_path / "big.csv"
    with p.open("w") as f:
        f.write("text,label\n")
        for i in range(n):
            f.write(f"text number {i},{'ab'[i % 2]}\n")
    src = open_source(p, task="text", multi_label=False, limits=LIMITS)
    assert src.estimated_total == n
    it = iter(src)
    first = next(it)
    assert isinstance(first, RawRecord) and first.text == "text number 0"
    assert sum(1 for _ in it) == n - 1


# ---------------------------------------------------------------- JSON lines / JSON


def test_jsonl_lists_nulls_and_bad_lines(tmp_path: Path) -> None:
    lines = [
        json.dumps({"text": "a", "labels": ["x", "y"], "id": 7, "score": 0.5}),
        json.dumps({"text": "b", "labels": None}),
        "",
        '{"text": "broken", ',
        json.dumps({"text": "c", "labels": []}),
        json.dumps(["not", "an", "object"]),
        json.dumps({"body": "no text key"}),
        json.dumps({"text": "d", "labels": "x|z", "nested": {"k": [1, None]}}),
    ]
    p = write(tmp_path, "items.jsonl", "\n".join(lines) + "\n")
    recs, errs, src = read(p, multi_label=True)
    assert [r.text for r in recs] == ["a", "b", "c", "d"]
    assert [r.labels for r in recs] == [["x", "y"], None, [], ["x", "z"]]
    assert recs[0].external_id == "7" and recs[0].meta == {"score": 0.5}
    assert recs[3].meta == {"nested": {"k": [1, None]}}
    assert [e.position for e in errs] == [4, 6, 7]  # line numbers
    assert "not valid JSON" in errs[0].message
    assert "expected a JSON object; got list" in errs[1].message
    assert "no 'text' field" in errs[2].message
    assert src.estimated_total == 8


def test_jsonl_non_utf8_line(tmp_path: Path) -> None:
    p = write(tmp_path, "e.ndjson", b'{"text": "ok"}\n{"text": "caf\xe9"}\n')
    recs, errs, _ = read(p)
    assert [r.text for r in recs] == ["ok"]
    assert errs[0].position == 2 and "byte 0xe9 at offset 13" in errs[0].message


def test_jsonl_without_text_field_is_a_whole_file_error(tmp_path: Path) -> None:
    p = write(tmp_path, "n.jsonl", '{"body": "x"}\n')
    with pytest.raises(DataError, match=r"no 'text' column; columns are \['body'\]"):
        open_source(p, task="text", multi_label=False, limits=LIMITS)


def test_json_array_streams_objects(tmp_path: Path) -> None:
    items = [{"text": f"t{i}", "label": "ab"[i % 2], "n": i} for i in range(3000)]
    items[5] = {"text": "", "label": "a"}
    p = write(tmp_path, "arr.json", json.dumps(items, indent=1))
    recs, errs, src = read(p)
    assert len(recs) == 2999 and [e.position for e in errs] == [6]
    assert recs[0].meta == {"n": 0} and recs[-1].text == "t2999"
    assert src.estimated_total is None


def test_json_array_syntax_error_stops(tmp_path: Path) -> None:
    p = write(tmp_path, "arr.json", '[{"text": "a"}, {"text": "b"} {"text": "c"}]')
    recs, errs, _ = read(p)
    assert [r.text for r in recs] == ["a", "b"]
    assert errs[0].position == 3 and "expected ',' or ']'" in errs[0].message


def test_json_file_of_json_lines(tmp_path: Path) -> None:
    p = write(tmp_path, "lines.json", '{"text": "a", "label": "x"}\n{"text": "b"}\n')
    recs, errs, _ = read(p)
    assert [r.labels for r in recs] == [["x"], None] and errs == []


def test_json_that_is_neither(tmp_path: Path) -> None:
    p = write(tmp_path, "x.json", '"just a string"')
    with pytest.raises(DataError, match="expected a JSON array of objects or JSON lines"):
        open_source(p, task="text", multi_label=False, limits=LIMITS)


# ---------------------------------------------------------------- Parquet


def test_parquet_types_lists_and_nulls(tmp_path: Path) -> None:
    table = pa.table({
        "Text": ["one", "two", "three", None],
        "labels": [["a", "b"], [], None, ["a"]],
        "split": ["train", "test", None, "train"],
        "id": [10, 11, 12, 13],
        "score": [0.5, float("nan"), None, 1.0],
        "when": pd.to_datetime(["2024-01-02", "2024-01-03", None, "2024-01-04"]),
    })
    p = tmp_path / "data.parquet"
    pq.write_table(table, p)
    recs, errs, src = read(p, multi_label=True)
    assert src.estimated_total == 4
    assert [r.text for r in recs] == ["one", "two", "three"]
    assert [r.labels for r in recs] == [["a", "b"], [], None]
    assert [r.split for r in recs] == ["pool", "evaluation", "pool"]
    assert [r.external_id for r in recs] == ["10", "11", "12"]
    assert recs[0].meta == {"score": 0.5, "when": "2024-01-02T00:00:00"}
    assert recs[1].meta["score"] is None and recs[2].meta == {"score": None, "when": None}
    json.dumps([r.meta for r in recs])
    assert errs[0].position == 4 and "empty text" in errs[0].message


def test_parquet_from_pandas_with_numpy_values(tmp_path: Path) -> None:
    df = pd.DataFrame({"text": ["a", "b"], "label": ["x", None], "count": [1, 2]})
    p = tmp_path / "pd.parquet"
    df.to_parquet(p)
    recs, errs, _ = read(p)
    assert [r.labels for r in recs] == [["x"], None]
    assert recs[0].meta == {"count": 1} and errs == []


def test_unreadable_parquet(tmp_path: Path) -> None:
    p = write(tmp_path, "junk.parquet", b"not parquet at all")
    with pytest.raises(DataError, match=r"junk\.parquet: not a readable Parquet file"):
        open_source(p, task="text", multi_label=False, limits=LIMITS)


def test_parquet_without_text_column(tmp_path: Path) -> None:
    p = tmp_path / "n.parquet"
    pq.write_table(pa.table({"body": ["x"]}), p)
    with pytest.raises(DataError, match="no 'text' column"):
        open_source(p, task="text", multi_label=False, limits=LIMITS)


def test_json_array_across_small_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import labella.ingest.textfiles as textfiles

    monkeypatch.setattr(textfiles, "CHUNK", 5)
    items = [{"text": "naïve café ☕", "label": 12345678, "x": 1.25e10}, {"text": "b", "label": None}]
    p = write(tmp_path, "small.json", "\ufeff" + json.dumps(items, ensure_ascii=False))
    recs, errs, _ = read(p)
    assert errs == []
    assert [(r.text, r.labels) for r in recs] == [("naïve café ☕", ["12345678"]), ("b", None)]
    assert recs[0].meta == {"x": 1.25e10}


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_any_line_ending_across_small_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             newline: str) -> None:
    import labella.ingest.textfiles as textfiles

    monkeypatch.setattr(textfiles, "CHUNK", 3)
    rows = ["text,label", '"two\nlines",a', "a much longer line than one chunk,b", "last,c"]
    p = write(tmp_path, "nl.csv", newline.join(rows) + newline)
    recs, errs, _ = read(p)
    assert errs == []
    assert [r.text for r in recs] == ["two\nlines", "a much longer line than one chunk", "last"]
    assert [r.labels for r in recs] == [["a"], ["b"], ["c"]]
