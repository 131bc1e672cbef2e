"""Behaviour of query by committee, BALD and expected error reduction."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from labella.al import REGISTRY, Pool, logistic_regression
from labella.al.heads import MLPHead, mlp
from labella.al.strategies.bayesian import bald_scores
from labella.al.strategies.committee import (
    bootstrap_indices,
    committee_proba,
    kl_scores,
    vote_entropy_scores,
)
from labella.al.strategies.error_reduction import error_reduction_scores, expected_loss
from tests.al.conftest import make_multilabel


def _two_blobs(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two overlapping 2-D Gaussian blobs at x = -1.5 and x = +1.5: the boundary is x = 0."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    X = rng.normal(size=(n, 2)) + np.c_[np.where(y == 1, 1.5, -1.5), np.zeros(n)]
    return X.astype(np.float32), y.astype(np.int64)


@pytest.fixture(scope="module")
def blob_pool() -> tuple[Pool, object]:
    X, y = _two_blobs()
    idx = np.concatenate([np.flatnonzero(y == c)[:15] for c in (0, 1)])
    pool = Pool.unlabeled(X, 2).with_labels(idx, y[idx])
    return pool, logistic_regression(2).fit(*pool.labeled_data())


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("qbc_vote_entropy", {}),
        ("qbc_kl", {}),
        ("bald", {}),
        ("expected_error_reduction", {"n_candidates": 60, "n_eval": 200}),
        ("expected_error_reduction", {"n_candidates": 60, "n_eval": 200, "loss": "zero_one"}),
    ],
)
def test_picks_lie_nearer_the_decision_boundary_than_random(name: str, params: dict, blob_pool) -> None:
    pool, head = blob_pool
    res = REGISTRY.get(name, **params).query(pool, 10, head=head, rng=0)
    chosen = np.abs(pool.X[res.indices, 0]).mean()
    random_expectation = np.abs(pool.X[pool.unlabeled_indices, 0]).mean()
    assert chosen < 0.5 * random_expectation, (chosen, random_expectation)
    assert np.isfinite(res.scores).all()
    assert np.all(np.diff(res.scores) <= 1e-12), "best first"


def test_strategies_never_touch_the_callers_head(blob_pool) -> None:
    pool, head = blob_pool
    coef = head.model_.coef_.copy()
    before = head.predict_proba(pool.X)
    for name in ("qbc_vote_entropy", "qbc_kl", "bald", "expected_error_reduction"):
        REGISTRY.get(name).query(pool, 3, head=head, rng=1)
    np.testing.assert_array_equal(head.model_.coef_, coef)
    np.testing.assert_array_equal(head.predict_proba(pool.X), before)


# --- query by committee ---------------------------------------------------


def test_disagreement_is_zero_when_all_members_agree() -> None:
    p = np.random.default_rng(0).dirichlet(np.ones(3), size=20)
    same = np.stack([p] * 5)
    np.testing.assert_allclose(vote_entropy_scores(same), 0.0, atol=1e-9)
    np.testing.assert_allclose(kl_scores(same), 0.0, atol=1e-9)
    split = same.copy()
    split[:2, 0] = [1.0, 0.0, 0.0]
    split[2:, 0] = [0.0, 1.0, 0.0]
    ve = vote_entropy_scores(split)
    assert ve[0] == pytest.approx(-(0.4 * np.log(0.4) + 0.6 * np.log(0.6)))
    assert ve.argmax() == 0
    # for one-hot members, mean KL to the consensus is the consensus entropy = vote entropy
    assert kl_scores(split)[0] == pytest.approx(ve[0], abs=1e-9) and kl_scores(split).argmax() == 0


def test_multi_label_disagreement_is_averaged_over_labels() -> None:
    p = np.full((2, 1, 4), 0.9)
    p[1, 0, 2] = 0.1  # the two members disagree on label 2 only
    assert vote_entropy_scores(p, multi_label=True)[0] == pytest.approx(np.log(2) / 4)
    kl = kl_scores(p, multi_label=True)[0]
    assert kl == pytest.approx(kl_scores(p[:, :, 2:3], multi_label=True)[0] / 4)
    assert kl > 0


def test_a_real_committee_agrees_far_from_the_boundary() -> None:
    X, y = _two_blobs(seed=1)
    far = np.array([[-8.0, 0.0], [8.0, 1.0], [-6.0, -3.0]], dtype=np.float32)
    member_proba = committee_proba(logistic_regression(2), X[:40], y[:40], far, n_members=7,
                                   rng=np.random.default_rng(0))
    assert member_proba.shape == (7, 3, 2)
    np.testing.assert_allclose(vote_entropy_scores(member_proba), 0.0, atol=1e-9)
    with pytest.raises(ValueError, match="at least 2 members"):
        committee_proba(logistic_regression(2), X[:40], y[:40], far, n_members=1,
                        rng=np.random.default_rng(0))


def test_bootstraps_keep_two_classes_when_the_data_has_them() -> None:
    y = np.array([0] * 29 + [1])  # a plain bootstrap misses the 1 about 37% of the time
    rng = np.random.default_rng(0)
    for _ in range(200):
        b = bootstrap_indices(y, rng=rng)
        assert len(b) == 30 and len(np.unique(y[b])) == 2
    one_class = bootstrap_indices(np.zeros(5, dtype=np.int64), rng=rng)
    assert len(one_class) == 5


def test_committee_works_on_a_single_labelled_class() -> None:
    X, y = _two_blobs(n=50)
    idx = np.flatnonzero(y == 0)[:4]
    pool = Pool.unlabeled(X, 2).with_labels(idx, y[idx])
    head = logistic_regression(2).fit(*pool.labeled_data())
    for name in ("qbc_vote_entropy", "qbc_kl", "expected_error_reduction"):
        res = REGISTRY.get(name).query(pool, 3, head=head, rng=0)
        assert len(res) == 3 and not pool.labeled_mask[res.indices].any()


# --- BALD -----------------------------------------------------------------


def test_bald_scores_zero_without_model_disagreement() -> None:
    p = np.random.default_rng(1).dirichlet(np.ones(4), size=10)
    np.testing.assert_allclose(bald_scores(np.stack([p] * 6)), 0.0, atol=1e-9)
    flip = np.stack([np.tile([1.0, 0.0], (3, 1)), np.tile([0.0, 1.0], (3, 1))])  # (T=2, n=3, C=2)
    np.testing.assert_allclose(bald_scores(flip), np.log(2))
    ml = np.stack([np.full((1, 3), 0.5), np.full((1, 3), 0.5)])
    ml[0, 0, 1], ml[1, 0, 1] = 0.0, 1.0  # samples disagree on label 1 only
    assert bald_scores(ml, multi_label=True)[0] == pytest.approx(np.log(2))


def test_bald_uses_the_heads_own_samples(blob_pool) -> None:
    pool, _ = blob_pool
    no_dropout = MLPHead(2, dropout=0.0).fit(*pool.labeled_data())
    res = REGISTRY.get("bald").query(pool, 5, head=no_dropout, rng=0)
    np.testing.assert_allclose(res.scores, 0.0, atol=1e-6)  # one model: no disagreement
    with_dropout = mlp(2).fit(*pool.labeled_data())
    assert REGISTRY.get("bald").query(pool, 5, head=with_dropout, rng=0).scores.min() > 1e-3


def test_bald_multi_label_prefers_uncertain_items() -> None:
    X, Y = make_multilabel(n=300, d=8, n_labels=4, seed=4)
    pool = Pool.unlabeled(X, 4, multi_label=True).with_labels(np.arange(40), Y[:40])
    head = mlp(4, multi_label=True).fit(*pool.labeled_data())
    res = REGISTRY.get("bald").query(pool, 20, head=head, rng=0)
    proba = head.predict_proba(pool.X)
    closeness = np.abs(proba - 0.5).mean(axis=1)
    assert closeness[res.indices].mean() < closeness[pool.unlabeled_indices].mean()


# --- expected error reduction ---------------------------------------------


def test_expected_loss_measures() -> None:
    sure = np.array([[1.0, 0.0], [0.0, 1.0]])
    unsure = np.full((2, 2), 0.5)
    assert expected_loss(sure, "log") == pytest.approx(0.0, abs=1e-9)
    assert expected_loss(unsure, "log") == pytest.approx(np.log(2))
    assert expected_loss(unsure, "zero_one") == pytest.approx(0.5)
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        expected_loss(sure, "hinge")
    with pytest.raises(ValueError, match="unknown loss"):
        REGISTRY.get("expected_error_reduction", loss="hinge").query(
            Pool(sure, np.array([0, -1]), 2), 1, head=logistic_regression(2).fit(sure[:1], np.array([0])), rng=0)


class _PlainLR:
    """A head that is not a SklearnHead, so error reduction refits it from scratch."""

    n_classes, multi_label = 2, False

    def fit(self, X: np.ndarray, y: np.ndarray) -> _PlainLR:
        self.m = LogisticRegression(max_iter=1000).fit(X, y)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.m.predict_proba(X)

    def clone(self) -> _PlainLR:
        return _PlainLR()


def test_warm_started_refits_match_refits_from_scratch() -> None:
    X, y = _two_blobs(n=300, seed=3)
    lab, cand, ev = slice(0, 10), slice(30, 60), slice(100, 300)
    warm = logistic_regression(2).fit(X[lab], y[lab])
    cold = _PlainLR().fit(X[lab], y[lab])
    proba = warm.predict_proba(X[cand])
    a = error_reduction_scores(warm, X[lab], y[lab], X[cand], proba, X[ev])
    b = error_reduction_scores(cold, X[lab], y[lab], X[cand], proba, X[ev])
    np.testing.assert_allclose(a, b, atol=1e-3)
    assert a.std() > 1e-3


def test_error_reduction_scores_only_candidates(blob_pool) -> None:
    pool, head = blob_pool
    res = REGISTRY.get("expected_error_reduction", n_candidates=5, n_eval=50).query(pool, 8, head=head, rng=0)
    assert len(res) == 8 and np.isfinite(res.scores).all()  # the batch widens the candidate set
    margin_rank = np.argsort(np.abs(head.predict_proba(pool.X)[:, 0] - 0.5))
    unlabelled_by_margin = [i for i in margin_rank if not pool.labeled_mask[i]]
    assert set(res.indices) == set(unlabelled_by_margin[:8])
