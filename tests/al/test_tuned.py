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


def _two_blobs(seed: int, n: int = 2000, d: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Two classes apart along one axis, buried in 49 axes of noise (like an embedding
    in which the task is one direction among many)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, d))
    X[:, 0] += np.where(y == 1, 2.5, -2.5)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X, y


def test_pseudo_labels_from_the_pool_help_at_ten_labels() -> None:
    gains = []
    for seed in range(10):
        X, y = _two_blobs(seed)
        Xt, yt, X, y = X[1000:], y[1000:], X[:1000], y[:1000]
        lab = np.random.default_rng(seed).choice(1000, 10, replace=False)
        if len(set(y[lab])) < 2:
            continue
        unl = np.setdiff1d(np.arange(1000), lab)
        alone = TunedLogisticHead(2, first_batch="pseudo").fit(X[lab], y[lab])
        pooled = TunedLogisticHead(2, first_batch="pseudo").fit(X[lab], y[lab], unlabeled=X[unl])
        # 10 labels, 2 classes: 2 x 5 per class, at least 2, for each class
        assert alone.n_pseudo_ == 0 and pooled.n_pseudo_ == 20
        gains.append((pooled.predict(Xt) == yt).mean() - (alone.predict(Xt) == yt).mean())
    assert len(gains) >= 8 and np.mean(gains) > 0.005 and np.mean(np.array(gains) > 0) >= 0.7


def test_the_pool_is_used_only_before_the_first_tuning() -> None:
    X, y = make_blobs(n=400, n_classes=3, seed=4)
    head = TunedLogisticHead(3, first_batch="pseudo")
    assert head.wants_unlabeled(19) and not head.wants_unlabeled(20)
    assert not TunedLogisticHead(3, first_batch="pseudo", self_train_below=0).wants_unlabeled(5)
    assert not TunedLogisticHead(3, first_batch="pseudo", multi_label=True).wants_unlabeled(5)
    with_pool = TunedLogisticHead(3, first_batch="pseudo").fit(X[:30], y[:30], unlabeled=X[30:])
    without = TunedLogisticHead(3, first_batch="pseudo").fit(X[:30], y[:30])
    assert with_pool.n_pseudo_ == 0
    np.testing.assert_allclose(with_pool.predict_proba(X), without.predict_proba(X))
    few = TunedLogisticHead(3, first_batch="pseudo").fit(X[:12], y[:12], unlabeled=X[30:])
    assert few.n_pseudo_ > 0 and few.get_params()["pseudo_labels"] == few.n_pseudo_
    alone = TunedLogisticHead(3, first_batch="pseudo").fit(X[:12], y[:12])
    assert not np.allclose(few.predict_proba(X), alone.predict_proba(X))
    twin = TunedLogisticHead(3, first_batch="pseudo", self_train_below=7, pseudo_per_class=3.0,
                             pseudo_weight=0.5).clone()
    assert (twin.self_train_below, twin.pseudo_per_class, twin.pseudo_weight) == (7, 3.0, 0.5)
    assert twin.first_batch == "pseudo" and TunedLogisticHead(3).clone().first_batch == "plain"
    with pytest.raises(ValueError, match="pseudo_weight"):
        TunedLogisticHead(3, first_batch="pseudo", pseudo_weight=0.0)


def test_fit_head_hands_the_pool_only_to_heads_that_want_it() -> None:
    from labella.al.heads import fit_head, logistic_regression
    from labella.al.types import Pool

    X, y = make_blobs(n=300, n_classes=3, seed=5)
    pool = Pool.unlabeled(X, 3).with_labels(np.arange(12), y[:12])
    calls = []

    def sample() -> np.ndarray:
        calls.append(1)
        return pool.unlabeled_sample()

    tuned = fit_head(TunedLogisticHead(3, first_batch="pseudo"), *pool.labeled_data(), unlabeled=sample)
    assert calls == [1] and tuned.n_pseudo_ > 0
    fit_head(logistic_regression(3), *pool.labeled_data(), unlabeled=sample)  # no such method
    assert calls == [1]
    late = pool.with_labels(np.arange(12, 40), y[12:40])
    fit_head(TunedLogisticHead(3, first_batch="pseudo"), *late.labeled_data(), unlabeled=sample)  # 40 labels: not wanted
    assert calls == [1]


def test_unlabeled_sample_skips_labelled_rows_and_caps_its_size() -> None:
    from labella.al.types import Pool

    X = np.arange(1000, dtype=np.float32).reshape(-1, 1)
    pool = Pool.unlabeled(X, 2).with_labels(np.arange(0, 1000, 2), np.zeros(500, dtype=np.int64))
    np.testing.assert_array_equal(pool.unlabeled_sample()[:, 0], np.arange(1, 1000, 2))
    some = pool.unlabeled_sample(max_items=50)
    assert len(some) == 50 and len(np.unique(some)) == 50 and np.all(some[:, 0] % 2 == 1)
    assert np.all(np.diff(some[:, 0]) > 0)  # pool order
    np.testing.assert_array_equal(some, pool.unlabeled_sample(max_items=50))  # fixed subset


def test_queries_score_with_the_labels_only_model() -> None:
    X, y = make_blobs(n=400, n_classes=3, seed=6)
    head = TunedLogisticHead(3, first_batch="pseudo").fit(X[:12], y[:12], unlabeled=X[12:])
    plain = TunedLogisticHead(3, first_batch="pseudo").fit(X[:12], y[:12])
    view = head.for_queries()
    assert view is not head
    np.testing.assert_allclose(view.predict_proba(X), plain.predict_proba(X))
    late = TunedLogisticHead(3, first_batch="pseudo").fit(X[:40], y[:40], unlabeled=X[40:])
    assert late.for_queries() is late


