from __future__ import annotations

import numpy as np

from labella.al.tuned import TunedLogisticHead
from tests.al.conftest import make_blobs


def test_tunes_only_when_labels_double() -> None:
    X, y = make_blobs(n=400, n_classes=3, seed=0)
    head = TunedLogisticHead(3, min_labels=20)
    head.fit(X[:10], y[:10])
    assert head.tuned_at_ == 0  # too few labels to cross-validate
    head.fit(X[:40], y[:40])
    assert head.tuned_at_ == 40 and head.C_ in head.grid
    head.fit(X[:70], y[:70])
    assert head.tuned_at_ == 40  # 70 < 2 * 40: no re-tune
    head.fit(X[:80], y[:80])
    assert head.tuned_at_ == 80


def test_picks_weak_regularisation_for_separable_high_dim_data() -> None:
    rng = np.random.default_rng(1)
    d, n = 1280, 120
    centers = rng.normal(size=(4, d))
    y = rng.integers(0, 4, size=n)
    X = centers[y] + 0.8 * rng.normal(size=(n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    head = TunedLogisticHead(4, C=1.0, grid=(0.01, 30.0)).fit(X, y)
    assert head.C_ == 30.0


def test_clone_keeps_the_tuned_C_and_predicts_all_columns() -> None:
    X, y = make_blobs(n=200, n_classes=3, seed=2)
    head = TunedLogisticHead(3).fit(X[:60], y[:60])
    twin = head.clone()
    assert twin.C_ == head.C_ and twin.tuned_at_ == head.tuned_at_
    proba = twin.fit(X[:60], y[:60]).predict_proba(X)
    assert proba.shape == (200, 3)
    np.testing.assert_allclose(proba, head.predict_proba(X))
