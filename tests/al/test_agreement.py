"""Agreement figures: hand-computed small cases and the ``krippendorff`` package's values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from labella.al.agreement import (
    agreement_with_consensus,
    cohen_kappa,
    krippendorff_alpha,
    krippendorff_alpha_multilabel,
    pairwise_kappa,
)
from labella.errors import DataError

M = -1


def test_alpha_hand_computed_two_coders() -> None:
    # 4 items, 2 coders; coincidences: o00=4, o11=2, o01=o10=1 -> n=8, n0=5, n1=3
    # D_o = 2/8, D_e = (64 - 25 - 9) / (8*7) = 30/56 -> alpha = 1 - 0.25 * 56/30
    r = np.array([[0, 0], [0, 0], [1, 1], [0, 1]])
    f = krippendorff_alpha(r)
    assert f.n_items == 4
    assert f.value == pytest.approx(1 - 0.25 * 56 / 30)


def test_alpha_perfect_and_undefined() -> None:
    assert krippendorff_alpha(np.array([[0, 0], [1, 1], [2, 2]])).value == pytest.approx(1.0)
    same = krippendorff_alpha(np.array([[1, 1], [1, 1]]))
    assert math.isnan(same.value) and same.n_items == 2
    lone = krippendorff_alpha(np.array([[0, M], [M, 1]]))
    assert math.isnan(lone.value) and lone.n_items == 0


def test_alpha_matches_krippendorff_reference() -> None:
    kd = pytest.importorskip("krippendorff")
    # Krippendorff (2011)'s worked example (4 coders, 12 units, nominal, with missing data):
    # the package's reference value is 0.743
    coders = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, M, M, M],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, M, 3],
        [M, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, M],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, M],
    ]
    r = np.array(coders).T
    ref = kd.alpha(reliability_data=np.where(r == M, np.nan, r).T, level_of_measurement="nominal")
    ours = krippendorff_alpha(r)
    assert ours.value == pytest.approx(ref, abs=1e-9)
    assert ours.value == pytest.approx(0.743, abs=1e-3)
    assert ours.n_items == 11  # unit 12 has one answer
    rng = np.random.default_rng(0)
    for _ in range(20):
        r = rng.integers(0, 4, size=(30, 5))
        r[rng.random(r.shape) < 0.3] = M
        ref = kd.alpha(reliability_data=np.where(r == M, np.nan, r).T.astype(float),
                       level_of_measurement="nominal", value_domain=[0, 1, 2, 3])
        assert krippendorff_alpha(r, 4).value == pytest.approx(ref, abs=1e-9)


def test_alpha_multilabel_is_per_label_binary() -> None:
    # label 0: everyone agrees on variation -> 1.0; label 1: coders disagree on every item
    r = np.array([[[1, 0], [1, 1]], [[0, 1], [0, 0]], [[1, 0], [1, 1]], [[0, 1], [0, 0]]])
    a0, a1 = krippendorff_alpha_multilabel(r)
    assert a0.value == pytest.approx(1.0) and a0.n_items == 4
    assert a1.value < 0
    assert a1.value == pytest.approx(krippendorff_alpha(r[:, :, 1]).value)
    with pytest.raises(DataError, match="0, 1 or"):
        krippendorff_alpha_multilabel(np.full((2, 2, 2), 3))


def test_cohen_kappa_hand_computed() -> None:
    # 10 shared items: agree 7 (yes 4, no 3); a says yes 6, b says yes 5
    a = np.array([1, 1, 1, 1, 0, 0, 0, 1, 1, 0, M])
    b = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1])
    f = cohen_kappa(a, b)
    p_o, p_e = 0.7, 0.6 * 0.5 + 0.4 * 0.5
    assert f.n_items == 10
    assert f.value == pytest.approx((p_o - p_e) / (1 - p_e))


def test_cohen_kappa_matches_sklearn() -> None:
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(1)
    a = rng.integers(0, 3, 50)
    b = np.where(rng.random(50) < 0.7, a, rng.integers(0, 3, 50))
    assert cohen_kappa(a, b).value == pytest.approx(cohen_kappa_score(a, b))


def test_pairwise_kappa_and_consensus_agreement() -> None:
    r = np.array([[0, 0, M], [1, 1, 0], [1, 0, 0], [M, M, 1]])
    kap = pairwise_kappa(r)
    assert set(kap) == {(0, 1), (0, 2), (1, 2)}
    assert kap[(0, 1)].n_items == 3 and kap[(0, 2)].n_items == 2
    per = agreement_with_consensus(r, np.array([0, 1, 0, 1]))
    assert [f.n_items for f in per] == [3, 3, 2]  # item 3 has one answer: not counted
    assert per[0].value == pytest.approx(2 / 3) and per[1].value == pytest.approx(1.0)
    assert per[2].value == pytest.approx(0.5)


def test_bad_ratings_say_what_was_expected() -> None:
    with pytest.raises(DataError, match="n_items, n_annotators"):
        krippendorff_alpha(np.zeros(3, dtype=int))
    with pytest.raises(DataError, match="integer"):
        krippendorff_alpha(np.zeros((2, 2)))
    with pytest.raises(DataError, match="one length"):
        cohen_kappa(np.zeros(2, dtype=int), np.zeros(3, dtype=int))
