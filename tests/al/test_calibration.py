"""Temperature scaling and ECE (labella.al.calibration)."""

from __future__ import annotations

import numpy as np
import pytest

from labella.al import calibration as cal
from labella.errors import DataError


def _overconfident(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities from true logits made three times too sharp, and labels drawn from
    the true (softer) probabilities."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, k)) * 1.5
    true = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(k, p=row) for row in true])
    sharp = np.exp(3 * logits) / np.exp(3 * logits).sum(axis=1, keepdims=True)
    return sharp, y


def test_temperature_recovers_the_sharpening() -> None:
    p, y = _overconfident(4000, 4, seed=0)
    t = cal.fit_temperature(p, y, multi_label=False)
    assert 2.5 < t < 3.5
    c = cal.fit_calibrator(p, y, multi_label=False)
    assert c.ece_before is not None and c.ece_after is not None
    assert c.ece_after < c.ece_before / 3


def test_temperature_keeps_the_ranking_and_sums() -> None:
    p, _ = _overconfident(200, 5, seed=1)
    q = cal.apply_temperature(p, 2.0, multi_label=False)
    np.testing.assert_allclose(q.sum(axis=1), 1.0)
    np.testing.assert_array_equal(q.argmax(axis=1), p.argmax(axis=1))
    assert q.max(axis=1).mean() < p.max(axis=1).mean()


def test_ece_of_a_perfectly_calibrated_model_is_small() -> None:
    rng = np.random.default_rng(2)
    conf = rng.uniform(0.5, 1.0, size=20000)
    p = np.stack([conf, 1 - conf], axis=1)
    y = np.where(rng.uniform(size=len(conf)) < conf, 0, 1)
    assert cal.ece(p, y, multi_label=False) < 0.02
    # and of an always-100 %-sure model that is right half the time, about 0.5
    sure = np.tile([[1.0, 0.0]], (1000, 1))
    assert cal.ece(sure, np.arange(1000) % 2, multi_label=False) == pytest.approx(0.5)


def test_multilabel_temperature() -> None:
    rng = np.random.default_rng(3)
    z = rng.normal(size=(3000, 3)) * 2
    y = (rng.uniform(size=z.shape) < 1 / (1 + np.exp(-z))).astype(np.int8)
    sharp = 1 / (1 + np.exp(-4 * z))
    c = cal.fit_calibrator(sharp, y, multi_label=True)
    assert 3.3 < c.temperature < 4.7
    assert c.ece_after is not None and c.ece_before is not None and c.ece_after < c.ece_before


def test_too_few_labels_is_the_identity() -> None:
    p, y = _overconfident(5, 3, seed=4)
    c = cal.fit_calibrator(p, y, multi_label=False)
    assert c.temperature == 1.0 and c.ece_before is None
    np.testing.assert_allclose(c.apply(p), p, atol=1e-6)
    assert cal.Calibrator.from_dict(c.as_dict()) == c


def test_bad_input() -> None:
    with pytest.raises(DataError, match="y must have shape"):
        cal.ece(np.ones((3, 2)) / 2, np.array([0, 1]), multi_label=False)
    with pytest.raises(DataError, match="temperature must be positive"):
        cal.apply_temperature(np.ones((1, 2)) / 2, 0.0, multi_label=False)
