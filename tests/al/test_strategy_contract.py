"""One contract, every registered strategy (STYLE habit 9)."""

from __future__ import annotations

import numpy as np
import pytest

from labella.al import REGISTRY, Pool, QueryResult, logistic_regression
from labella.errors import DataError, PoolExhaustedError

ALL = REGISTRY.names()
SINGLE = [i.name for i in REGISTRY if i.single_label]
MULTI = [i.name for i in REGISTRY if i.multi_label]


def _check(res: QueryResult, pool: Pool, n: int, name: str) -> None:
    assert isinstance(res, QueryResult)
    assert res.strategy == name
    assert res.indices.shape == (n,)
    assert res.scores.shape == (n,)
    assert res.indices.dtype == np.int64
    assert len(np.unique(res.indices)) == n, "duplicates in a batch"
    assert not pool.labeled_mask[res.indices].any(), "chose an already labelled item"
    assert res.indices.min() >= 0 and res.indices.max() < pool.n_items


@pytest.mark.parametrize("name", SINGLE)
@pytest.mark.parametrize("n", [1, 7])
def test_single_label_contract(name: str, n: int, single_pool) -> None:
    pool, head = single_pool
    _check(REGISTRY.get(name).query(pool, n, head=head, rng=0), pool, n, name)


@pytest.mark.parametrize("name", MULTI)
def test_multi_label_contract(name: str, multi_pool) -> None:
    pool, head = multi_pool
    _check(REGISTRY.get(name).query(pool, 5, head=head, rng=0), pool, 5, name)


@pytest.mark.parametrize("name", [i.name for i in REGISTRY if not i.multi_label])
def test_single_only_strategies_refuse_multi_label(name: str, multi_pool) -> None:
    pool, head = multi_pool
    with pytest.raises(DataError, match="multi-label"):
        REGISTRY.get(name).query(pool, 3, head=head, rng=0)


@pytest.mark.parametrize("name", [i.name for i in REGISTRY if not i.single_label])
def test_multi_only_strategies_refuse_single_label(name: str, single_pool) -> None:
    pool, head = single_pool
    with pytest.raises(DataError):
        REGISTRY.get(name).query(pool, 3, head=head, rng=0)


@pytest.mark.parametrize("name", SINGLE)
def test_deterministic_for_a_seed(name: str, single_pool) -> None:
    pool, head = single_pool
    a = REGISTRY.get(name).query(pool, 6, head=head, rng=123)
    b = REGISTRY.get(name).query(pool, 6, head=head, rng=123)
    np.testing.assert_array_equal(a.indices, b.indices)


@pytest.mark.parametrize("name", SINGLE)
def test_exhausted_pool_is_a_clear_error(name: str, single_pool) -> None:
    pool, head = single_pool
    left = pool.n_items - pool.n_labeled
    with pytest.raises(PoolExhaustedError, match=f"pool has {left} unlabelled items, {left + 1} requested"):
        REGISTRY.get(name).query(pool, left + 1, head=head, rng=0)


@pytest.mark.parametrize("name", SINGLE)
def test_can_take_the_whole_remaining_pool(name: str, single_pool) -> None:
    pool, _ = single_pool
    small = Pool(pool.X[:20], pool.y[:20], pool.n_classes)
    lab = small.labeled_indices
    if len(lab) == 0 or len(np.unique(small.y[lab])) < 2:
        idx = np.array([0, 1])
        small = small.with_labels(idx, np.array([0, 1]))
    h = logistic_regression(3).fit(*small.labeled_data())
    left = small.n_items - small.n_labeled
    _check(REGISTRY.get(name).query(small, left, head=h, rng=0), small, left, name)


@pytest.mark.parametrize("name", ALL)
def test_works_before_any_label(name: str) -> None:
    """With no labels and no head, every strategy still returns a valid batch."""
    from tests.al.conftest import make_blobs

    X, _ = make_blobs(n=60)
    pool = Pool.unlabeled(X, 3)
    info = REGISTRY.info(name)
    if not info.single_label:
        pool = Pool.unlabeled(X, 3, multi_label=True)
    _check(REGISTRY.get(name).query(pool, 4, head=None, rng=0), pool, 4, name)


def test_every_entry_is_documented() -> None:
    for info in REGISTRY:
        assert info.description.endswith("."), info.name
        assert len(info.reference) > 10, info.name
    assert set(ALL) >= {
        "random", "least_confidence", "margin", "ratio", "entropy", "exploration_mix",
        "qbc_vote_entropy", "qbc_kl", "bald", "expected_error_reduction", "coreset", "badge",
        "cluster_margin", "information_density", "typiclust", "kmeans_pp", "boundary_search",
        "ml_mean_entropy", "ml_max_entropy", "mmc", "stream_threshold",
    }


@pytest.mark.parametrize("name", ["margin", "entropy", "least_confidence", "exploration_mix"])
def test_remembered_probabilities_give_the_same_batch(name: str, single_pool) -> None:
    """A caller that already scored the pool hands the probabilities over; the batch is the
    one the strategy would have computed itself."""
    pool, head = single_pool
    fresh = REGISTRY.get(name).query(pool, 7, head=head, rng=3)
    known = Pool(pool.X, pool.y, pool.n_classes, pool.multi_label)
    known.remember_proba(head, head.predict_proba(pool.X))
    again = REGISTRY.get(name).query(known, 7, head=head, rng=3)
    assert again.indices.tolist() == fresh.indices.tolist()
    np.testing.assert_allclose(again.scores, fresh.scores)
    # they are really used: made-up probabilities change the batch to their most uncertain
    fake = np.tile([0.98, 0.01, 0.01], (pool.n_items, 1))
    pick = pool.unlabeled_indices[5]
    fake[pick] = [0.34, 0.33, 0.33]
    rigged = Pool(pool.X, pool.y, pool.n_classes, pool.multi_label)
    rigged.remember_proba(head, fake)
    if name != "exploration_mix":
        assert REGISTRY.get(name).query(rigged, 1, head=head, rng=3).indices.tolist() == [pick]
    with pytest.raises(DataError, match="rows"):
        rigged.remember_proba(head, fake[:10])


def test_pool_scores_many_rows_in_chunks(single_pool, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from labella.al import types

    pool, head = single_pool
    rows = pool.unlabeled_indices[::-1]  # any order
    whole = pool.predict_proba(head, rows)
    sizes: list[int] = []

    class Counting:
        def predict_proba(self, X: np.ndarray) -> np.ndarray:
            sizes.append(len(X))
            return head.predict_proba(X)

    monkeypatch.setattr(types, "PREDICT_CHUNK", 7)
    counting = Counting()
    chunked = pool.predict_proba(counting, rows)
    np.testing.assert_array_equal(chunked, whole)
    assert max(sizes) == 7 and sum(sizes) == len(rows)
