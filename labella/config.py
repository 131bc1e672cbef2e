"""Settings, built once at the edge (CLI, tests) and passed down explicitly.

Nothing in Labella reads the environment except :meth:`Settings.from_env`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Limits:
    """Guards applied to everything a user uploads or imports.

    Attributes:
        max_file_bytes: largest single uploaded file / archive / table (bytes).
        max_image_bytes: largest single encoded image (bytes).
        max_image_pixels: largest decoded image (width * height); more is a
            decompression bomb.
        max_archive_members: most files in one zip archive.
        max_uncompressed_bytes: most bytes a zip archive may expand to in total.
        max_compression_ratio: largest uncompressed / compressed ratio of one member.
        max_text_chars: longest text item (characters).
        max_rows: most rows (or images) in one import.
    """

    max_file_bytes: int = 2 * 1024**3
    max_image_bytes: int = 50 * 1024**2
    max_image_pixels: int = 64_000_000
    max_archive_members: int = 1_000_000
    max_uncompressed_bytes: int = 20 * 1024**3
    max_compression_ratio: float = 200.0
    max_text_chars: int = 1_000_000
    max_rows: int = 10_000_000


@dataclass(frozen=True)
class RequestLimits:
    """Bounds on what one API request may send or ask for (a reply beyond them is a 422
    naming the field; a body over ``max_body_bytes`` is a 413).

    They are fixed (not a setting) because the OpenAPI schema publishes them: a client
    can read each one as ``maxLength`` / ``maxItems`` / ``maximum`` of its field.

    Attributes:
        max_body_bytes: largest JSON or form request body (uploads have ``max_file_bytes``).
        max_name_chars: longest project name.
        max_username_chars: longest username.
        max_password_chars: longest password.
        max_description_chars: longest project description.
        max_labels: most labels in one project.
        max_label_chars: longest label name.
        max_meta_bytes: largest annotation ``meta`` object (as compact JSON).
        max_meta_depth: deepest nesting of objects / arrays in ``meta``.
        max_request_id_chars: longest client ``request_id``.
        max_text_chars: longest other free-text field (token names, sources, filters).
        max_page: most items / jobs one list request returns.
        max_next: most items one ``next`` request hands out.
        max_id: largest id accepted anywhere (ids are 32-bit on every database).
    """

    max_body_bytes: int = 1024**2
    max_name_chars: int = 200
    max_username_chars: int = 150
    max_password_chars: int = 1024
    max_description_chars: int = 10_000
    max_labels: int = 1000
    max_label_chars: int = 100
    max_meta_bytes: int = 64 * 1024
    max_meta_depth: int = 16
    max_request_id_chars: int = 100
    max_text_chars: int = 2000
    max_page: int = 500
    max_next: int = 100
    max_id: int = 2**31 - 1


REQUEST_LIMITS = RequestLimits()
"""The limits in force (see :class:`RequestLimits`)."""


@dataclass(frozen=True)
class Settings:
    """Where Labella keeps its state and how it runs.

    Attributes:
        data_dir: the embedded default's home: SQLite database, blobs, embeddings.
        database_url: SQLAlchemy URL; ``None`` means SQLite at ``data_dir/labella.db``.
        blob_url: where image blobs live: a local folder path, ``file://...`` or
            ``s3://bucket/prefix``; ``None`` means ``data_dir/blobs``.
        storage_options: fsspec options for ``s3://`` URLs (``endpoint_url``, ``key``,
            ``secret``, ...). Never logged.
        cache_dir: embedding cache; ``None`` means ``data_dir/embeddings``.
        worker: start the local job worker inside the server process.
        worker_threads: how many jobs the local worker runs at once.
        heartbeat_seconds: how often a running job records that it is alive; a job
            silent for ``4 * heartbeat_seconds`` is considered dead.
        limits: upload / import guards.
        lease_seconds: how long an item handed out by ``next`` stays reserved for
            the annotator who got it.
        secure_cookies: mark the sign-in cookie ``Secure`` (sent over https only);
            ``None`` does so when the sign-in request itself came over https (behind a
            proxy, run uvicorn with ``--proxy-headers`` and ``--forwarded-allow-ips``).
        session_seconds: how long a web sign-in lasts.
        login_limit_per_user: failed sign-ins allowed per username (``limits`` notation,
            e.g. ``"10 per 5 minutes"``); further tries get a 429 with ``Retry-After``.
        login_limit_per_address: failed sign-ins allowed per client address.
        rate_limit_storage: where the sign-in counters live (``memory://`` per process, or
            a ``limits`` storage URL such as ``redis://host:6379`` shared by several).
    """

    data_dir: Path
    database_url: str | None = None
    blob_url: str | None = None
    storage_options: dict[str, Any] = field(default_factory=dict, repr=False)
    cache_dir: Path | None = None
    worker: bool = True
    worker_threads: int = 1
    heartbeat_seconds: float = 5.0
    limits: Limits = field(default_factory=Limits)
    lease_seconds: float = 600.0
    secure_cookies: bool | None = None
    session_seconds: int = 14 * 24 * 3600
    login_limit_per_user: str = "10 per 5 minutes"
    login_limit_per_address: str = "30 per 5 minutes"
    rate_limit_storage: str = "memory://"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'labella.db'}"

    @property
    def resolved_blob_url(self) -> str:
        return self.blob_url or str(self.data_dir / "blobs")

    @property
    def resolved_cache_dir(self) -> Path:
        return self.cache_dir or self.data_dir / "embeddings"

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    @classmethod
    def from_env(cls, data_dir: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
        """Settings from ``LABELLA_*`` environment variables, then ``overrides``.

        ``LABELLA_DATA_DIR`` (default ``~/.labella``), ``LABELLA_DATABASE_URL``,
        ``LABELLA_BLOB_URL``, ``LABELLA_CACHE_DIR`` (embeddings go to its ``embeddings``
        folder, shared with ``labella simulate``) and, for S3,
        ``LABELLA_S3_ENDPOINT_URL`` / ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``;
        ``LABELLA_SECURE_COOKIES`` (``1`` / ``0``; unset: automatic) and
        ``LABELLA_RATE_LIMIT_STORAGE``.
        """
        env = os.environ
        root = Path(data_dir or env.get("LABELLA_DATA_DIR") or Path.home() / ".labella")
        opts: dict[str, Any] = {}
        if env.get("LABELLA_S3_ENDPOINT_URL"):
            opts["endpoint_url"] = env["LABELLA_S3_ENDPOINT_URL"]
        kw: dict[str, Any] = {
            "database_url": env.get("LABELLA_DATABASE_URL") or None,
            "blob_url": env.get("LABELLA_BLOB_URL") or None,
            # the same embedding cache ``labella simulate`` uses under $LABELLA_CACHE_DIR
            "cache_dir": (Path(env["LABELLA_CACHE_DIR"]) / "embeddings"
                          if env.get("LABELLA_CACHE_DIR") else None),
            "storage_options": opts,
            "secure_cookies": _flag(env.get("LABELLA_SECURE_COOKIES")),
            "rate_limit_storage": env.get("LABELLA_RATE_LIMIT_STORAGE") or "memory://",
        }
        kw.update({k: v for k, v in overrides.items() if v is not None})
        return cls(data_dir=root, **kw)


def _flag(value: str | None) -> bool | None:
    """``1/true/yes/on`` -> True, ``0/false/no/off`` -> False, unset or empty -> None."""
    if value is None or not value.strip():
        return None
    v = value.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected 1/0, true/false, yes/no or on/off; got {value!r}")
