"""Difficulty bands and auto-accept thresholds (labella.al.auto_accept)."""

from __future__ import annotations

import numpy as np
import pytest

from labella.al import auto_accept as aa
from labella.errors import DataError


def test_difficulty_bands() -> None:
    d = aa.difficulty(np.array([0.95, 0.9, 0.7, 0.59]))
    assert d.tolist() == ["easy", "easy", "medium", "hard"]
    with pytest.raises(DataError):
        aa.difficulty(np.array([0.5]), easy=0.5, hard=0.7)


def test_wilson_interval_brackets_the_proportion() -> None:
    low, high = aa.wilson_interval(90, 100)
    assert low < 0.9 < high and 0.82 < low < 0.85 and 0.94 < high < 0.96
    assert aa.wilson_interval(0, 0) == (0.0, 1.0)


def test_threshold_meets_the_target_on_fresh_data() -> None:
    """On calibrated confidences, items above the chosen threshold are right at least as
    often as the target, on data the threshold never saw."""
    rng = np.random.default_rng(0)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        conf = rng.uniform(0.5, 1.0, size=n)
        pred = rng.integers(0, 2, size=n)
        return conf, pred, rng.uniform(size=n) < conf  # calibrated: right with prob conf

    conf, pred, ok = draw(2000)
    t = aa.choose_threshold(conf, pred, ok, 1, target=0.9)
    assert t is not None and t.low >= 0.9 and t.precision >= t.low
    assert t.n_held_out == int(((pred == 1) & (conf >= t.threshold)).sum())
    conf2, pred2, ok2 = draw(20000)
    sel = (pred2 == 1) & (conf2 >= t.threshold)
    assert ok2[sel].mean() >= 0.9


def test_no_threshold_when_the_model_is_never_that_good() -> None:
    conf = np.linspace(0.5, 1.0, 200)
    pred = np.zeros(200, dtype=int)
    ok = np.arange(200) % 4 != 0  # right 75 % of the time at every confidence
    assert aa.choose_threshold(conf, pred, ok, 0, target=0.9) is None
    with pytest.raises(DataError, match="target precision"):
        aa.choose_threshold(conf, pred, ok, 0, target=1.0)
