"""Hugging Face export: the folder loads offline with datasets, typed and split."""

from __future__ import annotations

import io
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from labella.errors import DataError
from labella.export import ExportItem, export_labels
from tests.export.conftest import T0, make_case, png

datasets = pytest.importorskip("datasets")


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No hub, and a cache of our own; returns the cache folder."""
    cache = tmp_path / "hf-cache"
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(cache))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    datasets.disable_progress_bars()
    return cache


def _load(folder: Path, cache: Path) -> Any:
    return datasets.load_dataset(str(folder), cache_dir=str(cache))


def _expected_index(labels: list[str] | None, names: list[str], multi: bool) -> Any:
    if multi:
        return None if labels is None else [names.index(n) for n in labels]
    return -1 if labels is None else names.index(labels[0])


@pytest.mark.parametrize("include_unlabeled", [False, True])
def test_hf_folder_loads_with_typed_features(case_name: str, include_unlabeled: bool,
                                             offline: Path, tmp_path: Path) -> None:
    case = make_case(case_name, include_unlabeled=include_unlabeled)
    spec = case.spec
    out = export_labels(iter(case.items), spec, "hf", tmp_path / "dataset")
    assert out == tmp_path / "dataset"
    assert (out / "data" / "train-00000-of-00001.parquet").is_file()
    assert (out / "data" / "test-00000-of-00001.parquet").is_file()

    ds = _load(out, offline)
    want = case.items if include_unlabeled else case.labelled()
    by_split = {"train": [i for i in want if i.split == "pool"],
                "test": [i for i in want if i.split == "evaluation"]}
    assert set(ds) == {"train", "test"}
    label_col = "labels" if spec.multi_label else "label"
    for split, items in by_split.items():
        part = ds[split]
        assert part.num_rows == len(items)
        feature = part.features[label_col]
        class_label = feature.feature if spec.multi_label else feature
        assert isinstance(class_label, datasets.ClassLabel)
        assert class_label.names == spec.label_names
        if spec.multi_label:
            assert not isinstance(feature, datasets.ClassLabel)  # a list of class labels
        assert part["id"] == [i.item_id for i in items]
        assert part[label_col] == [_expected_index(i.labels, spec.label_names, spec.multi_label)
                                   for i in items]
        assert part["suggestion"] == [
            _expected_index(i.suggestion, spec.label_names, spec.multi_label) for i in items]
        if spec.task == "text":
            assert part.features["text"] == datasets.Value("string")
            assert part["text"] == [i.text for i in items]
    first = ds["train"][0]
    assert first["annotated_at"] == T0.astimezone(UTC)
    if spec.task == "image":
        assert isinstance(ds["train"].features["image"], datasets.Image)
        img = first["image"]
        assert isinstance(img, Image.Image)
        assert img.size == (6, 4)
        raw = ds["train"].cast_column("image", datasets.Image(decode=False))[0]["image"]
        assert raw["bytes"] == png(want[0].item_id)
        assert Image.open(io.BytesIO(raw["bytes"])).format == "PNG"


def test_image_references_without_bytes_are_strings(offline: Path, tmp_path: Path) -> None:
    case = make_case("image-single", with_bytes=False)
    ds = _load(export_labels(case.items, case.spec, "hf", tmp_path / "d"), offline)
    assert ds["train"].features["image"] == datasets.Value("string")
    assert ds["train"]["image"][0] == "folder/img 0.png"


def test_only_nonempty_splits_are_written(offline: Path, tmp_path: Path) -> None:
    case = make_case("text-single")
    pool_only = [i for i in case.labelled() if i.split == "pool"]
    out = export_labels(pool_only, case.spec, "hf", tmp_path / "d")
    assert not (out / "data" / "test-00000-of-00001.parquet").exists()
    ds = _load(out, offline)
    assert set(ds) == {"train"} and ds["train"].num_rows == len(pool_only)


def test_dataset_card_describes_the_export(tmp_path: Path) -> None:
    yaml = pytest.importorskip("yaml")
    case = make_case("text-multi", include_unlabeled=True)
    out = export_labels(case.items, case.spec, "hf", tmp_path / "d")
    text = (out / "README.md").read_text(encoding="utf-8")
    _, header, body = text.split("---\n", 2)
    meta = yaml.safe_load(header)
    assert meta["pretty_name"] == case.spec.project
    assert meta["configs"][0]["data_files"] == [
        {"split": "train", "path": "data/train-00000-of-00001.parquet"},
        {"split": "test", "path": "data/test-00000-of-00001.parquet"}]
    labels = next(f for f in meta["dataset_info"]["features"] if f["name"] == "labels")
    assert labels["sequence"]["class_label"]["names"] == {
        str(i): n for i, n in enumerate(case.spec.label_names)}
    assert {s["name"]: s["num_examples"] for s in meta["dataset_info"]["splits"]} == {
        "train": 4, "test": 3}
    assert "Demo, \"project\" \\<1\\>" in body  # project name, Markdown-escaped
    assert "| train | 4 | 3 |" in body and "| test | 3 | 2 |" in body


def test_hf_refuses_a_nonempty_folder_and_an_empty_export(tmp_path: Path) -> None:
    case = make_case("text-single")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    with pytest.raises(DataError, match="must be new or empty"):
        export_labels(case.items, case.spec, "hf", busy)
    assert (busy / "keep.txt").read_text() == "mine"
    unlabelled = [ExportItem(1, None, "t", None, None, "pool")]
    with pytest.raises(DataError, match="needs at least one row"):
        export_labels(unlabelled, case.spec, "hf", tmp_path / "empty")
    assert not (tmp_path / "empty").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy"]


def test_hf_writes_into_an_existing_empty_folder(offline: Path, tmp_path: Path) -> None:
    case = make_case("text-single")
    (tmp_path / "d").mkdir()
    out = export_labels(case.items, case.spec, "hf", tmp_path / "d")
    assert _load(out, offline)["train"].num_rows == 3
