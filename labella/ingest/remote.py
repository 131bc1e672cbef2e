"""Where import bytes come from: the local disk or an S3-compatible object store.

Both places are reached through one small interface, :class:`Files`, so that the
readers (tables, image folders, zip archives) do not care where a source lives.
S3 goes through fsspec / s3fs, imported lazily (``pip install 'labella[s3]'``).

Credentials travel only inside ``storage_options``; every message that leaves this
module passes through :func:`scrub`, and URLs are shown without any user info.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal, Protocol
from urllib.parse import urlsplit

from labella._optional import require
from labella.errors import DataError

log = logging.getLogger(__name__)

Kind = Literal["file", "dir"]

_SECRET_KEYS = ("key", "secret", "token", "password", "username",
                "aws_access_key_id", "aws_secret_access_key", "aws_session_token")


@dataclass(frozen=True)
class Listed:
    """One file found under a folder or prefix.

    Attributes:
        rel: path relative to the listed root, ``/``-separated.
        size: size in bytes as the listing reports it (``None`` if unknown).
        is_link: the entry is a symbolic link.
    """

    rel: str
    size: int | None
    is_link: bool = False


class Files(Protocol):
    """Read-only access to one place (local disk or one S3 store); paths are its own."""

    def display(self, path: str) -> str: ...
    def kind(self, path: str) -> Kind | None: ...
    def size(self, path: str) -> int: ...
    def open(self, path: str) -> contextlib.AbstractContextManager[IO[bytes]]: ...
    def list_files(self, root: str) -> list[Listed]: ...
    def read_many(self, paths: Sequence[str], *, limit: int) -> list[bytes | str]: ...


def is_s3_url(source: str) -> bool:
    return source[:5].lower() == "s3://"


def display_url(url: str) -> str:
    """``url`` without user info (``s3://key:secret@bucket/x`` -> ``s3://bucket/x``)."""
    parts = urlsplit(url)
    if parts.scheme and "@" in parts.netloc:
        host = parts.netloc.rsplit("@", 1)[1]
        return f"{parts.scheme}://{host}{parts.path}"
    return url


def scrub(message: str, storage_options: Mapping[str, Any] | None) -> str:
    """``message`` with every credential from ``storage_options`` replaced by ``***``."""
    secrets: list[str] = []

    def collect(opts: Mapping[str, Any]) -> None:
        for k, v in opts.items():
            if isinstance(v, Mapping):
                collect(v)
            elif k.lower() in _SECRET_KEYS and isinstance(v, str) and len(v) >= 3:
                secrets.append(v)

    collect(storage_options or {})
    for s in sorted(secrets, key=len, reverse=True):
        message = message.replace(s, "***")
    return re.sub(r"(s3://)[^/@\s]*@", r"\1", message)


def s3_filesystem(storage_options: Mapping[str, Any] | None = None) -> Any:
    """A fresh ``s3fs.S3FileSystem`` (no shared instance cache, no stale listings).

    ``endpoint_url`` is accepted at the top level (for MinIO, moto, ...) and, for
    s3fs versions that lack that argument, moved into ``client_kwargs``.
    """
    import inspect

    s3fs = require("s3fs", extra="s3")
    opts = dict(storage_options or {})
    params = inspect.signature(s3fs.S3FileSystem.__init__).parameters
    if "endpoint_url" in opts and "endpoint_url" not in params:
        client = dict(opts.get("client_kwargs") or {})
        client.setdefault("endpoint_url", opts.pop("endpoint_url"))
        opts["client_kwargs"] = client
    opts.setdefault("skip_instance_cache", True)
    opts.setdefault("use_listings_cache", False)
    return s3fs.S3FileSystem(**opts)


def remote_exceptions() -> tuple[type[BaseException], ...]:
    """Exceptions an S3 call may raise for a bad path, bad credentials or a dead endpoint."""
    excs: list[type[BaseException]] = [OSError, ValueError]
    try:
        from botocore import exceptions as bexc

        excs += [bexc.BotoCoreError, bexc.ClientError]
    except ImportError:  # pragma: no cover - botocore comes with s3fs
        pass
    return tuple(excs)


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) < 300 else text[:300] + "..."