def test_pseudo_labels_change_the_first_checkpoint_only(monkeypatch: pytest.MonkeyPatch) -> None:
    # the simulation's queries come from the labels-only model, so from the first query
    # on the curve is the one of the same head without pseudo-labels
    from labella.al import pipelines
    from labella.al.simulate import run_curve

    monkeypatch.setitem(pipelines.HEAD_FACTORIES, "pseudo",
                        lambda n, ml: TunedLogisticHead(n, first_batch="pseudo", multi_label=ml))
    monkeypatch.setitem(pipelines.HEAD_FACTORIES, "no_pseudo",
                        lambda n, ml: TunedLogisticHead(n, first_batch="pseudo", multi_label=ml,
                                                        self_train_below=0))
    X, y = _two_blobs(7, n=700)
    kw = dict(n_classes=2, multi_label=False, budget=60, batch_size=10, initial=10, seed=3)
    with_pool = run_curve(X[:500], y[:500], X[500:], y[500:],
                          pipeline=pipelines.Pipeline("margin", head="pseudo"), **kw)
    without = run_curve(X[:500], y[:500], X[500:], y[500:],
                        pipeline=pipelines.Pipeline("margin", head="no_pseudo"), **kw)
    assert with_pool.labels == without.labels
    assert with_pool.scores[0] != without.scores[0]
    assert with_pool.scores[1:] == without.scores[1:]


def _imbalanced(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.1).astype(np.int64)  # 1 in 10 positive, overlapping classes
    X = rng.normal(size=(n, 8)) + y[:, None] * 0.8
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32), y


def test_first_labels_with_a_clear_majority_predict_with_their_class_prior() -> None:
    X, y = _imbalanced()
    test = np.arange(2000, 4000)
    gains = []
    for seed in range(12):
        first = np.random.default_rng(seed).choice(2000, size=10, replace=False)
        if len(np.unique(y[first])) < 2:
            continue
        new = TunedLogisticHead(2, first_batch="pseudo").fit(X[first], y[first], unlabeled=X[:2000])
        old = TunedLogisticHead(2, first_batch="pseudo", prior_majority=1.01).fit(
            X[first], y[first], unlabeled=X[:2000])
        assert new.prior_ is not None and old.prior_ is None
        gains.append((new.predict(X[test]) == y[test]).mean() - (old.predict(X[test]) == y[test]).mean())
        # queries score with the balanced model on the labels alone, as before
        np.testing.assert_allclose(new.for_queries().predict_proba(X[test]),
                                   old.for_queries().predict_proba(X[test]))
    assert len(gains) >= 4 and np.mean(gains) > 0.03


def test_no_prior_correction_once_active_learning_labels_arrive() -> None:
    X, y = _imbalanced(seed=1)
    head = TunedLogisticHead(2, first_batch="pseudo").fit(X[:40], y[:40])
    assert head.prior_ is None
    balanced = np.flatnonzero(y == 1)[:5].tolist() + np.flatnonzero(y == 0)[:5].tolist()
    assert TunedLogisticHead(2, first_batch="pseudo").fit(X[balanced], y[balanced]).prior_ is None  # no clear majority


def test_before_its_first_query_the_default_predicts_as_random_sampling_does() -> None:
    # below 20 labels (the random first batch) predictions are plain logistic regression's
    # on the same labels, so the default cannot start behind random; queries still score
    # with the class-balanced head, and from 20 labels on nothing changes
    from labella.al.heads import logistic_regression

    X, y = _imbalanced(seed=2)
    first = np.concatenate([np.flatnonzero(y == 1)[:4], np.flatnonzero(y == 0)[:6]])
    head = TunedLogisticHead(2).fit(X[first], y[first], unlabeled=X[100:])
    plain = logistic_regression(2).fit(X[first], y[first])
    balanced = TunedLogisticHead(2, first_batch="pseudo").fit(X[first], y[first])
    assert head.plain_ and head.n_pseudo_ == 0 and head.get_params()["plain_first_batch"]
    np.testing.assert_allclose(head.predict_proba(X), plain.predict_proba(X))
    np.testing.assert_allclose(head.for_queries().predict_proba(X), balanced.predict_proba(X))
    assert not np.allclose(head.predict_proba(X), balanced.predict_proba(X))
    assert not head.wants_unlabeled(10)
    late = TunedLogisticHead(2).fit(X[:40], y[:40])
    assert not late.plain_ and late.for_queries() is late
    np.testing.assert_allclose(
        late.predict_proba(X), TunedLogisticHead(2, first_batch="pseudo").fit(X[:40], y[:40]).predict_proba(X))
    with pytest.raises(ValueError, match="first_batch"):
        TunedLogisticHead(2, first_batch="typical")


def test_the_default_scores_as_random_at_the_first_checkpoint_and_queries_as_before(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from labella.al import pipelines
    from labella.al.simulate import run_curve

    monkeypatch.setitem(pipelines.HEAD_FACTORIES, "pseudo",
                        lambda n, ml: TunedLogisticHead(n, first_batch="pseudo", multi_label=ml))
    X, y = _imbalanced(n=900, seed=3)
    kw = dict(n_classes=2, multi_label=False, budget=60, batch_size=10, initial=10)
    for seed in range(3):
        args = (X[:600], y[:600], X[600:], y[600:])
        default = run_curve(*args, pipeline=pipelines.Pipeline("margin", head="tuned_logistic_regression"),
                            seed=seed, **kw)
        random = run_curve(*args, pipeline=pipelines.PIPELINES["random"], seed=seed, **kw)
        before = run_curve(*args, pipeline=pipelines.Pipeline("margin", head="pseudo"), seed=seed, **kw)
        assert default.scores[0] == random.scores[0]
        assert default.labels == before.labels and default.scores[1:] == before.scores[1:]
