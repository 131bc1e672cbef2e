from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from labella import datafiles
from labella.errors import DataError


def test_csv_single_label_with_bad_rows_and_duplicates(tmp_path: Path) -> None:
    p = tmp_path / "d.csv"
    pd.DataFrame({"text": ["good one", "", "bad one", "good one", "meh"],
                  "label": ["pos", "pos", "neg", "pos", ""]}).to_csv(p, index=False)
    d = datafiles.load(p)
    assert d.items == ["good one", "bad one"]
    assert d.class_names == ["neg", "pos"]
    assert d.y.tolist() == [1, 0]
    assert any("row 3: empty text" in s for s in d.skipped)
    assert any("row 6: missing label" in s for s in d.skipped)
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


def test_non_utf8_is_a_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "latin.csv"
    p.write_bytes("text,label\ncaf\xe9,a\nx,b\n".encode("latin-1"))
    with pytest.raises(DataError, match="UTF-8"):
        datafiles.load(p)


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
    assert np.array_equal(d.y, [[1, 1], [0, 1]])
    assert any("outside" in s for s in d.skipped)


def test_stratified_split_keeps_every_class(tmp_path: Path) -> None:
    p = tmp_path / "d.csv"
    pd.DataFrame({"text": [f"t{i}" for i in range(50)], "label": ["a"] * 40 + ["b"] * 10}).to_csv(p, index=False)
    d = datafiles.load(p)
    pool, test = datafiles.split(d, test_fraction=0.2, seed=1)
    assert len(test) == 10 and (d.y[test] == 1).sum() == 2
    assert set(pool) | set(test) == set(range(50)) and not set(pool) & set(test)
