"""The dataset catalogue: digits offline, hub entries fail fast and clearly without a hub."""

from __future__ import annotations

import io
import socket
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits

from labella.config import Limits
from labella.errors import DataError, MissingExtraError, UnknownNameError
from labella.ingest import catalogue
from labella.ingest.catalogue import (
    CATALOGUE,
    CatalogueUnavailableError,
    get_entry,
    list_catalogue,
    read_catalogue,
)
from labella.ingest.records import RawRecord

HUB_ENTRIES = [e.name for e in CATALOGUE if e.source == "huggingface"]


@pytest.fixture(scope="module")
def digits() -> list[RawRecord]:
    return list(read_catalogue("digits", limits=Limits()))


def test_entries_are_complete() -> None:
    entries = list_catalogue()
    assert [e.name for e in entries] == [e.name for e in CATALOGUE]
    assert len({e.name for e in entries}) == len(entries)
    assert {"digits", "imdb", "ag_news", "cifar10"} <= {e.name for e in entries}
    for e in entries:
        assert e.title and e.description and e.size_hint and e.license
        assert e.task in ("text", "image")
        assert (e.hf_id is not None) == (e.source == "huggingface")
        assert e.labels and len(set(e.labels)) == len(e.labels)
    assert get_entry("imdb").labels == ["neg", "pos"]
    assert get_entry("digits").source == "builtin"
    assert any(e.multi_label for e in entries)


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(UnknownNameError, match="unknown catalogue dataset 'mnist'; known: "
                                               "ag_news, cifar10, digits"):
        get_entry("mnist")
    with pytest.raises(UnknownNameError):
        read_catalogue("mnist", limits=Limits())


def test_digits_records(digits: list[RawRecord]) -> None:
    target = load_digits().target
    assert len(digits) == 1797
    assert [r.position for r in digits] == list(range(1, 1798))
    assert digits[42].image_name == "digits/0042.png"
    assert digits[42].external_id == "42"
    assert [r.labels for r in digits] == [[str(t)] for t in target]
    assert all(r.text is None and r.image is not None for r in digits)
    img = Image.open(io.BytesIO(digits[0].image or b""))
    assert img.format == "PNG" and img.size == (32, 32) and img.mode == "L"
    pixels = np.asarray(img)
    assert pixels.max() > 200 and pixels.min() < 60  # light ground, dark strokes
    assert np.median(pixels) > 128  # mostly ground


def test_digits_hold_out_a_stratified_fifth(digits: list[RawRecord]) -> None:
    splits = Counter(r.split for r in digits)
    assert splits == {"pool": 1437, "evaluation": 360}
    per_class = Counter(r.labels[0] for r in digits if r.split == "evaluation" and r.labels)
    totals = Counter(r.labels[0] for r in digits if r.labels)
    for label, n in totals.items():
        assert abs(per_class[label] - 0.2 * n) <= 1, label


def test_digits_are_deterministic(digits: list[RawRecord]) -> None:
    again = list(read_catalogue("digits", limits=Limits(), limit=50))
    assert again == digits[:50]  # same images, labels and splits
    assert [r.image for r in again] == [r.image for r in digits[:50]]


def test_digits_respect_the_limits() -> None:
    assert list(read_catalogue("digits", limits=Limits(), limit=0)) == []
    with pytest.raises(DataError, match="more than 100 rows, the import limit"):
        list(read_catalogue("digits", limits=Limits(max_rows=100)))
    with pytest.raises(DataError, match=r"image of \d+ bytes; at most 10 allowed"):
        next(read_catalogue("digits", limits=Limits(max_image_bytes=10)))
    with pytest.raises(DataError, match="limit must be >= 0"):
        read_catalogue("digits", limits=Limits(), limit=-1)


