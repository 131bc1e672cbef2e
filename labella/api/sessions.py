"""Signed session cookies for the web pages (HMAC-SHA256 over user id and expiry)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path

SESSION_SECONDS = 14 * 24 * 3600


def load_secret(data_dir: Path) -> bytes:
    """The data directory's signing secret, created (mode 0600) on first use."""
    path = data_dir / "secret.key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(32))
    return path.read_bytes()


class CookieSigner:
    def __init__(self, secret: bytes, *, max_age: int = SESSION_SECONDS) -> None:
        self._secret = secret
        self.max_age = max_age

    def _mac(self, payload: str) -> str:
        mac = hmac.new(self._secret, payload.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def dump(self, user_id: int) -> str:
        payload = f"{user_id}.{int(time.time()) + self.max_age}"
        return f"{payload}.{self._mac(payload)}"

    def load(self, cookie: str) -> int | None:
        try:
            user, expires, mac = cookie.split(".")
            payload = f"{user}.{expires}"
            if not hmac.compare_digest(mac, self._mac(payload)) or int(expires) < time.time():
                return None
            return int(user)
        except ValueError:
            return None
