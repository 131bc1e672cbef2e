"""Content-addressed blob store for item payloads (image bytes): a local folder or S3.

A blob's key is ``ab/cd/<sha256 hex><suffix>``: the same bytes always get the same
key, so storing twice is harmless and concurrent puts of the same content race to
the same result. Keys are checked against one strict pattern before any path is
built from them, so no caller can reach outside the store.

Local writes go to a temporary file in the target folder, are flushed to disk and
then renamed into place (``os.replace``), so a reader never sees half a blob. S3
goes through fsspec / s3fs, imported lazily (``pip install 'labella[s3]'``);
credentials stay inside ``storage_options`` and never appear in ``url`` or messages.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from labella.errors import LabellaError

log = logging.getLogger(__name__)

KEY_PATTERN = re.compile(r"^[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{64}(\.[a-z0-9]{1,8})?$")
_SUFFIX = re.compile(r"^\.[a-z0-9]{1,8}$")

__all__ = [
    "BlobNotFoundError", "BlobStore", "BlobStoreError", "InvalidBlobKeyError", "LocalBlobStore",
    "S3BlobStore", "blob_key", "check_key", "open_blob_store",
]


class BlobStoreError(LabellaError):
    """The blob store cannot be opened or used (bad URL, unreachable, refused)."""


class BlobNotFoundError(BlobStoreError, LookupError):
    """No blob under the key asked for."""

    def __init__(self, key: str, url: str) -> None:
        self.key = key
        super().__init__(f"no blob {key!r} in {url}")


class InvalidBlobKeyError(BlobStoreError, ValueError):
    """A key or suffix does not have the expected shape."""


class BlobStore(Protocol):
    """Where blobs live. ``url`` names the place without credentials."""

    url: str

    def put(self, data: bytes, *, suffix: str = "") -> str: ...
    def get(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...


def normalise_suffix(suffix: str) -> str:
    """``".JPG"`` / ``"jpg"`` -> ``".jpg"``; ``""`` stays empty; anything else is refused."""
    if not suffix:
        return ""
    s = suffix.lower()
    if not s.startswith("."):
        s = "." + s
    if not _SUFFIX.match(s):
        raise InvalidBlobKeyError(
            f"blob suffix must be a dot and 1-8 letters or digits (like '.jpg'); got {suffix!r}"
        )
    return s


def blob_key(data: bytes, *, suffix: str = "") -> str:
    """The content address of ``data``: ``ab/cd/<sha256 hex><suffix>``."""
    digest = hashlib.sha256(data).hexdigest()
    return f"{digest[:2]}/{digest[2:4]}/{digest}{normalise_suffix(suffix)}"


def check_key(key: str) -> str:
    """``key`` if it is a well-formed blob key; :class:`InvalidBlobKeyError` otherwise."""
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        raise InvalidBlobKeyError(
            f"expected a blob key like 'ab/cd/<64 hex digits>.jpg'; got {key!r}"
        )
    digest = key.split("/")[2][:64]
    if key[:2] != digest[:2] or key[3:5] != digest[2:4]:
        raise InvalidBlobKeyError(f"blob key folders do not match its digest: {key!r}")
    return key


class LocalBlobStore:
    """Blobs as files under one local folder."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().absolute()
        self.url = str(self.root)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, data: bytes, *, suffix: str = "") -> str:
        key = blob_key(data, suffix=suffix)
        path = self._path(key)
        if path.is_file():
            return key
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return key

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise BlobNotFoundError(key, self.url) from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def __repr__(self) -> str:
        return f"LocalBlobStore({self.url!r})"


class S3BlobStore:
    """Blobs as objects under ``s3://bucket/prefix``."""

    def __init__(self, bucket: str, prefix: str = "", *,
                 storage_options: dict[str, Any] | None = None) -> None:
        from labella.ingest.remote import s3_filesystem

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._options = dict(storage_options or {})
        self.fs = s3_filesystem(self._options)
        self.url = f"s3://{bucket}/{self.prefix}".rstrip("/")

    def _path(self, key: str) -> str:
        check_key(key)
        return "/".join(p for p in (self.bucket, self.prefix, key) if p)

    @contextlib.contextmanager
    def _translated(self, key: str) -> Iterator[None]:
        from labella.ingest.remote import remote_exceptions, scrub

        try:
            yield
        except FileNotFoundError as exc:
            raise BlobNotFoundError(key, self.url) from exc
        except remote_exceptions() as exc:
            raise BlobStoreError(
                f"blob store {self.url}: {type(exc).__name__}: {scrub(str(exc), self._options)}"
            ) from exc

    def put(self, data: bytes, *, suffix: str = "") -> str:
        key = blob_key(data, suffix=suffix)
        path = self._path(key)
        with self._translated(key):
            if not self.fs.exists(path):
                self.fs.pipe_file(path, data)  # one PUT: S3 objects appear whole or not at all
        return key

    def get(self, key: str) -> bytes:
        path = self._path(key)
        with self._translated(key):
            data: bytes = self.fs.cat_file(path)
        return data

    def exists(self, key: str) -> bool:
        path = self._path(key)
        with self._translated(key):
            return bool(self.fs.exists(path))

    def delete(self, key: str) -> None:
        path = self._path(key)
        with contextlib.suppress(BlobNotFoundError), self._translated(key):
            self.fs.rm_file(path)

    def __repr__(self) -> str:
        return f"S3BlobStore({self.url!r})"


def open_blob_store(url: str, *, storage_options: dict[str, Any] | None = None) -> BlobStore:
    """A blob store at a local folder path, a ``file://`` URL or ``s3://bucket[/prefix]``."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "s3":
        bucket = parts.netloc.rsplit("@", 1)[-1]
        if not bucket:
            raise BlobStoreError("expected s3://bucket[/prefix]; got an S3 URL without a bucket")
        return S3BlobStore(bucket, unquote(parts.path), storage_options=storage_options)
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise BlobStoreError(
                f"expected a local file:// URL; got one for host {parts.netloc!r}"
            )
        return LocalBlobStore(url2pathname(unquote(parts.path)))
    if scheme and len(scheme) > 1:  # (one letter is a Windows drive)
        raise BlobStoreError(
            f"unsupported blob store URL scheme {scheme!r}; expected a folder path, "
            "file:// or s3://"
        )
    return LocalBlobStore(url)
