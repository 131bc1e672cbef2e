"""A real Labella server on loopback for API and SDK tests, on SQLite and PostgreSQL.

``server`` starts ``create_app`` under uvicorn in a background thread, on a free
port, with a fresh data directory and the ``database_url`` fixture's database.
Users and their API tokens are made through the service layer before the
server starts; everything else goes over HTTP (the SDK, or ``httpx`` where the
SDK does not reach).

Users: ``admin`` (site admin, with a password), ``lead`` and ``annotator``
(plain users; tests make them project members as they need), ``outsider``
(never a member of anything).
"""

from __future__ import annotations

import csv
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from labella.client import Client, Project
from labella.config import Settings
from labella.service import auth
from labella.service.context import ServiceContext

ADMIN_PASSWORD = "correct horse battery"
USERS = ("admin", "lead", "annotator", "outsider")


@dataclass
class LiveServer:
    """A running server: its URL, the service context behind it and each user's token."""

    url: str
    ctx: ServiceContext
    settings: Settings
    tokens: dict[str, str]
    clients: list[Client] = field(default_factory=list)

    def client(self, user: str = "admin") -> Client:
        """An SDK client acting as ``user`` (closed when the server stops)."""
        c = Client(self.url, token=self.tokens[user], timeout=30.0)
        self.clients.append(c)
        return c

    def http(self, user: str | None = None) -> httpx.Client:
        """A raw HTTP client, with ``user``'s token or none (close it yourself)."""
        headers = {"Authorization": f"Bearer {self.tokens[user]}"} if user else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30.0)

    def add_user(self, username: str, *, is_admin: bool = False) -> str:
        """Create one more user directly through the service layer; returns its token."""
        with self.ctx.session() as s:
            u = auth.create_user(s, username, is_admin=is_admin)
            self.tokens[username] = auth.create_token(s, u.id, name="test").token
        return self.tokens[username]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, *, timeout: float = 30.0, alive: Callable[[], bool] | None = None) -> None:
    """Poll ``url/api/health`` until it answers 200."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/api/health", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if alive is not None and not alive():
            raise RuntimeError(f"the server at {url} stopped before it answered")
        if time.monotonic() > deadline:
            raise TimeoutError(f"the server at {url} did not answer within {timeout:.0f} s")
        time.sleep(0.05)


@contextmanager
def running_server(settings: Settings) -> Iterator[LiveServer]:
    """Serve ``settings`` on a free loopback port until the block ends."""
    import uvicorn

    from labella.app import create_app

    ctx = ServiceContext(settings)
    tokens: dict[str, str] = {}
    with ctx.session() as s:
        existing = {u.username: u for u in auth.list_users(s)}  # a restart keeps its users
        for name in USERS:
            u = existing.get(name) or auth.create_user(
                s, name, is_admin=name == "admin",
                password=ADMIN_PASSWORD if name == "admin" else None)
            tokens[name] = auth.create_token(s, u.id, name="test").token
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, ctx=ctx), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="test-uvicorn", daemon=True)
    thread.start()
    live = LiveServer(f"http://127.0.0.1:{port}", ctx, settings, tokens)
    try:
        wait_healthy(live.url, alive=thread.is_alive)
        yield live
    finally:
        for c in live.clients:
            c.close()
        server.should_exit = True
        thread.join(30)
        ctx.close()


ServerFactory = Callable[..., Any]


@pytest.fixture
def server_factory(tmp_path: Path, database_url: str) -> Iterator[ServerFactory]:
    """``server_factory(**settings_changes)`` starts a server (one per test) with changed
    :class:`Settings` (e.g. ``limits=Limits(max_file_bytes=...)`` or ``worker=False``)."""
    stack: list[Any] = []

    def make(**changes: Any) -> LiveServer:
        if stack:
            raise RuntimeError("one server per test")
        settings = Settings(data_dir=tmp_path / "data", database_url=database_url,
                            heartbeat_seconds=1.0).with_(**changes)
        cm = running_server(settings)
        live = cm.__enter__()
        stack.append(cm)
        return live

    try:
        yield make
    finally:
        for cm in stack:
            cm.__exit__(None, None, None)


@pytest.fixture
def server(server_factory: ServerFactory) -> LiveServer:
    """A server with default settings."""
    live: LiveServer = server_factory()
    return live


@pytest.fixture
def admin(server: LiveServer) -> Client:
    return server.client("admin")


# -- data ------------------------------------------------------------------------------

SUBJECTS = ["the battery", "the screen", "this camera", "the keyboard", "the charger",
            "the speaker", "the software update", "the case", "the headphones", "this laptop",
            "the delivery", "customer service", "the manual", "the remote", "the strap"]
POSITIVE = ["is fantastic", "works perfectly", "exceeded my expectations", "is excellent value",
            "is a joy to use", "feels really solid", "is brilliant", "made me very happy"]
NEGATIVE = ["is terrible", "stopped working after a week", "is a waste of money",
            "broke on the first day", "is painfully slow", "feels cheap and flimsy",
            "is awful", "made me regret buying it"]
OPENERS = ["", "Overall, ", "To be honest, ", "In short, ", "Well, "]
TAILS = ["", " and I would say so again", " honestly", " after two months of use",
         " for the price", " in my experience", " compared to my old one", " every single day",
         " according to my whole family", " so far"]


def review_texts(n: int, *, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` distinct short product-review sentences with their sentiment (``neg``/``pos``)."""
    rng = random.Random(seed)
    combos = [(f"{first}{s} {o}{t}.", lab) for first in OPENERS for s in SUBJECTS
              for lab, ops in (("pos", POSITIVE), ("neg", NEGATIVE)) for o in ops for t in TAILS]
    if n > len(combos):
        raise ValueError(f"at most {len(combos)} distinct sentences; {n} asked for")
    rng.shuffle(combos)
    return [(text[0].upper() + text[1:], lab) for text, lab in combos[:n]]


def write_reviews(path: Path, n: int, *, n_test: int = 0, labelled: bool = False,
                  seed: int = 0) -> dict[str, str]:
    """A ``text,label,split`` CSV of ``n`` reviews, the last ``n_test`` with ``split=test``
    (always labelled); pool rows carry their label only with ``labelled``. Returns
    text -> true label for every row."""
    data = review_texts(n, seed=seed)
    rows = []
    for i, (text, label) in enumerate(data):
        test = i >= n - n_test
        rows.append({"text": text, "label": label if test or labelled else "",
                     "split": "test" if test else "train"})
    write_rows(path, rows)
    return dict(data)


def write_rows(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def text_project(client: Client, name: str = "reviews", *, labels: list[str] | None = None,
                 multi_label: bool = False, **options: Any) -> Project:
    """A torch-free text project (hashed n-gram features)."""
    return client.create_project(name=name, task="text", labels=labels or ["neg", "pos"],
                                 multi_label=multi_label, featuriser="hashing", **options)


def wait_for(predicate: Callable[[], Any], *, timeout: float = 30.0, what: str = "a condition"
             ) -> Any:
    """Poll ``predicate`` until it returns something truthy; returns that."""
    deadline = time.monotonic() + timeout
    while True:
        got = predicate()
        if got:
            return got
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)


def model_version_above(project: Project, version: int, *, timeout: float = 30.0) -> int:
    """Wait until the project's online model is newer than ``version``; returns the new one."""
    def newer() -> int:
        v = int(project.metrics()["model_version"])
        return v if v > version else 0

    got: int = wait_for(newer, timeout=timeout, what=f"model version > {version}")
    return got
