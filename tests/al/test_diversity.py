"""Behaviour of the diversity family: core-set, BADGE, cluster-margin, information density."""

from __future__ import annotations

import numpy as np
import pytest

from labella.al import REGISTRY, Pool, logistic_regression
from labella.al.strategies import diversity as dv


def separated_blobs(k: int = 8, per: int = 40, d: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``k`` tight, far-apart blobs; returns ``(X, blob_id)``."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, d)) * 10.0
    blob = np.repeat(np.arange(k), per)
    X = centers[blob] + rng.normal(size=(k * per, d)) * 0.3
    return X.astype(np.float32), blob


class FixedHead:
    """A stand-in head with fixed probabilities (to isolate a strategy's other term)."""

    def __init__(self, proba: np.ndarray, *, multi_label: bool = False) -> None:
        self.proba = proba
        self.n_classes = proba.shape[1]
        self.multi_label = multi_label

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.proba[0], (len(X), self.n_classes)).copy()


def test_nearest_blocks_match_brute_force(monkeypatch) -> None:
    rng = np.random.default_rng(1)
    X, C = rng.normal(size=(300, 5)), rng.normal(size=(70, 5))
    monkeypatch.setattr(dv, "BLOCK_ELEMS", 64)  # many row and column blocks
    d2, arg = dv.nearest(X, C)
    full = ((X[:, None, :] - C[None, :, :]) ** 2).sum(axis=2)
    np.testing.assert_array_equal(arg, full.argmin(axis=1))
    np.testing.assert_allclose(d2, full.min(axis=1), atol=1e-9)


def test_coreset_batch_covers_every_uncovered_blob() -> None:
    X, blob = separated_blobs()
    lab = np.flatnonzero(blob == 0)[:3]
    pool = Pool.unlabeled(X, 8).with_labels(lab, np.zeros(3, dtype=np.int64))
    res = REGISTRY.get("coreset").query(pool, 7, rng=0)
    assert sorted(blob[res.indices]) == list(range(1, 8))
    assert np.all(np.diff(res.scores) <= 1e-6), "farthest-first distances never increase"
    assert res.scores[-1] > 5.0  # each pick was far from every earlier centre


def test_coreset_cold_start_spreads_over_blobs() -> None:
    X, blob = separated_blobs()
    res = REGISTRY.get("coreset").query(Pool.unlabeled(X, 8), 8, rng=0)
    assert len(set(blob[res.indices])) == 8
    assert np.isnan(res.scores[0]) and np.all(np.isfinite(res.scores[1:]))


def test_badge_factorised_distances_equal_explicit_gradient_embeddings() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 6)).astype(np.float32)
    proba = rng.dirichlet(np.ones(4), size=50)
    A = dv.gradient_factors(proba, multi_label=False)
    G = np.einsum("ic,id->icd", A, np.hstack([X, np.ones((50, 1))])).reshape(50, -1)
    assert np.allclose(A.sum(axis=1), 0.0)  # p - onehot(argmax)
    explicit = ((G[:, None] - G[None]) ** 2).sum(axis=2)
    factor = (dv.sq_norms(A) * (dv.sq_norms(X) + 1))[:, None]
    implicit = factor + factor.T - 2 * (A @ A.T) * (X @ X.T + 1)
    np.testing.assert_allclose(implicit, explicit, rtol=1e-4, atol=1e-5)


def test_badge_prefers_uncertain_items_and_spreads_them(single_pool) -> None:
    pool, head = single_pool
    proba = head.predict_proba(pool.X)
    ent = -(proba * np.log(np.clip(proba, 1e-12, 1))).sum(axis=1)
    res = REGISTRY.get("badge").query(pool, 10, head=head, rng=0)
    assert ent[res.indices].mean() > ent[pool.unlabeled_indices].mean()
    A = dv.gradient_factors(proba, multi_label=False)
    g_norm = np.sqrt(dv.sq_norms(A) * (dv.sq_norms(pool.X) + 1))
    cand = pool.unlabeled_indices
    assert res.indices[0] == cand[np.argmax(g_norm[cand])]  # the largest gradient opens the batch
    assert res.scores[0] == pytest.approx(g_norm[cand].max())
    assert len(np.unique(np.round(pool.X[res.indices], 4), axis=0)) == 10


def test_badge_multi_label_uses_per_label_gradients(multi_pool) -> None:
    pool, head = multi_pool
    res = REGISTRY.get("badge").query(pool, 5, head=head, rng=0)
    A = dv.gradient_factors(head.predict_proba(pool.X[res.indices]), multi_label=True)
    assert np.all(np.abs(A) <= 0.5)
    assert np.all(np.isfinite(res.scores))


