"""Exact and approximate nearest neighbours (labella.al.similar)."""

from __future__ import annotations

import numpy as np
import pytest

from labella.al.similar import (
    AnnIndex,
    SearchError,
    available_backends,
    exact_top_k,
    normalise_queries,
    recall_at_k,
)
from labella.errors import MissingExtraError


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    """3 000 unit vectors in 32 clusters of 24-d, and 20 queries from the same clusters."""
    rng = np.random.default_rng(7)
    centres = rng.standard_normal((32, 24))
    X = _unit(centres[rng.integers(0, 32, 3000)] + 0.4 * rng.standard_normal((3000, 24)))
    Q = _unit(centres[rng.integers(0, 32, 20)] + 0.4 * rng.standard_normal((20, 24)))
    return X, Q


def _brute(X: np.ndarray, Q: np.ndarray, k: int, allowed: np.ndarray | None = None) -> np.ndarray:
    s = Q @ X.T
    if allowed is not None:
        s[:, ~allowed] = -np.inf
    return np.argsort(-s, axis=1, kind="stable")[:, :k]


@pytest.mark.parametrize("chunk_rows", [1, 7, 1000, 100_000])
def test_exact_matches_a_full_sort_whatever_the_chunk(data, chunk_rows: int) -> None:
    X, Q = data
    res = exact_top_k(X, Q, 10, chunk_rows=chunk_rows)
    assert res.method == "exact" and res.rows.shape == (20, 10)
    np.testing.assert_array_equal(res.rows, _brute(X, Q, 10))
    np.testing.assert_allclose(res.scores, np.take_along_axis(Q @ X.T, res.rows, axis=1),
                               rtol=1e-5, atol=1e-6)
    assert np.all(np.diff(res.scores, axis=1) <= 0)  # best first


def test_exact_respects_the_allowed_mask_and_returns_fewer_when_few_are_allowed(data) -> None:
    X, Q = data
    allowed = np.zeros(len(X), dtype=bool)
    allowed[np.random.default_rng(1).choice(len(X), 300, replace=False)] = True
    res = exact_top_k(X, Q, 10, allowed=allowed, chunk_rows=128)
    np.testing.assert_array_equal(res.rows, _brute(X, Q, 10, allowed))
    assert allowed[res.rows].all()
    few = np.zeros(len(X), dtype=bool)
    few[[5, 2999, 40]] = True
    res = exact_top_k(X, Q[:2], 10, allowed=few)
    assert res.rows.shape == (2, 3) and set(res.rows[0]) == {5, 40, 2999}
    none = exact_top_k(X, Q[:2], 10, allowed=np.zeros(len(X), dtype=bool))
    assert none.rows.shape == (2, 0)


def test_exact_normalises_queries_and_treats_a_1d_query_as_one_row(data) -> None:
    X, Q = data
    a = exact_top_k(X, Q[3] * 17.0, 5)
    b = exact_top_k(X, Q[3:4], 5)
    np.testing.assert_array_equal(a.rows, b.rows)
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-5)
    # a query equal to a row finds that row first, with similarity 1
    self_hit = exact_top_k(X, X[123], 1)
    assert self_hit.rows[0, 0] == 123 and self_hit.scores[0, 0] == pytest.approx(1.0, abs=1e-5)


def test_bad_input_is_a_clear_error(data) -> None:
    X, Q = data
    with pytest.raises(SearchError, match="k must be at least 1"):
        exact_top_k(X, Q, 0)
    with pytest.raises(SearchError, match=r"shape \(m, 24\)"):
        exact_top_k(X, Q[:, :5], 3)
    with pytest.raises(SearchError, match="allowed should have shape"):
        exact_top_k(X, Q, 3, allowed=np.ones(10, dtype=bool))
    with pytest.raises(SearchError, match="NaN"):
        normalise_queries(np.full((1, 24), np.nan), 24)


def test_recall_at_k() -> None:
    exact = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    assert recall_at_k(exact, exact) == 1.0
    assert recall_at_k(np.array([[1, 2, 9, 9], [8, 0, 0, 0]]), exact) == pytest.approx(3 / 8)


BACKENDS = available_backends()


@pytest.mark.skipif(not BACKENDS, reason="no ANN library installed (labella[search])")
@pytest.mark.parametrize("backend", BACKENDS)
def test_ann_agrees_with_exact_and_grows_incrementally(data, backend: str) -> None:
    X, Q = data
    ix = AnnIndex(X.shape[1], backend=backend, seed=0)
    first = ix.add(X[:1000])
    rest = ix.add(X[1000:])  # incremental: appended, numbered after the first batch
    np.testing.assert_array_equal(first, np.arange(1000))
    np.testing.assert_array_equal(rest, np.arange(1000, 3000))
    assert len(ix) == 3000
    exact = exact_top_k(X, Q, 10)
    res = ix.search(Q, 10)
    assert res.method == backend and res.rows.shape == (20, 10)
    assert recall_at_k(res.rows, exact.rows) >= 0.95
    np.testing.assert_allclose(res.scores, np.take_along_axis(Q @ X.T, res.rows, axis=1),
                               rtol=1e-4, atol=1e-5)
    assert np.all(np.diff(res.scores, axis=1) <= 1e-6)
    # an added vector is found at once, as its own nearest neighbour
    extra = _unit(np.random.default_rng(3).standard_normal((1, 24)))
    (row,) = ix.add(extra)
    assert ix.search(extra, 1).rows[0, 0] == row == 3000


@pytest.mark.skipif(not BACKENDS, reason="no ANN library installed (labella[search])")
@pytest.mark.parametrize("backend", BACKENDS)
def test_ann_filters_to_the_allowed_rows(data, backend: str) -> None:
    X, Q = data
    ix = AnnIndex(X.shape[1], backend=backend)
    ix.add(X)
    allowed = np.random.default_rng(2).random(len(X)) < 0.1  # most rows excluded
    res = ix.search(Q, 10, allowed=allowed)
    assert res.rows.shape == (20, 10) and allowed[res.rows].all()
    assert recall_at_k(res.rows, exact_top_k(X, Q, 10, allowed=allowed).rows) >= 0.9
    with pytest.raises(SearchError, match="allowed should have shape"):
        ix.search(Q, 3, allowed=allowed[:10])


def test_an_unknown_or_missing_backend_says_what_to_install(monkeypatch) -> None:
    with pytest.raises(SearchError, match="unknown ANN backend"):
        AnnIndex(8, backend="annoy")
    monkeypatch.setattr("labella.al.similar.available_backends", lambda: [])
    with pytest.raises(MissingExtraError, match="search"):
        AnnIndex(8)
