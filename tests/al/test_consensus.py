"""Consolidation (majority vote, Dawid–Skene) and ActiveLab scores."""

from __future__ import annotations

import numpy as np
import pytest

from labella.al.activelab import activelab_scores
from labella.al.consensus import consolidate, dawid_skene, majority_vote
from labella.errors import DataError

M = -1


def _crowd(n: int, acc: list[float], k: int, seed: int, *, answer_share: float = 1.0):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n)
    r = np.full((n, len(acc)), M)
    for j, a in enumerate(acc):
        wrong = (truth + rng.integers(1, k, n)) % k
        r[:, j] = np.where(rng.random(n) < a, truth, wrong)
        r[rng.random(n) > answer_share, j] = M
    r[(r == M).all(axis=1), 0] = truth[(r == M).all(axis=1)]
    return truth, r


def test_majority_vote_ties_go_to_the_model() -> None:
    r = np.array([[0, 1], [2, 2], [M, M], [1, 0]])
    proba = np.array([[0.2, 0.7, 0.1], [0.9, 0.05, 0.05], [1 / 3] * 3, [0.6, 0.3, 0.1]])
    c = majority_vote(r, 3, proba=proba)
    assert c.labels.tolist() == [1, 2, M, 0]
    assert c.confidence.tolist() == [0.5, 1.0, 0.0, 0.5]
    assert c.disputed.tolist() == [True, False, False, True]
    assert majority_vote(r, 3).labels.tolist() == [0, 2, M, 0]  # no model: lowest class


def test_bad_input() -> None:
    with pytest.raises(DataError, match="n_classes is 2"):
        majority_vote(np.array([[0, 2]]), 2)
    with pytest.raises(DataError, match="proba must have shape"):
        majority_vote(np.array([[0, 1]]), 2, proba=np.ones((2, 2)))
    with pytest.raises(DataError, match="unknown consolidation"):
        consolidate(np.array([[0]]), 2, method="median")


def test_dawid_skene_beats_majority_with_one_good_annotator() -> None:
    truth, r = _crowd(600, [0.95, 0.55, 0.55, 0.55, 0.55], 3, seed=0)
    ds = dawid_skene(r, 3)
    mv = majority_vote(r, 3)
    assert (ds.labels == truth).mean() > (mv.labels == truth).mean() + 0.02
    # the estimated accuracies (diagonal of each confusion matrix) rank the good one first
    acc = np.einsum("jkk->jk", ds.confusion).mean(axis=1)
    assert acc.argmax() == 0 and acc[0] > 0.85
    assert np.allclose(ds.posterior.sum(axis=1), 1.0)


def test_dawid_skene_agrees_with_crowd_kit() -> None:
    pd = pytest.importorskip("pandas")
    crowdkit = pytest.importorskip("crowdkit.aggregation")
    truth, r = _crowd(400, [0.9, 0.7, 0.6, 0.8], 4, seed=3, answer_share=0.7)
    ii, jj = np.nonzero(r != M)
    df = pd.DataFrame({"task": ii, "worker": jj, "label": r[ii, jj]})
    theirs = crowdkit.DawidSkene(n_iter=100).fit_predict(df).sort_index()
    ours = dawid_skene(r, 4)
    same = (ours.labels[theirs.index.to_numpy()] == theirs.to_numpy()).mean()
    assert same > 0.97
    assert abs((ours.labels == truth).mean() - (theirs.to_numpy() == truth).mean()) < 0.02


def test_activelab_prefers_disputed_items_and_confident_model_new_items() -> None:
    r = np.array([[0, 0, 0], [0, 1, M], [1, M, M], [1, 1, 1], [2, 2, 0]])
    p = np.array([[0.9, 0.05, 0.05], [0.4, 0.5, 0.1], [0.1, 0.8, 0.1], [0.1, 0.8, 0.1],
                  [0.2, 0.2, 0.6]])
    pu = np.array([[0.34, 0.33, 0.33], [0.98, 0.01, 0.01]])
    s = activelab_scores(r, p, pu)
    assert s.labeled.shape == (5,) and s.unlabeled.shape == (2,)
    assert s.labeled[1] < s.labeled[0] and s.labeled[1] < s.labeled[3]  # a 0-vs-1 tie
    assert s.unlabeled[0] < s.unlabeled[1]  # the model knows nothing about the first
    assert s.consensus.tolist() == [0, 1, 1, 1, 2]


def test_activelab_matches_cleanlab_at_its_temperature() -> None:
    """cleanlab (AGPL: dev/test only) computes the same scores after its own temperature
    scaling; given cleanlab's temperature, our scores must rank items as cleanlab's do.
    (The temperatures differ: ours minimises the soft cross-entropy on a plain grid.)"""
    ma = pytest.importorskip("cleanlab.multiannotator")
    from cleanlab.internal.multiannotator_utils import find_best_temp_scaler
    from scipy.stats import spearmanr

    from labella.al.activelab import scale

    rng = np.random.default_rng(5)
    truth, r = _crowd(300, [0.85, 0.75, 0.7], 3, seed=5, answer_share=0.6)
    logits = np.eye(3)[truth] * 2.0 + rng.normal(0, 1.0, (300, 3))
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    pu = rng.dirichlet(np.ones(3), 100)
    rn = np.where(r == M, np.nan, r)
    theirs_l, theirs_u = ma.get_active_learning_scores(rn, p, pu)
    t = find_best_temp_scaler(rn, p)
    ours = activelab_scores(r, scale(p, t), scale(pu, t), calibrate=False)
    both_ours = np.concatenate([ours.labeled, ours.unlabeled])
    both_theirs = np.concatenate([theirs_l, theirs_u])
    assert spearmanr(both_ours, both_theirs).statistic > 0.99
    k = 60  # the items each would ask for next
    overlap = len(set(np.argsort(both_ours)[:k]) & set(np.argsort(both_theirs)[:k])) / k
    assert overlap > 0.9
    assert np.allclose(both_ours, both_theirs, atol=0.05)


def test_activelab_input_checks() -> None:
    with pytest.raises(DataError, match="no answer"):
        activelab_scores(np.array([[M, M]]), np.array([[0.5, 0.5]]))
    with pytest.raises(DataError, match="proba_labeled"):
        activelab_scores(np.array([[0, 1]]), np.array([0.5, 0.5]))