def test_cluster_margin_spreads_where_margin_piles_up() -> None:
    """Ten near-duplicates are the most uncertain; cluster-margin still spans both uncertain regions."""
    rng = np.random.default_rng(0)
    d = 4
    dup = np.zeros((10, d)) + rng.normal(size=(10, d)) * 1e-3  # region 1: x0 = 0
    far = np.zeros((10, d))
    far[:, 1] = 8.0
    far += rng.normal(size=(10, d)) * 1e-3  # region 2: x0 = 0 too, far away
    sure = rng.normal(size=(200, d))
    sure[:, 0] = np.where(sure[:, 0] > 0, 3.0, -3.0) + sure[:, 0]
    X = np.vstack([dup, far, sure]).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    X[10:20, 0] += 0.02  # region 2 slightly less uncertain than region 1
    lab = np.arange(20, 40)
    pool = Pool.unlabeled(X, 2).with_labels(lab, y[lab])
    head = logistic_regression(2, C=100.0).fit(*pool.labeled_data())
    margin_idx = REGISTRY.get("margin").query(pool, 4, head=head, rng=0).indices
    assert np.all(margin_idx < 10), "the premise: plain margin takes only duplicates"
    res = REGISTRY.get("cluster_margin", margin_factor=5).query(pool, 4, head=head, rng=0)
    assert (res.indices < 10).any() and ((res.indices >= 10) & (res.indices < 20)).any()
    assert np.all(res.indices < 20)  # all from the m = 5 * 4 most uncertain


def test_information_density_prefers_dense_items_at_equal_uncertainty() -> None:
    X, _ = separated_blobs(k=3, per=60)
    X = np.vstack([X, np.random.default_rng(3).normal(size=(20, X.shape[1])).astype(np.float32) * 10])
    pool = Pool.unlabeled(X, 2).with_labels(np.array([0]), np.array([0]))
    head = FixedHead(np.array([[0.5, 0.5]]))
    res = REGISTRY.get("information_density").query(pool, 20, head=head, rng=0)
    assert np.all(res.indices < 180), "outliers have lower mean similarity to the pool"
    flat = REGISTRY.get("information_density", beta=0.0).query(pool, 5, head=head, rng=0)
    np.testing.assert_allclose(flat.scores, np.log(2.0))  # beta=0 is plain entropy


def test_information_density_mean_similarity_is_exact(single_pool) -> None:
    pool, head = single_pool
    cand = pool.unlabeled_indices
    s = REGISTRY.get("information_density", measure="least_confidence").scores(
        pool, cand, head=head, rng=np.random.default_rng(0))
    U = pool.X[cand] / np.linalg.norm(pool.X[cand], axis=1, keepdims=True)
    dens = (1 + (U @ U.T).mean(axis=1)) / 2
    lc = 1 - head.predict_proba(pool.X[cand]).max(axis=1)
    np.testing.assert_allclose(s, lc * dens, rtol=1e-5)


@pytest.mark.parametrize("fit_size", [20_000, 100])  # all rows, and a subsample then assignment
def test_kmeans_recovers_separated_blobs(fit_size: int) -> None:
    X, blob = separated_blobs(k=6, per=50)
    labels = dv.kmeans(X, 6, rng=np.random.default_rng(0), fit_size=fit_size)
    pairs = set(zip(blob.tolist(), labels.tolist(), strict=True))
    assert len(pairs) == 6 and len({c for _, c in pairs}) == 6  # one cluster per blob


def test_information_density_same_scores_for_many_or_few_candidates(single_pool) -> None:  # type: ignore[no-untyped-def]
    pool, head = single_pool
    strategy = REGISTRY.get("information_density")
    cand = pool.unlabeled_indices  # most of the pool: the whole-pool path
    few = cand[: len(pool.X) // 3]  # the path that copies the candidates' rows
    assert 2 * len(cand) >= len(pool.X) > 2 * len(few)
    many_scores = strategy.scores(pool, cand, head=head, rng=np.random.default_rng(0))
    # the density of an item depends on the candidate set: recompute it by hand for `few`
    Xf = pool.X[few].astype(np.float64)
    unit = Xf / np.linalg.norm(Xf, axis=1, keepdims=True)
    density = (1.0 + unit @ unit.mean(axis=0)) / 2.0
    u = dv.nonneg_uncertainty(head.predict_proba(pool.X[few]), multi_label=False, measure="entropy")
    few_scores = strategy.scores(pool, few, head=head, rng=np.random.default_rng(0))
    np.testing.assert_allclose(few_scores, u * np.clip(density, 0, 1), rtol=1e-4)
    Xa = pool.X[cand].astype(np.float64)
    unit_a = Xa / np.linalg.norm(Xa, axis=1, keepdims=True)
    density_a = (1.0 + unit_a @ unit_a.mean(axis=0)) / 2.0
    u_a = dv.nonneg_uncertainty(head.predict_proba(pool.X[cand]), multi_label=False, measure="entropy")
    np.testing.assert_allclose(many_scores, u_a * np.clip(density_a, 0, 1), rtol=1e-4)
