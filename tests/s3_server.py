"""A real S3-compatible server for tests: moto in server mode on loopback.

The server listens on ``127.0.0.1`` on a free port and holds one bucket. The dummy
credentials live only in :attr:`S3Server.storage_options` (and the boto3 client built
from them); the process environment is changed only for the fixture's lifetime,
to keep a developer's own AWS profile or proxy settings out of the way.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

BUCKET = "labella-test"
REGION = "us-east-1"
_DUMMY = "testing"  # moto accepts any credentials; these are not secrets
# Settings that would override the explicit endpoint / credentials given to clients.
_ENV_TO_CLEAR = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    bucket: str

    @property
    def storage_options(self) -> dict[str, Any]:
        """What Labella's ``storage_options`` would hold for this server."""
        return {"endpoint_url": self.endpoint_url, "key": _DUMMY, "secret": _DUMMY,
                "client_kwargs": {"region_name": REGION}}

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name=REGION,
                            aws_access_key_id=_DUMMY, aws_secret_access_key=_DUMMY)

    def prefix(self) -> str:
        """A fresh key prefix, so tests sharing the server do not see each other's objects."""
        return f"t-{uuid.uuid4().hex[:12]}"

    def put(self, key: str, data: bytes) -> None:
        self.client().put_object(Bucket=self.bucket, Key=key, Body=data)


@contextlib.contextmanager
def running_s3_server(bucket: str = BUCKET) -> Iterator[S3Server]:
    """Start moto on loopback, create ``bucket``, yield, stop."""
    moto_server = pytest.importorskip("moto.server")
    pytest.importorskip("s3fs")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with pytest.MonkeyPatch.context() as mp:
        for name in _ENV_TO_CLEAR:
            mp.delenv(name, raising=False)
        for name in ("NO_PROXY", "no_proxy"):
            mp.setenv(name, ",".join(filter(None, [os.environ.get(name), "127.0.0.1"])))
        server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            s3 = S3Server(endpoint_url=f"http://{host}:{port}", bucket=bucket)
            s3.client().create_bucket(Bucket=bucket)
            yield s3
        finally:
            server.stop()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A moto S3 server with one bucket, shared by the whole test session."""
    with running_s3_server() as s3:
        yield s3
