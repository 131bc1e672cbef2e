"""Rows a careless or hostile file holds: each is its own error, the rows around it land."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from labella.errors import DataError
from labella.ingest.cells import MAX_ID_CHARS
from labella.ingest.reader import open_source
from labella.ingest.textfiles import MAX_JSON_DEPTH, SUSPECT_FIELD_LINES
from tests.ingest.conftest import png_bytes
from tests.ingest.test_tables import LIMITS, read, write


def test_a_quote_never_closed_is_reported_and_the_rows_it_swallowed_land(tmp_path: Path) -> None:
    p = write(tmp_path, "q.csv", 'text,label\n"unterminated quote, hello,pos\nfine row,neg\n'
                                 "last row,pos")
    recs, errs, _ = read(p)
    assert [(r.position, r.text, r.labels) for r in recs] == [
        (2, "fine row", ["neg"]), (3, "last row", ["pos"])]
    assert [e.position for e in errs] == [1]
    assert errs[0].message == ("row 1: a quote opened on line 2 is never closed (the file ends "
                               "inside it)")


def test_a_stray_quote_much_later_does_not_hide_the_rows_between(tmp_path: Path) -> None:
    rows = "".join(f"row number {i},pos\n" for i in range(SUSPECT_FIELD_LINES + 5))
    p = write(tmp_path, "q.csv", f'text,label\n"opened here,neg\n{rows}a "stray" one,neg\n')
    recs, errs, _ = read(p)
    assert len(recs) == SUSPECT_FIELD_LINES + 6 and recs[0].text == "row number 0"
    assert recs[-1].text == 'a "stray" one'
    assert [e.position for e in errs] == [1] and "line 2" in errs[0].message


def test_a_long_quoted_text_is_still_one_row(tmp_path: Path) -> None:
    poem = "\n".join(f"line {i} of a long poem" for i in range(SUSPECT_FIELD_LINES * 2))
    p = write(tmp_path, "poem.csv", f'text,label\n"{poem}",pos\nnext,neg\n')
    recs, errs, _ = read(p)
    assert [r.text for r in recs] == [poem, "next"] and errs == []
    alone = write(tmp_path, "alone.csv", f'text\n"{poem}"\nnext\n')  # one column
    recs, errs, _ = read(alone)
    assert [r.text for r in recs] == [poem, "next"] and errs == []


def test_rows_after_a_multi_line_field_name_their_line(tmp_path: Path) -> None:
    p = write(tmp_path, "m.csv", 'text,label\n"two\nlines",pos\n   ,neg\n')
    _, errs, _ = read(p)
    assert errs[0].message == "row 2 (line 4): empty text"


def test_nested_json_is_a_row_error_in_lines_and_arrays(tmp_path: Path) -> None:
    deep = "[" * 5000 + "]" * 5000
    fair = "[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1)
    lines = (f'{{"text": "one", "meta": {deep}}}\n{{"text": "two", "meta": {fair}}}\n'
             f'{{"text": "three", "meta": [{fair}]}}\n{{"text": "four"}}\n')
    recs, errs, _ = read(write(tmp_path, "n.jsonl", lines))
    assert [r.text for r in recs] == ["two", "four"]
    assert [e.position for e in errs] == [1, 3]
    assert all(f"nested more than {MAX_JSON_DEPTH} levels" in e.message for e in errs)
    array = f'[{{"text": "one", "m": {deep}, "s": "]\\"["}}, {{"text": "two"}}]'
    recs, errs, _ = read(write(tmp_path, "n.json", array))
    assert [r.text for r in recs] == ["two"] and [e.position for e in errs] == [1]


def test_a_first_json_object_without_text_is_one_bad_row(tmp_path: Path) -> None:
    p = write(tmp_path, "f.jsonl", '{"title": "no text"}\n{"text": "ok", "label": "pos"}\n')
    recs, errs, _ = read(p)
    assert [r.text for r in recs] == ["ok"]
    assert errs[0].message == "row 1: no 'text' field; fields are ['title']"
    with pytest.raises(DataError, match=r"no 'text' column; columns are \['title'\]"):
        read(write(tmp_path, "none.jsonl", '{"title": "a"}\n{"title": "b"}\n'))


@pytest.mark.parametrize(("row", "expected"), [
    ("1,hello\x00world,pos", "row 1: text contains a NUL character (\\x00) at character 6"),
    ("2,fine,p\x00s", "row 1: a label contains a NUL character"),
    ("3\x00,fine,pos", "row 1: the id contains a NUL character"),
    (f"{'x' * (MAX_ID_CHARS + 1)},fine,pos", f"row 1: id is 257 characters; the limit is {MAX_ID_CHARS}"),
    ("4,fine,pos,a\x00b", "row 1: column 'note' contains a NUL character"),
])
def test_values_no_database_can_store_are_row_errors(tmp_path: Path, row: str,
                                                     expected: str) -> None:
    p = write(tmp_path, "v.csv", f"id,text,label,note\n{row}\n9,good,neg,\n")
    recs, errs, _ = read(p)
    assert [r.text for r in recs] == ["good"]
    assert errs[0].message.startswith(expected)


def test_an_id_at_the_limit_lands(tmp_path: Path) -> None:
    recs, errs, _ = read(write(tmp_path, "v.csv", f"id,text\n{'x' * MAX_ID_CHARS},fine\n"))
    assert errs == [] and recs[0].external_id == "x" * MAX_ID_CHARS


def test_an_empty_image_in_a_zip_is_one_bad_row(tmp_path: Path) -> None:
    z = tmp_path / "e.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("cat/a.png", png_bytes())
        zf.writestr("cat/empty.png", b"")
        zf.writestr("dog/b.png", png_bytes(colour=(1, 2, 3)))
    out = list(open_source(z, task="image", multi_label=False, limits=LIMITS))
    assert [getattr(r, "image_name", None) for r in out] == ["cat/a.png", None, "dog/b.png"]
    assert out[1].message == "cat/empty.png: empty file (0 bytes); expected an image"  # type: ignore[union-attr]


def test_messages_name_a_local_file_by_its_name_only(tmp_path: Path) -> None:
    folder = tmp_path / "deep" / "inside"
    folder.mkdir(parents=True)
    for name, content in (("empty.csv", b""), ("x.xyz", b"a")):
        (folder / name).write_bytes(content)
        with pytest.raises(DataError) as err:
            open_source(folder / name, task="text", multi_label=False, limits=LIMITS)
        assert str(tmp_path) not in str(err.value) and str(err.value).startswith(name)
    with pytest.raises(DataError) as err:
        open_source(folder / "gone.csv", task="text", multi_label=False, limits=LIMITS)
    assert str(err.value) == "gone.csv: no such file or folder"
    assert json.dumps(str(err.value)).count("/") == 0
