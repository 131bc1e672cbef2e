"""Metrics against scikit-learn on random data, and the savings figures."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn import metrics as skm

from labella.al.metrics import (
    accuracy,
    confusion_matrix,
    evaluate,
    hamming_loss,
    labels_to_target,
    macro_f1,
    macro_f1_multilabel,
    micro_f1_multilabel,
    per_class_precision_recall,
    savings,
    savings_factor,
)
from labella.errors import DataError


def _single(seed: int, n_classes: int = 4, n: int = 150) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    pred = np.where(rng.random(n) < 0.6, y, rng.integers(0, n_classes, n))
    if seed % 2:  # a class that is never predicted
        pred[pred == 1] = 0
    return y, pred


def _multi(seed: int, n: int = 120, L: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random((n, L)) < 0.3).astype(np.int8)
    pred = np.where(rng.random((n, L)) < 0.7, y, 1 - y).astype(np.int8)
    y[:, 4] = 0  # a label that never occurs
    pred[:, 4] = 0
    return y, pred


@pytest.mark.parametrize("seed", range(6))
def test_single_label_matches_sklearn(seed: int) -> None:
    y, pred = _single(seed)
    C = 4
    assert accuracy(y, pred) == pytest.approx(skm.accuracy_score(y, pred))
    assert macro_f1(y, pred, C) == pytest.approx(skm.f1_score(y, pred, average="macro", zero_division=0))
    np.testing.assert_array_equal(confusion_matrix(y, pred, C), skm.confusion_matrix(y, pred, labels=range(C)))
    per = per_class_precision_recall(y, pred, C)
    p, r, f, s = skm.precision_recall_fscore_support(y, pred, labels=range(C), zero_division=0)
    for c in range(C):
        assert per[c]["precision"] == pytest.approx(p[c])
        assert per[c]["recall"] == pytest.approx(r[c])
        assert per[c]["f1"] == pytest.approx(f[c])
        assert per[c]["support"] == s[c]


def test_macro_f1_ignores_classes_absent_from_truth_and_prediction() -> None:
    y = np.array([0, 0, 2, 2])
    pred = np.array([0, 2, 2, 2])
    assert macro_f1(y, pred, 5) == pytest.approx(skm.f1_score(y, pred, average="macro"))


@pytest.mark.parametrize("seed", range(6))
def test_multi_label_matches_sklearn(seed: int) -> None:
    y, pred = _multi(seed)
    assert micro_f1_multilabel(y, pred) == pytest.approx(skm.f1_score(y, pred, average="micro", zero_division=0))
    assert macro_f1_multilabel(y, pred) == pytest.approx(skm.f1_score(y, pred, average="macro", zero_division=0))
    assert accuracy(y, pred) == pytest.approx(skm.accuracy_score(y, pred))
    assert hamming_loss(y, pred) == pytest.approx(skm.hamming_loss(y, pred))


def test_evaluate_single_label_from_probabilities_with_names() -> None:
    y, pred = _single(1, n_classes=3)
    proba = np.eye(3)[pred] * 0.5 + 0.5 / 3
    out = evaluate(y, proba, multi_label=False, class_names=["cat", "dog", "owl"])
    assert json.loads(json.dumps(out)) == out  # JSON-safe, keys survive a round trip
    assert out["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert set(out["per_class"]) == {"cat", "dog", "owl"}
    assert out["per_class"]["dog"]["precision"] == 0.0  # never predicted
    assert out["confusion_matrix"] == skm.confusion_matrix(y, pred, labels=range(3)).tolist()
    assert out["n_items"] == len(y)


def test_evaluate_single_label_from_indices_keys_by_index_string() -> None:
    out = evaluate(np.array([0, 1, 2, 2]), np.array([0, 1, 1, 2]), multi_label=False)
    assert set(out["per_class"]) == {"0", "1", "2"}
    assert out["per_class"]["2"]["recall"] == 0.5


def test_evaluate_multi_label_thresholds_probabilities() -> None:
    y, pred = _multi(3)
    proba = np.where(pred == 1, 0.8, 0.2)
    out = evaluate(y, proba, multi_label=True, class_names=list("abcde"))
    assert json.loads(json.dumps(out)) == out
    assert out["micro_f1"] == pytest.approx(skm.f1_score(y, pred, average="micro"))
    assert out["subset_accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert out["hamming_loss"] == pytest.approx(skm.hamming_loss(y, pred))
    assert out["per_label"]["a"]["recall"] == pytest.approx(skm.recall_score(y[:, 0], pred[:, 0]))


def test_shape_mismatch_is_a_clear_error() -> None:
    with pytest.raises(DataError, match="shape"):
        accuracy(np.zeros(3), np.zeros(4))
    with pytest.raises(DataError, match="class names"):
        evaluate(np.array([0, 1]), np.array([0, 1]), multi_label=False, class_names=["a"])


def test_labels_to_target() -> None:
    labels, scores = [10, 20, 30, 40], [0.5, 0.7, 0.82, 0.81]
    assert labels_to_target(labels, scores, 0.8) == 30
    assert labels_to_target(labels, scores, 0.5) == 10
    assert labels_to_target(labels, scores, 0.9) is None
    assert labels_to_target([30, 10, 20], [0.9, 0.1, 0.95], 0.9) == 20  # in order of labels


def test_savings_factor() -> None:
    active = ([10, 20, 30, 40], [0.6, 0.8, 0.85, 0.9])
    rand = ([10, 20, 40, 80], [0.5, 0.6, 0.7, 0.8])
    assert savings_factor(*active, *rand, 0.8) == pytest.approx(80 / 20)
    assert savings_factor(*rand, *active, 0.8) == pytest.approx(20 / 80)
    assert savings_factor(*rand, *active, 0.95) is None  # a never reaches


def test_savings_lower_bound_when_baseline_never_reaches() -> None:
    active = ([10, 20, 30], [0.6, 0.8, 0.9])
    rand = ([10, 20, 50], [0.5, 0.6, 0.7])
    s = savings(*active, *rand, 0.85)
    assert s.lower_bound and s.factor == pytest.approx(50 / 30) and s.labels_b == 50
    assert savings_factor(*active, *rand, 0.85) == s.factor
    assert json.loads(json.dumps(s.as_dict()))["lower_bound"] is True
