"""Smoke tests of the benchmark helpers: tiled multi-label images and peer adapters."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from benchmarks import peers
from benchmarks.label_efficiency import run_peer_curve
from benchmarks.make_tiled_images import CELL, make_tiled
from labella import datafiles
from labella.al.heads import logistic_regression
from labella.al.pipelines import pipeline_for
from labella.al.simulate import run_curve
from labella.al.strategies import REGISTRY
from labella.al.types import Pool

COLOURS = {"0": (200, 30, 30), "1": (30, 200, 30), "2": (30, 30, 200)}


@pytest.fixture
def digit_source(tmp_path: Path) -> Path:
    """Three 'digit' folders of six 100x100 photos, each photo a distinct flat colour."""
    from PIL import Image

    src = tmp_path / "src"
    for digit, rgb in COLOURS.items():
        (src / digit).mkdir(parents=True)
        for k in range(6):
            colour = tuple(min(255, c + 8 * k) for c in rgb)
            Image.new("RGB", (CELL, CELL), colour).save(src / digit / f"p{k}.png")
    return src


def test_make_tiled_labels_match_source_folders(tmp_path: Path, digit_source: Path) -> None:
    from PIL import Image

    out = tmp_path / "tiled"
    tiles = make_tiled(out, n=12, seed=3, test_fraction=0.25, source=digit_source)
    assert len(tiles) == 12 and sum(t.split == "test" for t in tiles) == 3
    with (out / "labels.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["filename"] for r in rows] == [t.filename for t in tiles]
    test_photos = {s for t in tiles if t.split == "test" for s in t.sources}
    train_photos = {s for t in tiles if t.split == "train" for s in t.sources}
    assert not test_photos & train_photos
    for row, tile in zip(rows, tiles, strict=True):
        sources = row["sources"].split(";")
        assert len(sources) == 4 and len(set(sources)) == 4
        assert set(row["labels"].split("|")) == {Path(s).parent.name for s in sources}
        img = np.asarray(Image.open(out / tile.filename).convert("RGB"), dtype=float)
        for k, s in enumerate(sources):  # each quadrant shows the photo it claims
            quad = img[(k // 2) * CELL:(k // 2 + 1) * CELL, (k % 2) * CELL:(k % 2 + 1) * CELL]
            want = np.asarray(Image.open(digit_source / s).convert("RGB"), dtype=float)
            assert np.abs(quad - want).mean() < 6.0
    data = datafiles.load(out)
    assert data.multi_label and data.class_names == ["0", "1", "2"]
    assert data.is_test is not None and int(data.is_test.sum()) == 3

    again = make_tiled(tmp_path / "again", n=12, seed=3, test_fraction=0.25, source=digit_source)
    assert again == tiles
    other = make_tiled(tmp_path / "other", n=12, seed=4, test_fraction=0.25, source=digit_source)
    assert other != tiles


def test_peer_module_imports_without_peers() -> None:
    assert "smalltext:breaking_ties" in peers.PEERS
    assert "skactiveml:badge" in peers.PEERS
    assert not set(peers.PEERS.names()) & set(REGISTRY.names())


def _pool(multi_label: bool) -> tuple[Pool, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 6)).astype(np.float32)
    if multi_label:
        y = (X[:, :3] > 0).astype(np.int8)
        n_classes = 3
    else:
        y = X[:, :3].argmax(axis=1).astype(np.int64)
        n_classes = 3
    pool = Pool.unlabeled(X, n_classes, multi_label=multi_label)
    first = rng.choice(len(X), 30, replace=False)
    return pool.with_labels(first, y[first]), y


@pytest.mark.parametrize("multi_label", [False, True])
def test_peer_adapters_follow_the_strategy_contract(multi_label: bool) -> None:
    pytest.importorskip("small_text")
    pytest.importorskip("skactiveml")
    pool, _ = _pool(multi_label)
    head = logistic_regression(pool.n_classes, multi_label=multi_label).fit(*pool.labeled_data())
    names = [n for n in peers.names(multi_label=multi_label, include_slow=True)
             if n != "skactiveml:epistemic_us"]
    assert names
    for name in names:
        s = peers.PEERS.get(name)
        a = s.query(pool, 5, head=head, rng=7)
        b = s.query(pool, 5, head=head, rng=7)
        assert len(a) == 5 and len(set(a.indices.tolist())) == 5, name
        assert not pool.labeled_mask[a.indices].any(), name
        assert np.array_equal(a.indices, b.indices), name


def test_peer_curve_loop_matches_simulate() -> None:
    pool, y = _pool(False)
    rng = np.random.default_rng(1)
    X_test = rng.normal(size=(40, 6)).astype(np.float32)
    y_test = X_test[:, :3].argmax(axis=1)
    kw = dict(n_classes=3, multi_label=False, budget=50, batch_size=10, initial=10, seed=2)
    ours = run_peer_curve(pool.X, y, X_test, y_test, strategy=REGISTRY.get("margin"), **kw)
    ref = run_curve(pool.X, y, X_test, y_test, pipeline=pipeline_for("margin"), **kw)
    assert ours.labels == ref.labels and ours.scores == ref.scores


def test_seed_subsets_spread_and_dips() -> None:
    from benchmarks.seed_subsets import subset_stats

    labels = np.array([10, 20, 30])
    rnd = np.zeros((4, 3))
    # seed 3 is the unlucky one: it reaches the target late and dips 2 points below random
    scores = np.array([[0.0, 1.0, 1.0], [0.0, 1.0, 1.0], [0.0, 1.0, 1.0], [-0.08, -0.02, 1.0]])
    st = subset_stats(scores, rnd, labels, target=0.5, k=3, dip=-1.0)
    assert st["subsets"] == 4
    # the subset without seed 3 reaches 0.5 at 20 labels; the three with it: mean at 20 = 0.66
    assert st["l95_median"] == 20 and st["l95_p25"] == 20
    # mean gap at 10 labels: 0 without seed 3, -2.7 points with it (3 of the 4 subsets)
    assert st["p_dip"] == 0.75
    with pytest.raises(ValueError, match="seeds"):
        subset_stats(scores[:2], rnd, labels, target=0.5, k=3, dip=-1.0)


def test_c_choice_rules_pick_from_the_snapshot() -> None:
    from benchmarks.c_choice import GRID, picks, snapshot_rows
    from benchmarks.label_efficiency import Prepared
    from tests.al.conftest import make_blobs

    X, y = make_blobs(n=300, n_classes=2, seed=4)
    p = Prepared("blobs", X[:200], y[:200], X[200:], y[200:], 2, False, "text", "key", "fp")
    snap = snapshot_rows(p, X[:60], y[:60])
    assert snap is not None and snap["test"].shape == (len(GRID),)
    assert snap["loss"].shape == (len(GRID), 60)
    chosen = picks(snap)
    assert chosen["fixed C=1"] == GRID.index(1.0)
    losses = snap["loss"].mean(axis=1)
    assert chosen["lowest CV log-loss"] == 1 + int(np.argmin(losses[1:]))  # from C=1 up
    assert chosen["1-SE rule"] <= chosen["lowest CV log-loss"]  # never less regularised
    assert snapshot_rows(p, X[:3], np.array([0, 0, 1])) is None  # a class with one label


def test_trec_fine_is_trec_with_its_fine_labels(tmp_path: Path) -> None:
    from benchmarks import label_efficiency as le

    source = le.SHARED / "topic_trec" / "data.csv"
    if not source.exists():
        pytest.skip(f"dataset {source} is not available")
    path = le.dataset_path(le.DATASETS["topic_trec_fine"], tmp_path)
    fine = datafiles.load(path)
    coarse = datafiles.load(source)
    assert fine.items == coarse.items and not fine.multi_label
    assert fine.n_classes == 50
    # every fine type names its coarse type before the colon, e.g. "HUM:ind" under "HUM"
    pairs = {(fine.class_names[a].split(":")[0], coarse.class_names[b])
             for a, b in zip(fine.y, coarse.y, strict=True)}
    assert all(f == c for f, c in pairs)


def test_first_labels_compares_the_heads_on_the_same_draws() -> None:
    from benchmarks.first_labels import accuracies

    rng = np.random.default_rng(0)
    y = (rng.random(600) < 0.97).astype(np.int64)  # a rare class: some draws of 10 miss it
    X = rng.normal(size=(600, 20))
    X[:, 0] += np.where(y == 1, 2.0, -2.0)
    acc = accuracies(X[:400], y[:400], X[400:], y[400:], 2, n=10, draws=12)
    sizes = {len(v) for v in acc.values()}
    assert len(sizes) == 1 and 0 < sizes.pop() < 12  # one-class draws are skipped
    assert all(np.all((v >= 0) & (v <= 100)) for v in acc.values())


def test_data_map_figures_are_computed_as_documented() -> None:
    from benchmarks.data_map import knn_preservation, payload, quality

    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 8))
    assert knn_preservation(X, X) == 1.0  # a map equal to the space keeps every neighbour
    assert quality(X, X[:, :2])["knn10_preserved"] < 0.6
    got = payload(60_000, rng.standard_normal((60_000, 2)))
    assert got["points_shown"] == 50_000 and got["json_gzip_bytes"] < got["json_bytes"]
