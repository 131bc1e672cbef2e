"""The blob store: content-addressed, idempotent, strict about keys; local and S3."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from labella.errors import LabellaError
from labella.store.blobs import (
    BlobNotFoundError,
    BlobStore,
    BlobStoreError,
    InvalidBlobKeyError,
    LocalBlobStore,
    S3BlobStore,
    blob_key,
    check_key,
    open_blob_store,
)
from tests.s3_server import S3Server

DATA = b"\x89PNG pretend image bytes"
DIGEST = hashlib.sha256(DATA).hexdigest()


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    if request.param == "local":
        yield open_blob_store(str(tmp_path / "blobs"))
    else:
        s3: S3Server = request.getfixturevalue("s3_server")
        yield open_blob_store(f"s3://{s3.bucket}/{s3.prefix()}/blobs",
                              storage_options=s3.storage_options)


def test_put_get_exists_delete(store: BlobStore) -> None:
    key = store.put(DATA, suffix=".JPG")
    assert key == f"{DIGEST[:2]}/{DIGEST[2:4]}/{DIGEST}.jpg"
    assert store.exists(key)
    assert store.get(key) == DATA
    assert store.put(DATA, suffix=".jpg") == key  # idempotent
    store.delete(key)
    assert not store.exists(key)
    store.delete(key)  # absent is fine
    with pytest.raises(BlobNotFoundError, match="no blob") as info:
        store.get(key)
    assert isinstance(info.value, LabellaError)


def test_same_bytes_different_suffix_are_different_keys(store: BlobStore) -> None:
    a, b = store.put(DATA), store.put(DATA, suffix="png")
    assert a == blob_key(DATA) and b == a + ".png"
    assert store.get(a) == store.get(b) == DATA


@pytest.mark.parametrize("key", [
    "../../etc/passwd", f"{DIGEST[:2]}/{DIGEST[2:4]}/../{DIGEST}", f"/{DIGEST}",
    f"{DIGEST[:2]}/{DIGEST[2:4]}/{DIGEST.upper()}", f"{DIGEST[:2]}/{DIGEST[2:4]}/{DIGEST}.JPG",
    f"{DIGEST[:2]}/{DIGEST[2:4]}/{DIGEST}.toolongsuffix", f"00/00/{DIGEST}",
    f"{DIGEST[:2]}/{DIGEST[2:4]}/{DIGEST}/x", "", f"{DIGEST[:2]}\\{DIGEST[2:4]}\\{DIGEST}",
])
def test_bad_keys_are_refused(store: BlobStore, key: str) -> None:
    for op in (store.get, store.exists, store.delete):
        with pytest.raises(InvalidBlobKeyError, match="blob key"):
            op(key)


@pytest.mark.parametrize("suffix", ["../x", ".a/b", ". jpg", ".abcdefghi", "x.y"])
def test_bad_suffixes_are_refused(suffix: str) -> None:
    with pytest.raises(InvalidBlobKeyError, match="suffix"):
        blob_key(DATA, suffix=suffix)


def test_check_key_accepts_a_real_key() -> None:
    assert check_key(blob_key(DATA, suffix=".webp")).endswith(".webp")


def test_local_store_layout_and_atomic_writes(tmp_path: Path) -> None:
    store = open_blob_store(f"file://{tmp_path}/b")
    assert isinstance(store, LocalBlobStore) and store.url == str(tmp_path / "b")
    key = store.put(DATA, suffix=".png")
    path = tmp_path / "b" / key
    assert path.read_bytes() == DATA
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp files left


def test_concurrent_puts_of_the_same_content(tmp_path: Path) -> None:
    store = open_blob_store(str(tmp_path / "c"))
    payloads = [DATA, b"other", DATA * 1000] * 8
    with ThreadPoolExecutor(max_workers=8) as pool:
        keys = list(pool.map(lambda d: store.put(d, suffix=".bin"), payloads))
    assert len(set(keys)) == 3
    for d, k in zip(payloads, keys, strict=True):
        assert store.get(k) == d
    leftovers = [p for p in (tmp_path / "c").rglob("*") if p.is_file() and p.name.startswith(".")]
    assert leftovers == []


def test_s3_store_url_has_no_credentials(s3_server: S3Server) -> None:
    opts = s3_server.storage_options
    store = open_blob_store(f"s3://{s3_server.bucket}/some/prefix/", storage_options=opts)
    assert isinstance(store, S3BlobStore)
    assert store.url == f"s3://{s3_server.bucket}/some/prefix"
    assert opts["secret"] not in repr(store) and opts["key"] not in store.url
    key = store.put(DATA)
    body = s3_server.client().get_object(Bucket=s3_server.bucket, Key=f"some/prefix/{key}")
    assert body["Body"].read() == DATA


def test_s3_store_errors_hide_credentials(s3_server: S3Server) -> None:
    opts = {**s3_server.storage_options, "secret": "zzTopSecretzz", "key": "AKIAHIDDEN",
            "endpoint_url": "http://127.0.0.1:9",
            "config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 1}}
    store = open_blob_store("s3://nowhere/p", storage_options=opts)
    with pytest.raises(BlobStoreError) as info:
        store.put(DATA)
    assert "zzTopSecretzz" not in str(info.value) and "AKIAHIDDEN" not in str(info.value)
    assert "s3://nowhere/p" in str(info.value)


@pytest.mark.parametrize("url", ["http://example.com/blobs", "gs://bucket/x", "s3://",
                                 "file://otherhost/x"])
def test_unsupported_urls(url: str) -> None:
    with pytest.raises(BlobStoreError, match="expected"):
        open_blob_store(url)
