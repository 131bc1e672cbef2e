"""Saving Labella's own heads (SGD, MLP) as JSON + npz: round trips and refusals."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from labella.al.heads import SGDHead, mlp, sgd
from labella.al.neural import MLPHead
from labella.al.serialize import can_save, load_head, read_metadata, save_head
from labella.errors import DataError, UnsafeFormatError
from tests.al.conftest import make_blobs, make_multilabel


def _rewrite_npz(folder: Path, edit) -> None:
    """Change the arrays and re-sign them, as an attacker who can write both files could."""
    npz = folder / "head.npz"
    with np.load(npz) as f:
        arrays = {k: f[k] for k in f.files}
    edit(arrays)
    np.savez(npz, **arrays)
    meta = json.loads((folder / "head.json").read_text())
    meta["sha256"] = hashlib.sha256(npz.read_bytes()).hexdigest()
    (folder / "head.json").write_text(json.dumps(meta))


@pytest.mark.parametrize("multi_label", [False, True])
def test_sgd_head_round_trip_keeps_predictions_and_online_state(tmp_path: Path, multi_label: bool) -> None:
    X, y = make_multilabel() if multi_label else make_blobs()
    n = y.shape[1] if multi_label else 3
    head = SGDHead(n, multi_label=multi_label, alpha=2e-3, eta0=0.3, seed=4).fit(X[:-20], y[:-20])
    save_head(head, tmp_path / "h", featuriser_key="tfidf:v1")
    back = load_head(tmp_path / "h")
    assert isinstance(back, SGDHead) and back.get_params() == head.get_params()
    np.testing.assert_array_equal(back.predict_proba(X), head.predict_proba(X))
    assert read_metadata(tmp_path / "h")["kind"] == "labella_sgd"
    # the AdaGrad state travels too: online updates continue exactly where they stopped
    head.partial_fit(X[-20:], y[-20:])
    back.partial_fit(X[-20:], y[-20:])
    np.testing.assert_allclose(back.predict_proba(X), head.predict_proba(X), rtol=0, atol=1e-12)


@pytest.mark.parametrize("multi_label", [False, True])
def test_mlp_head_round_trip(tmp_path: Path, multi_label: bool) -> None:
    X, y = make_multilabel() if multi_label else make_blobs()
    n = y.shape[1] if multi_label else 3
    head = mlp(n, multi_label=multi_label, hidden=16, seed=3).fit(X, y)
    save_head(head, tmp_path, class_names=[f"c{i}" for i in range(n)])
    back = load_head(tmp_path)
    assert isinstance(back, MLPHead) and back.hidden == 16 and back.n_steps_ == head.n_steps_
    np.testing.assert_array_equal(back.predict_proba(X), head.predict_proba(X))
    np.testing.assert_array_equal(back.predict_proba_samples(X, 5), head.predict_proba_samples(X, 5))
    assert read_metadata(tmp_path)["class_names"] == [f"c{i}" for i in range(n)]


def test_unfitted_own_heads_cannot_be_saved(tmp_path: Path) -> None:
    for head in (sgd(3), mlp(3)):
        assert can_save(head)
        with pytest.raises(DataError, match="fitted"):
            save_head(head, tmp_path / type(head).__name__)
    assert not can_save(object())


def test_wrong_shapes_are_refused(tmp_path: Path) -> None:
    X, y = make_blobs()
    save_head(sgd(3).fit(X, y), tmp_path)
    _rewrite_npz(tmp_path, lambda a: a.update(intercept=np.zeros(5)))
    with pytest.raises(UnsafeFormatError, match="intercept"):
        load_head(tmp_path)


def test_missing_array_is_refused(tmp_path: Path) -> None:
    X, y = make_blobs()
    save_head(mlp(3, hidden=8).fit(X, y), tmp_path)
    _rewrite_npz(tmp_path, lambda a: a.pop("layer_W2"))
    with pytest.raises(UnsafeFormatError, match="layer_W2"):
        load_head(tmp_path)


@pytest.mark.parametrize("params", [{"evil": 1}, {"alpha": {"__class__": "os.system"}}, ["alpha"]])
def test_head_params_are_checked(tmp_path: Path, params: object) -> None:
    X, y = make_blobs()
    save_head(sgd(3).fit(X, y), tmp_path)
    meta = json.loads((tmp_path / "head.json").read_text())
    meta["head_params"] = params
    (tmp_path / "head.json").write_text(json.dumps(meta))
    with pytest.raises(UnsafeFormatError, match="param"):
        load_head(tmp_path)
