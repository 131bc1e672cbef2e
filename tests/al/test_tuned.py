from __future__ import annotations

import numpy as np
import pytest

from labella.al.tuned import TunedLogisticHead
from tests.al.conftest import make_blobs


def test_tunes_only_when_labels_grow_by_half() -> None:
    X, y = make_blobs(n=400, n_classes=3, seed=0)
    head = TunedLogisticHead(3, min_labels=20)
    head.fit(X[:10], y[:10])
    assert head.tuned_at_ == 0 and head.C_ == 10.0  # too few labels to cross-validate
    head.fit(X[:40], y[:40])
    assert head.tuned_at_ == 40 and head.C_ in head.grid
    head.fit(X[:59], y[:59])
    assert head.tuned_at_ == 40  # 59 < 1.5 * 40: no re-tune
    head.fit(X[:60], y[:60])
    assert head.tuned_at_ == 60
    with pytest.raises(ValueError, match="growth"):
        TunedLogisticHead(3, growth=1.0)


def test_picks_strong_regularisation_when_labels_are_noise() -> None:
    # no signal: a weakly regularised head is confidently wrong on held-out rows,
    # which CV log-loss punishes (CV accuracy is a coin toss for every C)
    rng = np.random.default_rng(3)
    X = rng.normal(size=(120, 384))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = rng.integers(0, 2, size=120)
    head = TunedLogisticHead(2, grid=(1.0, 100.0)).fit(X, y)
    assert head.C_ == 1.0
    loss_1, _ = head.cv_scores(X, y, 1.0, 5)
    loss_100, _ = head.cv_scores(X, y, 100.0, 5)
    assert loss_1 < loss_100


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


def test_multi_label_is_not_tuned_and_equals_balanced_c10() -> None:
    from labella.al.pipelines import balanced_head
    from tests.al.conftest import make_multilabel

    X, Y = make_multilabel(n=200)
    head = TunedLogisticHead(Y.shape[1], multi_label=True).fit(X, Y)
    assert head.tuned_at_ == 0
    ref = balanced_head(Y.shape[1], True).fit(X, Y)
    np.testing.assert_allclose(head.predict_proba(X), ref.predict_proba(X))


def test_one_standard_error_rule_prefers_the_most_regularised_close_candidate() -> None:
    head = TunedLogisticHead(2, grid=(1.0, 3.0, 10.0))
    rng = np.random.default_rng(0)
    spread = rng.normal(0.0, 0.5, size=100)  # per-row losses: standard error 0.05
    losses = [0.70 + spread, 0.63 + spread, 0.60 + spread]
    rights = [np.ones(100, dtype=bool)] * 3
    se = float(losses[2].std() / np.sqrt(100))
    assert losses[1].mean() <= losses[2].mean() + se < losses[0].mean()
    assert head.choose(losses, rights) == 1  # C=3: within one SE of C=10, the best
    assert TunedLogisticHead(2, grid=(1.0, 3.0, 10.0), one_se=False).choose(losses, rights) == 2
    # a clear winner stays the winner
    assert head.choose([0.9 + spread, 0.8 + spread, 0.3 + spread], rights) == 2


def test_one_se_setting_survives_clone() -> None:
    X, y = make_blobs(n=200, n_classes=3, seed=2)
    head = TunedLogisticHead(3, one_se=False).fit(X[:60], y[:60])
    assert head.clone().one_se is False
