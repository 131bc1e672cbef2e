"""Several annotators at once over HTTP: retries, leases, nothing lost or counted twice."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from labella.client import Client, LabellaClientError, Project
from tests.api.conftest import LiveServer, text_project, write_reviews


def _together(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run ``calls`` in threads released at the same moment; re-raise the first error."""
    start = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = calls[i]()
        except BaseException as exc:  # handed to the test thread below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    if errors:
        raise errors[0]
    return results


@pytest.fixture
def team(server: LiveServer, admin: Client, tmp_path: Path
         ) -> tuple[Project, dict[str, str], list[Project]]:
    """A 300-item project and four annotators (each with their own client and user)."""
    p = text_project(admin)
    truth = write_reviews(tmp_path / "r.csv", 300)
    p.import_file(tmp_path / "r.csv").wait(60)
    names = ["annotator", *(f"annotator{i}" for i in range(2, 5))]
    views = []
    for name in names:
        if name not in server.tokens:
            server.add_user(name)
        p.add_member(name)
        views.append(server.client(name).project(p.id))
    return p, truth, views


def test_a_repeated_request_id_is_a_no_op(server: LiveServer, admin: Client,
                                          tmp_path: Path) -> None:
    p = text_project(admin)
    truth = write_reviews(tmp_path / "r.csv", 40)
    p.import_file(tmp_path / "r.csv").wait(60)
    a, b = p.next(n=2)
    first = p.annotate(a.id, label=truth[a.text or ""], request_id="click-1")
    again = p.annotate(a.id, label=truth[a.text or ""], request_id="click-1")
    assert first["duplicate"] is False and again["duplicate"] is True
    assert again["annotation_id"] == first["annotation_id"]
    assert again["n_labeled"] == first["n_labeled"] == 1
    assert [h["action"] for h in p.item(a.id)["history"]] == ["label"]
    with pytest.raises(LabellaClientError) as err:  # the same id for something else
        p.annotate(b.id, label="pos", request_id="click-1")
    assert err.value.status == 409 and "click-1" in err.value.detail
    other = "pos" if truth[a.text or ""] == "neg" else "neg"
    with pytest.raises(LabellaClientError) as err:  # the same id, another label: a client bug
        p.annotate(a.id, label=other, request_id="click-1")
    assert err.value.status == 409 and f"as {other}" in err.value.detail
    assert p.item(a.id)["labels"] == [truth[a.text or ""]]  # the first answer stands
    # request ids are per annotator: another user's "click-1" is their own
    p.add_member("annotator")
    theirs = server.client("annotator").project(p.id).annotate(b.id, label="neg",
                                                                request_id="click-1")
    assert theirs["duplicate"] is False and theirs["n_labeled"] == 2
    assert p.metrics()["n_labeled"] == 2


def test_the_same_request_sent_twice_at_once_counts_once(server: LiveServer, admin: Client,
                                                         tmp_path: Path) -> None:
    """A client retrying while the first attempt is still in flight."""
    p = text_project(admin)
    truth = write_reviews(tmp_path / "r.csv", 40)
    p.import_file(tmp_path / "r.csv").wait(60)
    items = p.next(n=5)
    for k, it in enumerate(items):
        rid = f"retry-{k}"
        acks = _together([lambda it=it, rid=rid: p.annotate(it.id, label=truth[it.text or ""],
                                                            request_id=rid)] * 3)
        assert sorted(a["duplicate"] for a in acks) == [False, True, True]
        assert len({a["annotation_id"] for a in acks}) == 1
    assert p.metrics()["n_labeled"] == 5
    for it in items:
        assert [h["action"] for h in p.item(it.id)["history"]] == ["label"]


def test_annotators_asking_at_once_get_different_items(
        team: tuple[Project, dict[str, str], list[Project]]) -> None:
    _p, truth, views = team
    seen: list[int] = []
    for _round in range(3):
        batches = _together([lambda v=v: v.next(n=8) for v in views])
        ids = [it.id for batch in batches for it in batch]
        assert len(ids) == len(views) * 8
        assert len(set(ids)) == len(ids), "two annotators were handed the same item"
        # label half of each batch; the rest are released when the annotator asks again
        for view, batch in zip(views, batches, strict=True):
            for it in batch[:4]:
                view.annotate(it.id, label=truth[it.text or ""])
                seen.append(it.id)
    assert len(set(seen)) == len(seen) == 3 * len(views) * 4


def test_concurrent_annotations_are_neither_lost_nor_double_counted(
        server: LiveServer, team: tuple[Project, dict[str, str], list[Project]]) -> None:
    p, truth, views = team
    rounds = 8

    def work(view: Project) -> list[dict[str, Any]]:
        acks = []
        for _ in range(rounds):
            for it in view.next(n=2):
                acks.append(view.annotate(it.id, label=truth[it.text or ""]))
        return acks

    per_user = _together([lambda v=v: work(v) for v in views])
    acks = [a for user_acks in per_user for a in user_acks]
    assert len(acks) == len(views) * rounds * 2
    assert not any(a["duplicate"] for a in acks)
    ids = Counter(a["item_id"] for a in acks)
    assert max(ids.values()) == 1, "an item was handed to two annotators"
    assert len({a["annotation_id"] for a in acks}) == len(acks)
    m = p.metrics()
    assert m["n_labeled"] == len(acks)
    assert sum(m["label_counts"].values()) == len(acks)
    assert p.refresh().data["n_labeled"] == len(acks)  # counted from the database
    labelled = [line for line in p.export(server.settings.data_dir.parent / "l.jsonl")
                .read_text().splitlines()]
    assert len(labelled) == len(acks)
    assert max(a["n_labeled"] for a in acks) == len(acks)  # the last ack saw every label
    for a in acks[:: len(acks) // 8]:
        assert [h["action"] for h in p.item(a["item_id"])["history"]] == ["label"]
