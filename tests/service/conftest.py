"""A running service context on a temporary data directory, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from labella.config import Settings
from labella.service import auth, projects
from labella.service.context import ServiceContext

POS = ["great", "excellent", "love it", "works perfectly", "really happy with", "superb"]
NEG = ["terrible", "broke after a week", "waste of money", "awful", "very disappointed in", "useless"]
THINGS = ["the battery", "this camera", "the screen", "the keyboard", "this player", "the case",
          "the charger", "the software", "the speaker", "this phone"]


def reviews(n: int, *, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` distinct short review sentences with their sentiment (deterministic)."""
    import random

    rng = random.Random(seed)
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    while len(out) < n:
        label = rng.choice(["pos", "neg"])
        word = rng.choice(POS if label == "pos" else NEG)
        text = f"{rng.choice(THINGS)} is {word}, {rng.choice(THINGS)} {rng.randint(1, 10**6)}"
        if text not in seen:
            seen.add(text)
            out.append((text, label))
    return out


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def wait_jobs(ctx: ServiceContext, project_id: int, timeout: float = 120.0) -> list[object]:
    """Wait until every job of the project has ended (imports start featurisation jobs)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = ctx.jobs.list(project_id=project_id)
        if jobs and all(j.terminal for j in jobs):
            time.sleep(0.05)  # an import enqueues its follow-up just before it ends
            again = ctx.jobs.list(project_id=project_id)
            if len(again) == len(jobs) and all(j.terminal for j in again):
                return list(again)
        time.sleep(0.05)
    raise TimeoutError(f"jobs of project {project_id} still running: {ctx.jobs.list(project_id=project_id)}")


@pytest.fixture
def ctx(tmp_path: Path, database_url: str) -> Iterator[ServiceContext]:
    c = ServiceContext(Settings(data_dir=tmp_path / "data", database_url=database_url,
                                heartbeat_seconds=1.0))
    c.start(recover_all=True)
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def admin(ctx: ServiceContext) -> auth.UserPublic:
    with ctx.session() as s:
        return auth.create_user(s, "admin", password="correct horse", is_admin=True)


@pytest.fixture
def make_text_project(ctx: ServiceContext, admin: auth.UserPublic
                      ) -> Callable[..., projects.ProjectPublic]:
    def make(name: str = "reviews", *, labels: list[str] | None = None, multi_label: bool = False,
             **kw: object) -> projects.ProjectPublic:
        with ctx.session() as s:
            return projects.create_project(s, admin, name=name, task="text", multi_label=multi_label,
                                           labels=labels or ["neg", "pos"], featuriser="hashing",
                                           **kw)  # type: ignore[arg-type]
    return make