@pytest.mark.parametrize("name", HUB_ENTRIES)
@pytest.mark.parametrize("var", ["HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"])
def test_hub_entries_fail_fast_when_offline(name: str, var: str, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("datasets")
    monkeypatch.setenv(var, "1")
    start = time.monotonic()
    with pytest.raises(CatalogueUnavailableError) as err:
        list(read_catalogue(name, limits=Limits(), cache_dir=tmp_path / "cache"))
    assert time.monotonic() - start < 10
    message = str(err.value)
    assert f"dataset {name!r} comes from the Hugging Face hub" in message
    assert "cannot be reached" in message and "built-in dataset: digits" in message


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_hub_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("datasets")
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HTTPS_PROXY", "https_proxy",
                "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    start = time.monotonic()
    with pytest.raises(CatalogueUnavailableError, match=r"dataset 'imdb' .*cannot connect to "
                                                        r"127\.0\.0\.1"):
        read_catalogue("imdb", limits=Limits())
    assert time.monotonic() - start < 10


def test_hub_entries_need_the_datasets_library(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)  # import fails
    with pytest.raises(MissingExtraError, match=r"labella\[hub\]"):
        read_catalogue("imdb", limits=Limits())


def test_hub_splits_labels_and_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mapping of a hub dataset, on a small local stand-in for the downloaded one."""
    datasets = pytest.importorskip("datasets")
    names = ["neg", "pos"]
    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=names)})
    local = datasets.DatasetDict({
        "train": datasets.Dataset.from_dict(
            {"text": [f"train {i}" for i in range(30)], "label": [i % 2 for i in range(30)]},
            features=features),
        "test": datasets.Dataset.from_dict(
            {"text": [f"test {i}" for i in range(10)], "label": [1] * 10}, features=features),
        "unsupervised": datasets.Dataset.from_dict(
            {"text": ["u"], "label": [-1]}, features=features),
    })
    calls: list[tuple[str, str | None]] = []

    def fake_load(path: str, name: str | None = None, **_: object) -> object:
        calls.append((path, name))
        return local

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    monkeypatch.setattr(catalogue, "_probe_hub", lambda entry, timeout: None)
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)

    records = list(read_catalogue("imdb", limits=Limits()))
    assert calls == [("stanfordnlp/imdb", None)]
    assert len(records) == 40  # the unsupervised split is not read
    assert [r.position for r in records] == list(range(1, 41))
    assert Counter(r.split for r in records) == {"pool": 30, "evaluation": 10}
    assert records[3].text == "train 3" and records[3].labels == ["pos"]
    assert records[3].external_id == "train/3"
    assert records[30].text == "test 0" and records[30].split == "evaluation"

    sample = list(read_catalogue("imdb", limits=Limits(), limit=8))
    assert Counter(r.split for r in sample) == {"pool": 6, "evaluation": 2}
    assert sample == list(read_catalogue("imdb", limits=Limits(), limit=8))  # seeded
    for r in sample:  # a sampled row keeps its own index
        split, idx = (r.external_id or "").split("/")
        assert r.text == f"{split} {idx}"


def test_hub_images_come_as_encoded_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    datasets = pytest.importorskip("datasets")
    entry = get_entry("cifar10")
    features = datasets.Features({"img": datasets.Image(),
                                  "label": datasets.ClassLabel(names=entry.labels)})
    images = [Image.new("RGB", (32, 32), (i * 20, 0, 0)) for i in range(4)]
    local = datasets.DatasetDict({
        "train": datasets.Dataset.from_dict({"img": images[:3], "label": [0, 3, 9]},
                                            features=features),
        "test": datasets.Dataset.from_dict({"img": images[3:], "label": [1]},
                                           features=features),
    })
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: local)
    monkeypatch.setattr(catalogue, "_probe_hub", lambda entry, timeout: None)
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)

    records = list(read_catalogue("cifar10", limits=Limits()))
    assert [r.labels for r in records] == [["airplane"], ["cat"], ["truck"], ["automobile"]]
    assert [r.split for r in records] == ["pool", "pool", "pool", "evaluation"]
    decoded = Image.open(io.BytesIO(records[1].image or b""))
    assert decoded.size == (32, 32) and decoded.getpixel((0, 0))[:3] == (20, 0, 0)
    assert records[1].image_name is not None and records[1].image_name.startswith("cifar10/train/")
    with pytest.raises(DataError, match="pixels allowed"):
        list(read_catalogue("cifar10", limits=Limits(max_image_pixels=100)))
