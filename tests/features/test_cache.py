"""EmbeddingCache: computes misses only, dedups, persists, survives crashes and bad files."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np
import pytest

from labella.features import EmbeddingCache, FeaturiseError, PixelFeaturiser
from tests.features.conftest import CountingFeaturiser, png_bytes, vector_for


def shard_files(cache: EmbeddingCache, f: CountingFeaturiser, pattern: str = "*.ids.npy") -> list[Path]:
    return sorted(cache.key_dir(f.key).glob(pattern))


def expected(texts: list[str], dim: int = 4) -> np.ndarray:
    return np.stack([vector_for(t, dim) for t in texts])


def test_computes_only_misses_and_keeps_order(tmp_path: Path, counting: CountingFeaturiser) -> None:
    cache = EmbeddingCache(tmp_path)
    first = cache.get_or_compute(counting, ["a", "b", "c"])
    assert counting.n_embedded == 3
    out = cache.get_or_compute(counting, ["d", "b", "a", "e"])
    assert counting.calls[-1] == ["d", "e"]
    assert counting.n_embedded == 5
    np.testing.assert_allclose(out, expected(["d", "b", "a", "e"]), rtol=1e-6)
    np.testing.assert_array_equal(out[1:3], first[[1, 0]])
    assert out.dtype == np.float32 and out.shape == (4, 4)


def test_identical_content_is_computed_once_per_call(tmp_path: Path, counting: CountingFeaturiser) -> None:
    out = EmbeddingCache(tmp_path).get_or_compute(counting, ["x", "y", "x", "x", "y"])
    assert counting.calls == [["x", "y"]]
    np.testing.assert_array_equal(out[0], out[2])
    np.testing.assert_array_equal(out[1], out[4])


def test_persists_across_instances(tmp_path: Path, counting: CountingFeaturiser) -> None:
    texts = [f"text {i}" for i in range(50)]
    a = EmbeddingCache(tmp_path).get_or_compute(counting, texts)
    other = CountingFeaturiser()
    b = EmbeddingCache(tmp_path).get_or_compute(other, texts)
    assert other.calls == []
    np.testing.assert_array_equal(a, b)


def test_sees_shards_written_by_another_instance(tmp_path: Path) -> None:
    one, two = EmbeddingCache(tmp_path), EmbeddingCache(tmp_path)
    f1, f2 = CountingFeaturiser(), CountingFeaturiser()
    one.get_or_compute(f1, ["p"])
    two.get_or_compute(f2, ["q"])
    one.get_or_compute(f1, ["p", "q"])
    assert f1.calls == [["p"]]
    assert one.count(f1) == 2


def test_keys_are_kept_apart(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    f1, f2 = CountingFeaturiser(key="model/a"), CountingFeaturiser(key="model/b")
    cache.get_or_compute(f1, ["same"])
    cache.get_or_compute(f2, ["same"])
    assert f2.calls == [["same"]]
    assert cache.key_dir(f1.key) != cache.key_dir(f2.key)


def test_batches_and_progress(tmp_path: Path, counting: CountingFeaturiser) -> None:
    cache = EmbeddingCache(tmp_path)
    cache.get_or_compute(counting, ["t0", "t1"])
    seen: list[tuple[int, int]] = []
    texts = [f"t{i}" for i in range(10)] + ["t3"]
    cache.get_or_compute(counting, texts, batch_size=3, progress=lambda d, n: seen.append((d, n)))
    assert [len(c) for c in counting.calls[1:]] == [3, 3, 2]
    assert seen[0] == (2, 11) and seen[-1] == (11, 11)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    # the chunks written during one call are merged into one shard
    assert len(shard_files(cache, counting)) == 2


def test_interrupted_call_keeps_finished_chunks(tmp_path: Path, counting: CountingFeaturiser) -> None:
    texts = [f"item {i}" for i in range(9)]
    counting.fail_on_call = 2
    with pytest.raises(RuntimeError, match="simulated crash"):
        EmbeddingCache(tmp_path).get_or_compute(counting, texts, batch_size=3)
    fresh = CountingFeaturiser()
    out = EmbeddingCache(tmp_path).get_or_compute(fresh, texts, batch_size=3)
    assert fresh.calls == [texts[6:]]
    np.testing.assert_allclose(out, expected(texts), rtol=1e-6)


def test_truncated_shard_is_quarantined_and_recomputed(
    tmp_path: Path, counting: CountingFeaturiser, caplog: pytest.LogCaptureFixture
) -> None:
    texts = ["alpha", "beta", "gamma"]
    EmbeddingCache(tmp_path).get_or_compute(counting, texts)
    (vec,) = shard_files(EmbeddingCache(tmp_path), counting, "*.vec.npy")
    vec.write_bytes(vec.read_bytes()[:-10])
    fresh = CountingFeaturiser()
    with caplog.at_level(logging.WARNING):
        out = EmbeddingCache(tmp_path).get_or_compute(fresh, texts)
    assert fresh.calls == [texts]
    np.testing.assert_allclose(out, expected(texts), rtol=1e-6)
    assert "corrupt" in caplog.text
    assert list(vec.parent.glob("*.corrupt"))


@pytest.mark.parametrize("damage", ["garbage", "pickle", "wrong_dim"])
def test_bad_shard_files_are_ignored(tmp_path: Path, counting: CountingFeaturiser, damage: str) -> None:
    cache = EmbeddingCache(tmp_path)
    cache.get_or_compute(counting, ["one", "two"])
    (ids,) = shard_files(cache, counting)
    vec = ids.with_name(ids.name.replace(".ids.", ".vec."))
    if damage == "garbage":
        ids.write_bytes(b"not a numpy file")
    elif damage == "pickle":  # an object array needs pickle to load: must be refused, not run
        with open(ids, "wb") as fh:
            np.save(fh, np.array([b"x", None], dtype=object), allow_pickle=True)
    else:
        with open(vec, "wb") as fh:
            np.save(fh, np.zeros((2, 5), np.float32))
    fresh = CountingFeaturiser()
    out = EmbeddingCache(tmp_path).get_or_compute(fresh, ["one", "two"])
    assert fresh.calls == [["one", "two"]]
    np.testing.assert_allclose(out, expected(["one", "two"]), rtol=1e-6)


def test_crash_leftovers_are_ignored(tmp_path: Path, counting: CountingFeaturiser) -> None:
    cache = EmbeddingCache(tmp_path)
    cache.get_or_compute(counting, ["kept"])
    folder = cache.key_dir(counting.key)
    # a crash after the vectors but before the ids (the commit marker), and a half-written tmp
    with open(folder / "99999999999999999999-deadbeef.vec.npy", "wb") as fh:
        np.save(fh, np.ones((1, 4), np.float32))
    (folder / ".x.ids.npy.123.tmp").write_bytes(b"\x93NUMPY partial")
    fresh = CountingFeaturiser()
    out = EmbeddingCache(tmp_path).get_or_compute(fresh, ["kept", "new"])
    assert fresh.calls == [["new"]]
    np.testing.assert_allclose(out, expected(["kept", "new"]), rtol=1e-6)


def test_compact_merges_and_dedups(tmp_path: Path, counting: CountingFeaturiser) -> None:
    cache = EmbeddingCache(tmp_path)
    for t in ("a", "b", "c"):
        cache.get_or_compute(counting, [t])
    EmbeddingCache(tmp_path).get_or_compute(CountingFeaturiser(), ["d"])
    assert len(shard_files(cache, counting)) == 4
    cache.compact(counting)
    assert len(shard_files(cache, counting)) == 1
    fresh = CountingFeaturiser()
    out = EmbeddingCache(tmp_path).get_or_compute(fresh, ["a", "b", "c", "d"])
    assert fresh.calls == []
    np.testing.assert_allclose(out, expected(["a", "b", "c", "d"]), rtol=1e-6)


def test_wrong_featuriser_output_is_refused(tmp_path: Path, counting: CountingFeaturiser) -> None:
    counting.dim = 3  # claims 3-d vectors, returns 7-d ones
    counting.embed = lambda items, **kw: np.zeros((len(items), 7), np.float32)  # type: ignore[method-assign]
    with pytest.raises(ValueError, match="expected"):
        EmbeddingCache(tmp_path).get_or_compute(counting, ["a"])


def test_images_by_path_or_bytes_share_entries(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    images = [png_bytes(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)) for _ in range(3)]
    path = tmp_path / "img.png"
    path.write_bytes(images[1])
    f = PixelFeaturiser(size=8)
    cache = EmbeddingCache(tmp_path / "cache")
    a = cache.get_or_compute(f, images)
    b = cache.get_or_compute(f, [path, str(path)])
    np.testing.assert_array_equal(b, a[[1, 1]])
    assert cache.count(f) == 3


def test_bad_images_are_reported_and_good_ones_cached(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    good = [png_bytes(rng.integers(0, 255, (9, 9), dtype=np.uint8)) for _ in range(4)]
    items = [good[0], b"not an image", good[1], tmp_path / "missing.png", good[2], good[3]]
    f = PixelFeaturiser(size=8, mode="gray")
    cache = EmbeddingCache(tmp_path / "cache")
    with pytest.raises(FeaturiseError) as info:
        cache.get_or_compute(f, items, batch_size=4)
    assert sorted(info.value.errors) == [1, 3]
    assert "missing.png" in info.value.errors[3]
    assert "2 of 6 items" in str(info.value)
    assert cache.count(f) == 4


def test_text_cache_rejects_non_text(tmp_path: Path, counting: CountingFeaturiser) -> None:
    with pytest.raises(Exception, match="item 1 should be a str"):
        EmbeddingCache(tmp_path).get_or_compute(counting, ["ok", b"bytes"])  # type: ignore[list-item]


def test_empty_call(tmp_path: Path, counting: CountingFeaturiser) -> None:
    out = EmbeddingCache(tmp_path).get_or_compute(counting, [])
    assert out.shape == (0, 4) and counting.calls == []


def test_compact_sweeps_only_stale_leftovers(tmp_path: Path, counting: CountingFeaturiser) -> None:
    cache = EmbeddingCache(tmp_path)
    cache.get_or_compute(counting, ["a"])
    folder = cache.key_dir(counting.key)
    old_tmp, new_tmp = folder / ".old.tmp", folder / ".new.tmp"
    orphan = folder / "00000000000000000001-cafecafe.vec.npy"
    for p in (old_tmp, new_tmp, orphan):
        p.write_bytes(b"x")
    two_days_ago = time.time() - 2 * 86400
    os.utime(old_tmp, (two_days_ago, two_days_ago))
    os.utime(orphan, (two_days_ago, two_days_ago))
    cache.compact(counting)
    assert not old_tmp.exists() and not orphan.exists() and new_tmp.exists()
    assert cache.get_or_compute(CountingFeaturiser(), ["a"]).shape == (1, 4)
