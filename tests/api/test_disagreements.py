"""The disagreement review queue and the reviewer role through the SDK, on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest

from labella.client import LabellaClientError
from tests.api.conftest import LiveServer, text_project, write_reviews


def test_reviewer_resolves_a_disagreement(server: LiveServer, tmp_path: Path) -> None:
    admin = server.client()
    p = text_project(admin, "team")
    write_reviews(tmp_path / "r.csv", 30)
    assert p.import_file(tmp_path / "r.csv").wait(60).status == "succeeded"
    for name in ("ann1", "ann2", "rev"):
        server.add_user(name)
    p.add_member("ann1")
    p.add_member("ann2")
    assert p.add_member("rev", role="reviewer")["role"] == "reviewer"
    p1, p2 = (server.client(n).project(p.id) for n in ("ann1", "ann2"))
    rev = server.client("rev").project(p.id)
    a, b, c = (it.id for it in p1.next(n=3))
    p1.annotate(a, label="neg")
    p2.annotate(a, label="pos")  # disagree
    p1.annotate(b, label="pos")
    p2.annotate(b, label="pos")  # agree
    p1.annotate(c, label="neg")  # one answer only

    q = rev.disagreements()
    assert q["n_open"] == 1 and q["n_reviewed"] == 0
    (item,) = q["items"]
    assert item["item_id"] == a and item["reviewed"] is None
    assert [(x["username"], x["labels"]) for x in item["answers"]] == [("ann1", ["neg"]),
                                                                       ("ann2", ["pos"])]
    assert item["consensus"] == ["neg"] and item["consensus_share"] == 0.5  # tie: first label
    assert p2.item(a)["labels"] == ["pos"]  # before review: the newest answer

    for call in (lambda: p1.resolve(a, label="pos"), p1.disagreements):  # annotators: 403
        with pytest.raises(LabellaClientError) as err:
            call()
        assert err.value.status == 403

    ack = rev.resolve(a, label="neg")
    assert ack["labels"] == ["neg"] and ack["action"] == "label"
    detail = p1.item(a)
    assert detail["labels"] == ["neg"]  # the reviewer's label wins over ann2's newer answer
    last = detail["history"][-1]
    assert (last["user"], last["source"], last["labels"]) == ("rev", "review", ["neg"])
    assert [h["source"] for h in detail["history"]] == ["human", "human", "review"]
    assert rev.disagreements()["n_open"] == 0
    assert rev.disagreements()["n_reviewed"] == 1

    p1.annotate(a, label="neg")  # a newer answer that agrees with the review: stays closed
    assert rev.disagreements()["n_open"] == 0
    p2.annotate(a, label="pos")  # one that disagrees with it: reopened, the review stands
    q = rev.disagreements()
    assert [i["item_id"] for i in q["items"]] == [a] and q["items"][0]["reviewed"] == ["neg"]
    assert p1.item(a)["labels"] == ["neg"]
    admin.project(p.id).resolve(a, label="pos")  # admins may review too
    assert p1.item(a)["labels"] == ["pos"] and rev.disagreements()["n_open"] == 0
    # the review rows are not annotators' answers: the agreement figures leave them out
    assert {r["username"] for r in p.agreement()["annotators"]} == {"ann1", "ann2"}
