"""The confident-learning label-error finder (labella.al.label_errors)."""

from __future__ import annotations

import numpy as np
import pytest

from labella.al import label_errors as le
from labella.al.heads import logistic_regression
from labella.errors import DataError
from tests.al.conftest import make_blobs, make_multilabel


def _noisy(y: np.ndarray, n_classes: int, rate: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``y`` with a share ``rate`` of labels flipped to another class; the flipped rows."""
    rng = np.random.default_rng(seed)
    flip = rng.choice(len(y), size=int(rate * len(y)), replace=False)
    out = y.copy()
    out[flip] = (y[flip] + rng.integers(1, n_classes, size=len(flip))) % n_classes
    return out, flip


def test_thresholds_are_mean_self_confidence() -> None:
    labels = np.array([0, 0, 1, 1])
    p = np.array([[0.9, 0.1], [0.7, 0.3], [0.4, 0.6], [0.2, 0.8]])
    np.testing.assert_allclose(le.per_class_thresholds(labels, p), [0.8, 0.7])


def test_confident_joint_counts_confident_off_diagonals() -> None:
    labels = np.array([0, 0, 0, 1, 1, 1])
    p = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9],   # the third looks like a 1
                  [0.2, 0.8], [0.1, 0.9], [0.3, 0.7]])
    cj = le.confident_joint(labels, p, calibrate=False)
    assert cj[0, 1] == 1 and cj[1, 0] == 0
    cal = le.confident_joint(labels, p)
    np.testing.assert_array_equal(cal.sum(axis=1), [3, 3])  # rows sum to the class counts


def test_finder_recovers_flipped_labels() -> None:
    X, y = make_blobs(n=600, d=8, n_classes=3, seed=1)
    noisy, flipped = _noisy(y, 3, 0.1, seed=2)
    oof = le.cross_val_proba(lambda: logistic_regression(3), X, noisy, seed=0)
    res = le.find_label_issues(noisy, oof)
    found = set(res.indices.tolist())
    truth = set(flipped.tolist())
    precision = len(found & truth) / max(len(found), 1)
    recall = len(found & truth) / len(truth)
    assert precision > 0.6 and recall > 0.6, (precision, recall)
    # most suspicious first; the alternative is never the given label
    assert np.all(np.diff(res.scores) >= 0)
    assert np.all(res.suggested != res.given)
    # on the rows where the finder is right, the alternative is mostly the true class
    right = np.isin(res.indices, flipped)
    assert np.mean(res.suggested[right] == y[res.indices[right]]) > 0.8


def test_clean_labels_give_few_suspects() -> None:
    X, y = make_blobs(n=400, d=8, n_classes=3, seed=3)
    oof = le.cross_val_proba(lambda: logistic_regression(3), X, y, seed=0)
    res = le.find_label_issues(y, oof)
    assert len(res.indices) <= 0.05 * len(y)


def test_normalized_margin_ranking_and_quality_range() -> None:
    labels = np.array([0, 1, 1])
    p = np.array([[0.6, 0.4], [0.9, 0.1], [0.5, 0.5]])
    q = le.label_quality(labels, p, method="normalized_margin")
    np.testing.assert_allclose(q, [0.6, 0.1, 0.5])
    with pytest.raises(DataError, match="unknown ranking"):
        le.label_quality(labels, p, method="nope")


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(DataError, match="labels must have shape"):
        le.find_label_issues(np.array([0, 1]), np.array([[0.5, 0.5]]))
    with pytest.raises(DataError, match="class indices"):
        le.find_label_issues(np.array([0, 3]), np.array([[0.5, 0.5], [0.5, 0.5]]))
    with pytest.raises(DataError, match="at least 4"):
        le.cross_val_proba(lambda: logistic_regression(2), np.zeros((3, 2)), np.array([0, 1, 0]))


def test_multilabel_finder_flags_the_flipped_label() -> None:
    X, Y = make_multilabel(n=500, d=8, n_labels=3, seed=4)
    rng = np.random.default_rng(5)
    rows = rng.choice(len(Y), size=40, replace=False)
    noisy = Y.copy()
    noisy[rows, 0] = 1 - noisy[rows, 0]
    oof = le.cross_val_proba(lambda: logistic_regression(3, multi_label=True), X, noisy, seed=0)
    found, flags = le.find_label_issues_multilabel(noisy, oof)
    hit = np.isin(found, rows)
    assert hit.sum() >= 0.4 * len(rows)
    assert flags[hit, 0].all()  # the suspected label is the flipped one


def test_agrees_with_cleanlab() -> None:
    """Same maths as cleanlab's prune_by_noise_rate (a dev-only reference, AGPL)."""
    filt = pytest.importorskip("cleanlab.filter")
    X, y = make_blobs(n=600, d=8, n_classes=4, seed=6)
    noisy, _ = _noisy(y, 4, 0.1, seed=7)
    oof = le.cross_val_proba(lambda: logistic_regression(4), X, noisy, seed=0)
    ours = set(le.find_label_issues(noisy, oof).indices.tolist())
    theirs = set(np.flatnonzero(filt.find_label_issues(noisy, oof)).tolist())
    jaccard = len(ours & theirs) / max(len(ours | theirs), 1)
    assert jaccard >= 0.9, (len(ours), len(theirs), jaccard)
