"""``labella simulate``'s loader: the import's reader, every item labelled."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from labella import datafiles
from labella.errors import DataError
from tests.s3_server import S3Server, s3_server

__all__ = ["s3_server"]


def test_csv_single_label_with_bad_rows_and_duplicates(tmp_path: Path) -> None:
    p = tmp_path / "d.csv"
    pd.DataFrame({"text": ["good one", "", "bad one", "good one", "meh"],
                  "label": ["pos", "pos", "neg", "pos", ""]}).to_csv(p, index=False)
    d = datafiles.load(p)
    assert d.items == ["good one", "bad one"]
    assert d.class_names == ["neg", "pos"]
    assert d.y.tolist() == [1, 0]
    # rows are numbered as the import numbers them: data rows, the header not counted
    assert any("row 2: empty text" in s for s in d.skipped)
    assert any("row 5: missing label" in s for s in d.skipped)
    assert any("repeat" in s for s in d.skipped)


def test_jsonl_multi_label_and_split(tmp_path: Path) -> None:
    p = tmp_path / "d.jsonl"
    pd.DataFrame({"text": ["a", "b", "c"], "labels": ["x|y", "", "y"],
                  "split": ["train", "test", "train"]}).to_json(p, orient="records", lines=True)
    d = datafiles.load(p)
    assert d.multi_label and d.class_names == ["x", "y"]
    assert d.y.tolist() == [[1, 1], [0, 0], [0, 1]]
    assert d.is_test.tolist() == [False, True, False]
    pool, test = datafiles.split(d, test_fraction=0.5)
    assert pool.tolist() == [0, 2] and test.tolist() == [1]


def test_parquet_and_missing_column(tmp_path: Path) -> None:
    p = tmp_path / "d.parquet"
    pd.DataFrame({"text": ["a", "b"], "label": ["1", "2"]}).to_parquet(p)
    assert datafiles.load(p).class_names == ["1", "2"]
    q = tmp_path / "bad.csv"
    pd.DataFrame({"body": ["a"], "label": ["1"]}).to_csv(q, index=False)
    with pytest.raises(DataError, match="no 'text' column"):
        datafiles.load(q)


def test_a_non_utf8_row_is_skipped_and_the_rest_load(tmp_path: Path) -> None:
    p = tmp_path / "latin.csv"
    p.write_bytes("text,label\ncaf\xe9,a\nx,b\ny,a\n".encode("latin-1"))
    d = datafiles.load(p)
    assert d.items == ["x", "y"]
    assert any(s.startswith("row 1: not valid UTF-8 (byte 0xe9") for s in d.skipped)


def _img(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (10, 20, 30)).save(path)


def test_image_dir_with_splits(tmp_path: Path) -> None:
    for split in ("train", "test"):
        for cls in ("cat", "dog"):
            _img(tmp_path / split / cls / f"{split}-{cls}.png")
    d = datafiles.load(tmp_path)
    assert d.modality == "image" and d.class_names == ["cat", "dog"]
    assert int(d.is_test.sum()) == 2 and len(d.items) == 4


def test_multi_label_images_refuse_paths_outside(tmp_path: Path) -> None:
    _img(tmp_path / "a.png")
    _img(tmp_path / "b.png")
    (tmp_path / "labels.csv").write_text("filename,labels\na.png,x|y\nb.png,y\n../etc/passwd,x\n")
    d = datafiles.load(tmp_path)
    assert d.multi_label and len(d.items) == 2
    assert d.items == [str((tmp_path / n).resolve()) for n in ("a.png", "b.png")]
    assert np.array_equal(d.y, [[1, 1], [0, 1]])
    assert any("names '../etc/passwd', which is not an image" in s for s in d.skipped)


def test_stratified_split_keeps_every_class(tmp_path: Path) -> None:
    p = tmp_path / "d.csv"
    pd.DataFrame({"text": [f"t{i}" for i in range(50)], "label": ["a"] * 40 + ["b"] * 10}).to_csv(p, index=False)
    d = datafiles.load(p)
    pool, test = datafiles.split(d, test_fraction=0.2, seed=1)
    assert len(test) == 10 and (d.y[test] == 1).sum() == 2
    assert set(pool) | set(test) == set(range(50)) and not set(pool) & set(test)


# -- the import's reader: every format it reads, and its split names -------------------


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _png(colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buf, format="PNG")
    return buf.getvalue()


def test_json_array_and_the_one_set_of_split_names(tmp_path: Path) -> None:
    rows = [{"text": "a", "label": "x", "split": "train"},
            {"text": "b", "label": "y", "split": "validation"},  # labelled training data: pool
            {"text": "c", "label": "x", "split": "dev"},
            {"text": "d", "label": "y", "split": "Holdout"},     # held out, like "test"
            {"text": "e", "label": "x", "split": "eval"},
            {"text": "f", "label": "y", "split": "later"}]      # unknown: a bad row
    p = tmp_path / "d.json"
    p.write_text(json.dumps(rows))
    d = datafiles.load(p)
    assert d.items == ["a", "b", "c", "d", "e"]
    assert d.is_test is not None and d.is_test.tolist() == [False, False, False, True, True]
    assert any("row 6: unknown split 'later'" in s for s in d.skipped)


def test_a_zip_holding_a_table_is_text(tmp_path: Path) -> None:
    z = _zip(tmp_path / "reviews.zip", {"reviews/data.csv": b"text,label\ngood,pos\nbad,neg\n"})
    d = datafiles.load(z)
    assert d.modality == "text" and d.items == ["good", "bad"] and d.class_names == ["neg", "pos"]


def test_a_zip_of_images_gives_their_bytes(tmp_path: Path) -> None:
    red, blue = _png((200, 0, 0)), _png((0, 0, 200))
    z = _zip(tmp_path / "colours.zip", {"train/red/1.png": red, "val/blue/2.png": blue,
                                        "test/red/3.png": red[:30],
                                        "test/blue/4.png": blue})
    d = datafiles.load(z)
    assert d.modality == "image" and d.class_names == ["blue", "red"]
    # sorted by path; val/ is a split folder (pool), not a class; the broken PNG is skipped
    assert d.items == [blue, red, blue] and d.y.tolist() == [0, 1, 0]
    assert d.is_test is not None and d.is_test.tolist() == [True, False, False]
    assert any("test/red/3.png" in s for s in d.skipped)


def test_a_table_on_s3(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    key = f"{s3_server.prefix()}/sets/data.csv"
    s3_server.put(key, b"text,label,split\none,a,train\ntwo,b,test\nthree,a,\n")
    d = datafiles.load(f"s3://{s3_server.bucket}/{key}", storage_options=s3_server.storage_options)
    assert d.name == "sets" and d.items == ["one", "two", "three"]
    assert d.is_test is not None and d.is_test.tolist() == [False, True, False]
    # without storage_options (as `labella simulate s3://...` calls it): the server's settings
    opts = s3_server.storage_options
    for name, value in (("LABELLA_S3_ENDPOINT_URL", opts["endpoint_url"]),
                        ("AWS_ACCESS_KEY_ID", opts["key"]), ("AWS_SECRET_ACCESS_KEY", opts["secret"]),
                        ("AWS_DEFAULT_REGION", opts["client_kwargs"]["region_name"])):
        monkeypatch.setenv(name, value)
    assert datafiles.load(f"s3://{s3_server.bucket}/{key}").items == d.items
