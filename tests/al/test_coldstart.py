"""Behaviour of the cold-start family: TypiClust and k-means++."""

from __future__ import annotations

import numpy as np

from labella.al import REGISTRY, Pool
from labella.al.strategies.coldstart import typicality
from tests.al.test_diversity import separated_blobs


def test_registered_as_cold_start_without_a_model() -> None:
    for name in ("typiclust", "kmeans_pp"):
        info = REGISTRY.info(name)
        assert info.cold_start and info.multi_label and info.single_label
        assert not REGISTRY.get(name).needs_model


def test_typiclust_first_batch_hits_every_blob() -> None:
    X, blob = separated_blobs(k=6, per=50)
    res = REGISTRY.get("typiclust").query(Pool.unlabeled(X, 6), 6, rng=0)
    assert sorted(blob[res.indices]) == list(range(6))
    assert "fallback" not in res.params


def test_typiclust_picks_typical_items() -> None:
    X, blob = separated_blobs(k=4, per=60)
    rng = np.random.default_rng(0)
    X[::7] += rng.normal(size=X[::7].shape).astype(np.float32) * 1.5  # some stragglers per blob
    res = REGISTRY.get("typiclust").query(Pool.unlabeled(X, 4), 4, rng=0)
    for i in res.indices:
        members = np.flatnonzero(blob == blob[i])
        centre = X[members].mean(axis=0)
        d = np.linalg.norm(X[members] - centre, axis=1)
        assert np.linalg.norm(X[i] - centre) <= np.quantile(d, 0.5)
    assert np.all(res.scores > 0)


def test_typiclust_goes_to_uncovered_blobs_first() -> None:
    X, blob = separated_blobs(k=6, per=50)
    lab = np.concatenate([np.flatnonzero(blob == b)[:2] for b in range(4)])
    pool = Pool.unlabeled(X, 6, multi_label=True).with_labels(lab, np.zeros((8, 6), dtype=np.int8))
    res = REGISTRY.get("typiclust").query(pool, 2, rng=1)
    assert sorted(blob[res.indices]) == [4, 5]


def test_typiclust_subsampled_typicality_still_hits_every_blob() -> None:
    X, blob = separated_blobs(k=5, per=80)
    strat = REGISTRY.get("typiclust", max_candidates=10, max_reference=30)
    res = strat.query(Pool.unlabeled(X, 5), 5, rng=0)
    assert sorted(blob[res.indices]) == list(range(5))


def test_typicality_excludes_self_and_ranks_the_dense_point_first() -> None:
    X = np.array([[0.0], [0.1], [-0.1], [0.2], [5.0]])
    rows = np.arange(5)
    t = typicality(X, rows, rows, k=2)
    assert np.argmax(t) == 0 and np.argmin(t) == 4
    assert t[0] == 1 / (0.1 + 1e-5)  # its own zero distance does not count
    assert typicality(X, rows[:1], rows[:1], k=20)[0] == 0.0


def _min_pairwise(X: np.ndarray) -> float:
    d = np.linalg.norm(X[:, None] - X[None], axis=2)
    return float(d[np.triu_indices(len(X), 1)].min())


def test_kmeans_pp_spreads_more_than_random() -> None:
    """A dense core and a sparse halo: random sampling crowds the core, D² sampling does not."""
    rng = np.random.default_rng(2)
    X = np.vstack([rng.normal(size=(360, 8)) * 0.2, rng.normal(size=(40, 8)) * 2.0]).astype(np.float32)
    pool = Pool.unlabeled(X, 2)
    pp = [_min_pairwise(X[REGISTRY.get("kmeans_pp").query(pool, 10, rng=s).indices]) for s in range(20)]
    rnd = [_min_pairwise(X[REGISTRY.get("random").query(pool, 10, rng=s).indices]) for s in range(20)]
    assert np.mean(pp) > 1.5 * np.mean(rnd)


def test_kmeans_pp_treats_labelled_items_as_chosen_centres() -> None:
    X, blob = separated_blobs(k=5, per=40)
    lab = np.concatenate([np.flatnonzero(blob == b)[:1] for b in range(4)])
    pool = Pool.unlabeled(X, 5).with_labels(lab, np.arange(4))
    hits = [blob[REGISTRY.get("kmeans_pp").query(pool, 1, rng=s).indices[0]] for s in range(20)]
    assert np.mean(np.array(hits) == 4) >= 0.9
    res = REGISTRY.get("kmeans_pp").query(pool, 3, rng=0)
    assert np.all(res.scores > 0)
