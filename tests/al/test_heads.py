"""Heads: the incremental SGD head, the MC-dropout MLP head, user estimators, HEADS."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.svm import SVC

from labella.al.heads import HEADS, Head, MLPHead, SGDHead, SklearnHead, mlp, sgd, user_estimator
from labella.errors import DataError
from tests.al.conftest import make_blobs, make_multilabel


def _log_loss(proba: np.ndarray, y: np.ndarray) -> float:
    return float(-np.log(np.clip(proba[np.arange(len(y)), y], 1e-12, 1)).mean())


@pytest.fixture(scope="module")
def blobs() -> tuple[np.ndarray, np.ndarray]:
    return make_blobs(n=600, d=16, n_classes=4, seed=1)


@pytest.fixture(scope="module")
def hard() -> tuple[np.ndarray, np.ndarray]:
    """Overlapping classes: 4 blobs in 32-d with centres close together."""
    rng = np.random.default_rng(5)
    y = rng.integers(0, 4, size=800)
    X = rng.normal(size=(4, 32))[y] * 0.5 + rng.normal(size=(800, 32))
    return X.astype(np.float32), y


# --- SGD head -------------------------------------------------------------


def test_sgd_partial_fit_one_label_at_a_time_learns(hard) -> None:
    X, y = hard
    X_test, y_test = X[500:], y[500:]
    head = sgd(4)
    losses, accs = [], []
    for i in range(500):
        head.partial_fit(X[i : i + 1], y[i : i + 1])
        if i + 1 in (10, 100, 500):
            losses.append(_log_loss(head.predict_proba(X_test), y_test))
            accs.append(float((head.predict(X_test) == y_test).mean()))
    assert head.n_updates_ == 500
    assert losses[0] > losses[1] > losses[2]
    assert accs[0] + 0.1 < accs[2]
    batch = LogisticRegression(max_iter=1000).fit(X[:500], y[:500]).score(X_test, y_test)
    assert accs[2] > batch - 0.05, "one online pass should come close to a batch fit"


def test_sgd_keeps_every_class_column_before_it_is_seen(blobs) -> None:
    X, y = blobs
    seen = np.flatnonzero(y < 2)[:40]
    head = sgd(4).partial_fit(X[seen], y[seen])
    proba = head.predict_proba(X)
    assert proba.shape == (len(X), 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert (proba[:, 2:] > 0).all() and proba[:, 2:].max() < proba[:, :2].max()
    new = np.flatnonzero(y == 3)[:30]
    before = head.predict_proba(X[new])[:, 3].mean()
    for _ in range(5):
        head.partial_fit(X[new], y[new])
    assert head.predict_proba(X[new])[:, 3].mean() > before + 0.3


def test_sgd_fit_is_seeded_and_clone_is_unfitted(blobs) -> None:
    X, y = blobs
    a = SGDHead(4, seed=3).fit(X[:100], y[:100])
    b = SGDHead(4, seed=3).fit(X[:100], y[:100])
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert (a.predict(X[400:]) == y[400:]).mean() > 0.9
    c = a.clone()
    assert c.get_params() == a.get_params() and not hasattr(c, "coef_")
    with pytest.raises(NotFittedError, match="SGDHead is not fitted"):
        c.predict_proba(X)


def test_sgd_refuses_wrong_width_and_bad_labels(blobs) -> None:
    X, y = blobs
    head = sgd(4).partial_fit(X[:10], y[:10])
    with pytest.raises(DataError, match="fitted on 16 features; X has 3"):
        head.partial_fit(X[:5, :3], y[:5])
    with pytest.raises(DataError, match=r"labels must be in 0\.\.3"):
        head.partial_fit(X[:2], np.array([0, 4]))


def test_sgd_multi_label_is_one_model_per_label() -> None:
    X, Y = make_multilabel(n=500, d=8, n_labels=4, seed=2)
    head = sgd(4, multi_label=True).fit(X[:300], Y[:300])
    proba = head.predict_proba(X[300:])
    assert proba.shape == (200, 4) and ((proba > 0) & (proba < 1)).all()
    per_label_acc = (head.predict(X[300:]) == Y[300:]).mean(axis=0)
    majority = np.maximum(Y[300:].mean(axis=0), 1 - Y[300:].mean(axis=0))
    assert (per_label_acc >= majority).all() and per_label_acc.mean() > majority.mean() + 0.05


# --- MLP head -------------------------------------------------------------


def test_mlp_is_deterministic_for_a_seed_and_learns(blobs) -> None:
    X, y = blobs
    a = mlp(4, seed=7).fit(X[:200], y[:200])
    b = mlp(4, seed=7).fit(X[:200], y[:200])
    c = mlp(4, seed=8).fit(X[:200], y[:200])
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert not np.array_equal(a.predict_proba(X), c.predict_proba(X))
    assert (a.predict(X[400:]) == y[400:]).mean() > 0.9
    assert 1 <= a.n_steps_ <= a.max_steps


def test_mlp_mc_dropout_samples(blobs) -> None:
    X, y = blobs
    head = MLPHead(4, dropout=0.5, seed=0).fit(X[:60], y[:60])
    s = head.predict_proba_samples(X[:50], n_samples=8)
    assert s.shape == (8, 50, 4)
    np.testing.assert_allclose(s.sum(axis=2), 1.0, rtol=1e-5)
    assert s.std(axis=0).mean() > 1e-3, "dropout is on: samples must differ"
    np.testing.assert_array_equal(s, head.predict_proba_samples(X[:50], n_samples=8))
    assert not np.array_equal(s, head.predict_proba_samples(X[:50], n_samples=8, rng=1))
    still = MLPHead(4, dropout=0.0).fit(X[:60], y[:60])
    s0 = still.predict_proba_samples(X[:50], n_samples=3)
    np.testing.assert_allclose(s0, np.broadcast_to(still.predict_proba(X[:50]), s0.shape), rtol=1e-5)


def test_mlp_leaves_the_global_torch_rng_alone(blobs) -> None:
    torch = pytest.importorskip("torch")
    X, y = blobs
    state = torch.random.get_rng_state()
    mlp(4).fit(X[:50], y[:50])
    assert torch.equal(state, torch.random.get_rng_state())


def test_mlp_multi_label_uses_sigmoid_outputs() -> None:
    X, Y = make_multilabel(n=300, d=8, n_labels=4, seed=3)
    head = mlp(4, multi_label=True).fit(X[:200], Y[:200])
    proba = head.predict_proba(X[200:])
    assert proba.shape == (100, 4) and ((proba > 0) & (proba < 1)).all()
    assert not np.allclose(proba.sum(axis=1), 1.0)
    assert (head.predict(X[200:]) == Y[200:]).mean() > 0.7
    assert head.predict_proba_samples(X[200:], n_samples=4).shape == (4, 100, 4)


def test_mlp_needs_labels_and_is_unfitted_after_clone(blobs) -> None:
    X, y = blobs
    with pytest.raises(DataError, match="zero labelled"):
        mlp(4).fit(X[:0], y[:0])
    with pytest.raises(NotFittedError):
        mlp(4).predict_proba(X)
    head = mlp(4, hidden=32).fit(X[:20], y[:20]).clone()
    assert head.hidden == 32 and not hasattr(head, "params_")


def test_importing_the_core_and_making_an_mlp_head_loads_no_torch() -> None:
    code = (
        "import sys, labella.al\n"
        "from labella.al.heads import mlp\n"
        "from labella.al.strategies import bayesian\n"
        "mlp(3)\n"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- user estimators and the HEADS table ----------------------------------


def test_user_estimator_wraps_any_predict_proba_classifier(blobs) -> None:
    X, y = blobs
    keep = y != 2  # class 2 never labelled
    head = user_estimator(RandomForestClassifier(n_estimators=20, random_state=0), 4)
    assert isinstance(head, SklearnHead)
    proba = head.fit(X[keep][:200], y[keep][:200]).predict_proba(X)
    assert proba.shape == (len(X), 4) and (proba[:, 2] == 0).all()
    assert isinstance(head.clone().estimator, RandomForestClassifier)


@pytest.mark.parametrize(
    ("estimator", "match"),
    [
        (SVC(), "lacks predict_proba.*SVC\\(probability=True\\)"),
        (object(), "lacks fit, predict_proba, get_params"),
        (RandomForestClassifier, "instance such as RandomForestClassifier\\(\\)"),
    ],
)
def test_user_estimator_without_predict_proba_is_a_clear_error(estimator: object, match: str) -> None:
    with pytest.raises(TypeError, match=match):
        user_estimator(estimator, 3)


@pytest.mark.parametrize("name", sorted(HEADS))
@pytest.mark.parametrize("multi_label", [False, True])
def test_every_named_head_gives_full_columns(name: str, multi_label: bool) -> None:
    if multi_label:
        X, y = make_multilabel(n=80, d=8, n_labels=4)
    else:
        X, y = make_blobs(n=80, d=8, n_classes=4)
        y = np.where(y == 3, 0, y)  # one class never labelled
    head = HEADS[name](4, multi_label=multi_label)
    assert isinstance(head, Head)
    proba = head.fit(X, y).predict_proba(X)
    assert proba.shape == (80, 4) and np.isfinite(proba).all()
    assert head.clone().get_params() == head.get_params()  # type: ignore[attr-defined]
