"""Saving heads without pickle: round trips and refusals."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import SGDClassifier

from labella.al import SklearnHead, logistic_regression
from labella.al.serialize import load_head, read_metadata, save_head
from labella.errors import DataError, UnsafeFormatError
from tests.al.conftest import make_blobs, make_multilabel


def _same(a: SklearnHead, b: SklearnHead, X: np.ndarray) -> None:
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_single_label_round_trip(tmp_path: Path) -> None:
    X, y = make_blobs()
    head = logistic_regression(3, C=0.5).fit(X, y)
    save_head(head, tmp_path / "h", class_names=["a", "b", "c"], featuriser_key="tfidf:v1")
    back = load_head(tmp_path / "h")
    _same(head, back, X)
    assert back.estimator.C == 0.5
    meta = read_metadata(tmp_path / "h" / "head.json")
    assert meta["class_names"] == ["a", "b", "c"] and meta["featuriser_key"] == "tfidf:v1"
    assert meta["n_classes"] == 3 and meta["multi_label"] is False
    assert {"numpy", "scikit-learn", "labella"} <= set(meta["versions"])
    # the loaded head can be cloned and refitted like the original
    _same(head.clone().fit(X, y), back.clone().fit(X, y), X)


def test_single_label_with_missing_classes_round_trip(tmp_path: Path) -> None:
    X, y = make_blobs(n_classes=4)
    keep = y != 2
    head = logistic_regression(4).fit(X[keep][:30], y[keep][:30])
    save_head(head, tmp_path)
    _same(head, load_head(tmp_path), X)
    one = logistic_regression(4).fit(X[:3], np.array([1, 1, 1]))  # a single class seen so far
    save_head(one, tmp_path / "one")
    _same(one, load_head(tmp_path / "one"), X)


def test_multi_label_round_trip_with_a_constant_label(tmp_path: Path) -> None:
    X, Y = make_multilabel()
    Y[:, 1] = 0  # a label never seen positive: stored as a constant
    head = logistic_regression(4, multi_label=True).fit(X, Y)
    save_head(head, tmp_path)
    back = load_head(tmp_path)
    _same(head, back, X)
    assert back.multi_label and read_metadata(tmp_path)["labels"][1] == 0.0


def test_arbitrary_estimator_via_skops(tmp_path: Path) -> None:
    X, y = make_blobs()
    head = SklearnHead(SGDClassifier(loss="log_loss", random_state=0), 3).fit(X, y)
    save_head(head, tmp_path)
    assert read_metadata(tmp_path)["kind"] == "sklearn_skops"
    _same(head, load_head(tmp_path), X)


def test_skops_needs_explicit_trust_for_unusual_types(tmp_path: Path) -> None:
    X, Y = make_multilabel()
    head = SklearnHead(RandomForestClassifier(n_estimators=3, random_state=0), 4, multi_label=True).fit(X, Y)
    save_head(head, tmp_path)
    with pytest.raises(UnsafeFormatError, match=r"sklearn\.tree\._tree\.Tree"):
        load_head(tmp_path)
    _same(head, load_head(tmp_path, trusted=["sklearn.tree._tree.Tree"]), X)


def test_tampered_arrays_are_refused(tmp_path: Path) -> None:
    X, y = make_blobs()
    save_head(logistic_regression(3).fit(X, y), tmp_path)
    npz = tmp_path / "head.npz"
    with np.load(npz) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["coef"] = arrays["coef"] * 2
    np.savez(npz, **arrays)
    with pytest.raises(UnsafeFormatError, match="sha256"):
        load_head(tmp_path)


def test_object_array_is_refused_even_with_a_matching_hash(tmp_path: Path) -> None:
    X, y = make_blobs()
    save_head(logistic_regression(3).fit(X, y), tmp_path)
    npz = tmp_path / "head.npz"
    with np.load(npz) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["coef"] = np.array([{"x": 1}], dtype=object)  # would need pickle to load
    np.savez(npz, **arrays)
    meta_file = tmp_path / "head.json"
    meta = json.loads(meta_file.read_text())
    import hashlib

    meta["sha256"] = hashlib.sha256(npz.read_bytes()).hexdigest()
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(UnsafeFormatError, match="pickle"):
        load_head(tmp_path)


class _Boom:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_pickle_files_are_refused_without_being_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    for name in ("model.pkl", "model.joblib"):
        bad = tmp_path / name
        bad.write_bytes(pickle.dumps(_Boom(str(marker))))
        with pytest.raises(UnsafeFormatError, match="run code"):
            load_head(bad)
    # a pickle dressed up as the data file of a valid-looking head
    d = tmp_path / "disguised"
    X, y = make_blobs()
    save_head(logistic_regression(3).fit(X, y), d)
    (d / "head.npz").write_bytes(pickle.dumps(_Boom(str(marker))))
    meta = json.loads((d / "head.json").read_text())
    import hashlib

    meta["sha256"] = hashlib.sha256((d / "head.npz").read_bytes()).hexdigest()
    (d / "head.json").write_text(json.dumps(meta))
    with pytest.raises(UnsafeFormatError):
        load_head(d)
    assert not marker.exists()


@pytest.mark.parametrize("edit", [
    {"format": "something-else"},
    {"format_version": 99},
    {"kind": "torch_pickle"},
    {"data_file": "../elsewhere.npz"},
])
def test_metadata_is_checked(tmp_path: Path, edit: dict) -> None:
    X, y = make_blobs()
    save_head(logistic_regression(3).fit(X, y), tmp_path)
    meta = json.loads((tmp_path / "head.json").read_text())
    meta.update(edit)
    (tmp_path / "head.json").write_text(json.dumps(meta))
    with pytest.raises(UnsafeFormatError):
        load_head(tmp_path)


def test_not_a_head_directory(tmp_path: Path) -> None:
    with pytest.raises(UnsafeFormatError, match=r"head\.json"):
        load_head(tmp_path)
    (tmp_path / "head.json").write_text("not json")
    with pytest.raises(UnsafeFormatError, match="JSON"):
        load_head(tmp_path)


def test_unfitted_head_cannot_be_saved(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="fitted"):
        save_head(logistic_regression(3), tmp_path)