class LocalFiles:
    """Files on the local disk. Symbolic links to files are followed; links to folders are not.

    Messages name a file by its name only: a path on the server is nobody else's business
    (an upload lives in a temporary folder the user never chose).
    """

    def display(self, path: str) -> str:
        return Path(path).name or path

    def kind(self, path: str) -> Kind | None:
        p = Path(path)
        if p.is_dir():
            return "dir"
        if p.is_file():
            return "file"
        return None

    def size(self, path: str) -> int:
        return os.stat(path).st_size

    def open(self, path: str) -> contextlib.AbstractContextManager[IO[bytes]]:
        try:
            return open(path, "rb")
        except OSError as exc:
            raise DataError(f"{self.display(path)}: cannot open it "
                            f"({exc.strerror or type(exc).__name__})") from exc

    def list_files(self, root: str) -> list[Listed]:
        out: list[Listed] = []
        base = Path(root)
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if not is_hidden_name(d))
            here = Path(dirpath)
            for f in filenames:
                if is_hidden_name(f):
                    continue
                p = here / f
                try:
                    st = p.stat()
                except OSError:  # a dangling link
                    out.append(Listed(p.relative_to(base).as_posix(), None, is_link=True))
                    continue
                out.append(Listed(p.relative_to(base).as_posix(), st.st_size, p.is_symlink()))
        return sorted(out, key=lambda e: e.rel)

    def read_many(self, paths: Sequence[str], *, limit: int) -> list[bytes | str]:
        out: list[bytes | str] = []
        for path in paths:
            try:
                with open(path, "rb") as f:
                    out.append(f.read(limit))
            except OSError as exc:
                out.append(f"cannot read: {exc.strerror or type(exc).__name__}")
        return out


class S3Files:
    """Objects in one S3-compatible store, addressed as ``bucket/key`` (no ``s3://``)."""

    def __init__(self, storage_options: Mapping[str, Any] | None = None) -> None:
        self.storage_options = dict(storage_options or {})
        self.fs = s3_filesystem(self.storage_options)
        self._errors = remote_exceptions()

    def display(self, path: str) -> str:
        return f"s3://{path}"

    @contextlib.contextmanager
    def translated(self, path: str) -> Iterator[None]:
        """Turn an S3 failure into a :class:`DataError` that names the URL, never a secret."""
        try:
            yield
        except FileNotFoundError as exc:
            raise DataError(f"{self.display(path)}: no such object or prefix") from exc
        except PermissionError as exc:
            raise DataError(
                f"{self.display(path)}: access denied ({scrub(_short(exc), self.storage_options)})"
            ) from exc
        except self._errors as exc:
            raise DataError(
                f"{self.display(path)}: cannot reach it "
                f"({scrub(_short(exc), self.storage_options)})"
            ) from exc

    def kind(self, path: str) -> Kind | None:
        with self.translated(path):
            if path.rstrip("/").count("/") == 0:  # a bare bucket
                return "dir" if self.fs.exists(path) else None
            try:
                info = self.fs.info(path)
            except FileNotFoundError:
                return None
        return "dir" if info.get("type") == "directory" else "file"

    def size(self, path: str) -> int:
        with self.translated(path):
            return int(self.fs.size(path))

    @contextlib.contextmanager
    def open(self, path: str) -> Iterator[IO[bytes]]:
        with self.translated(path):
            f = self.fs.open(path, "rb")
        try:
            yield f
        finally:
            f.close()

    def list_files(self, root: str) -> list[Listed]:
        root = root.rstrip("/")
        with self.translated(root):
            found = self.fs.find(root, detail=True)
        out = []
        for key, info in found.items():
            rel = key[len(root) + 1:] if key.startswith(root + "/") else key
            if not rel or any(is_hidden_name(part) for part in rel.split("/")):
                continue
            out.append(Listed(rel, int(info["size"]) if info.get("size") is not None else None))
        return sorted(out, key=lambda e: e.rel)

    def read_many(self, paths: Sequence[str], *, limit: int) -> list[bytes | str]:
        if not paths:
            return []
        try:
            got = self.fs.cat(list(paths), on_error="return")
        except self._errors as exc:
            msg = f"cannot read: {scrub(_short(exc), self.storage_options)}"
            return [msg] * len(paths)
        out: list[bytes | str] = []
        for p in paths:
            v = got.get(p)
            if isinstance(v, bytes):
                out.append(v[:limit])
            else:
                why = scrub(_short(v), self.storage_options) if v is not None else "missing"
                out.append(f"cannot read: {why}")
        return out


def is_hidden_name(name: str) -> bool:
    """Hidden files and folders (``.DS_Store``, ``.git``) and macOS zip debris (``__MACOSX``)."""
    return name.startswith(".") or name == "__MACOSX"


def locate(source: str, storage_options: Mapping[str, Any] | None) -> tuple[Files, str]:
    """``(files, path)`` for a local path or an ``s3://bucket/key`` URL."""
    if is_s3_url(source):
        parts = urlsplit(source)
        bucket = parts.netloc.rsplit("@", 1)[-1]
        if not bucket:
            raise DataError(f"{display_url(source)}: expected s3://bucket/key or s3://bucket/prefix")
        return S3Files(storage_options), f"{bucket}{parts.path}".rstrip("/")
    if "://" in source[:12]:
        raise DataError(f"{display_url(source)}: unsupported location; expected a local path or s3://")
    return LocalFiles(), str(Path(source).expanduser())
