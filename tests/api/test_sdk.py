"""The Python SDK against a real server: the whole loop, exports, the model, members."""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from labella.client import Client, Item, LabellaClientError, Project
from labella.config import Settings
from tests.api.conftest import (
    LiveServer,
    model_version_above,
    running_server,
    text_project,
    write_reviews,
    write_rows,
)


def _label(project: Project, truth: dict[str, str], n: int, *, batch: int = 10) -> dict[int, str]:
    """Label ``n`` items the loop asks for with their true label; returns item id -> label."""
    done: dict[int, str] = {}
    while len(done) < n:
        items = project.next(n=min(batch, n - len(done)))
        assert items, "the pool ran dry"
        for it in items:
            ack = project.annotate(it.id, label=truth[it.text or ""])
            assert ack["item_id"] == it.id and ack["labels"] == [truth[it.text or ""]]
            done[it.id] = truth[it.text or ""]
    return done


def test_the_sdk_walkthrough(server: LiveServer, tmp_path: Path) -> None:
    """The README's five lines, then the loop until the model makes suggestions."""
    c = Client(server.url, token=server.tokens["admin"])
    p = c.create_project(name="reviews", task="text", multi_label=False, labels=["neg", "pos"],
                         featuriser="hashing")
    assert p.labels == ["neg", "pos"] and p.data["featuriser"] == "hashing"
    truth = write_reviews(tmp_path / "reviews.csv", 240, n_test=40)
    job = p.import_file(tmp_path / "reviews.csv")
    assert job.status in ("queued", "running", "succeeded")
    assert job.wait(60) is job
    assert job.status == "succeeded" and job.progress == 1.0
    assert job.eta is None or job.eta >= 0
    assert job.result == {"added": 240, "duplicates": 0, "repeated_in_file": 0, "labeled": 40,
                          "evaluation": 40, "n_errors": 0, "errors": []}
    featurise = [j for j in p.jobs() if j.data["kind"] == "featurise"]
    assert [j.status for j in featurise] == ["succeeded"]  # wait() followed it
    assert p.refresh().data["n_pool"] == 200 and p.data["n_evaluation"] == 40

    first = p.next(n=5)
    assert len(first) == 5 and all(isinstance(it, Item) for it in first)
    assert len({it.id for it in first}) == 5
    for it in first:  # cold start: no model, nothing to suggest
        assert it.text in truth and it.suggestion is None and it.confidence is None
        assert it.reason.model_version == 0 and it.reason.strategy
    for it in first:
        p.annotate(it.id, label=truth[it.text or ""])
    labelled = {it.id for it in first} | set(_label(p, truth, 25))
    assert len(labelled) == 30
    version = model_version_above(p, 0)

    items = p.next(n=5)
    assert not {it.id for it in items} & labelled
    for it in items:
        assert it.suggestion in (["neg"], ["pos"])
        assert it.confidence is not None and 0.0 <= it.confidence <= 1.0
        assert it.reason.model_version >= version > 0
        # a strategy's pick has its score; an audit pick (drawn at random) says so instead
        assert (it.reason.score is not None) != it.reason.strategy.startswith("random (audit")
        # "why this item" for people: the labels, their odds and the current model's version
        assert "score" not in it.explanation
        assert it.reason.strategy.startswith("random (audit") or (
            ("neg (" in it.explanation or "pos (" in it.explanation)
            and " %)" in it.explanation and "model v" in it.explanation)
    m = p.metrics()
    assert {"n_labeled", "model_version", "scores", "learning_curve", "stop"} <= set(m)
    assert m["n_labeled"] == 30 and m["model_version"] >= version
    assert m["scores"]["source"] == "evaluation" and 0.0 <= m["scores"]["accuracy"] <= 1.0
    assert m["learning_curve"] and m["learning_curve"][-1]["n_labels"] <= 30
    assert {"stop", "reason", "criterion"} <= set(m["stop"])
    assert m["stop"]["advice"].startswith(("keep labelling: ", "stop")), m["stop"]
    assert "kappa" not in m["stop"]["advice"]
    c.close()


def test_sdk_users_invitations_and_deletion(server: LiveServer, tmp_path: Path) -> None:
    c = Client(server.url, token=server.tokens["admin"])
    made = c.create_user("carol")
    assert made["login_url"].startswith(server.url + "/login?token=")
    assert {u["username"] for u in c.users()} >= {"admin", "carol"}
    assert c.login_link(made["user_id"]).startswith(server.url + "/login?token=")
    assert c.disable_user(made["user_id"])["disabled"] is True
    p = c.create_project(name="to delete", task="text", labels=["neg", "pos"],
                         featuriser="hashing")
    inv = p.invite("dave", role="annotator")
    assert inv["created"] and inv["login_url"] and inv["member"]["username"] == "dave"
    with pytest.raises(LabellaClientError, match="exact name"):
        p.delete(confirm="To delete")
    lead = Client(server.url, token=server.tokens["lead"])
    with pytest.raises(LabellaClientError):
        lead.users()
    lead.close()
    assert p.delete(confirm="to delete")["name"] == "to delete"
    assert "to delete" not in {q.name for q in c.projects()}
    c.close()


def test_client_from_env(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABELLA_URL", server.url)
    monkeypatch.setenv("LABELLA_TOKEN", server.tokens["annotator"])
    with Client.from_env() as c:
        assert c.url == server.url
        assert c.me()["username"] == "annotator"
    monkeypatch.delenv("LABELLA_TOKEN")
    with pytest.raises(LabellaClientError, match="LABELLA_TOKEN"):
        Client.from_env()


@pytest.fixture
def labelled_project(server: LiveServer, admin: Client, tmp_path: Path
                     ) -> tuple[Project, dict[str, str], dict[int, str]]:
    """A project with 40 evaluation items and 30 labelled pool items, model fitted."""
    p = text_project(admin)
    truth = write_reviews(tmp_path / "reviews.csv", 240, n_test=40)
    p.import_file(tmp_path / "reviews.csv").wait(60)
    given = _label(p, truth, 30)
    model_version_above(p, 0)
    return p, truth, given


def _by_text(rows: list[dict[str, str]], label_key: str = "label") -> dict[str, str]:
    return {r["text"]: r[label_key] for r in rows}


def test_exports_parse_and_csv_reimports(admin: Client, tmp_path: Path,
                                         labelled_project: tuple[Project, dict[str, str],
                                                                 dict[int, str]]) -> None:
    p, truth, given = labelled_project
    given_text = {it["text"]: given[it["id"]] for it in (p.item(i) for i in given)}
    out = tmp_path / "out"
    out.mkdir()

    jsonl = [json.loads(line) for line in
             p.export(out / "labels.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(jsonl) == 70  # 30 labelled pool items + 40 evaluation items (labelled on import)
    assert sum(r["split"] == "test" for r in jsonl) == 40
    pool = {r["text"]: r["label"] for r in jsonl if r["split"] == "train"}
    assert pool == given_text
    assert all(r["label"] == truth[r["text"]] for r in jsonl)
    assert all(r["annotator"] == "admin" for r in jsonl if r["split"] == "train")
    assert all("suggestion" in r and r["model_version"] > 0 for r in jsonl if r["split"] == "train")

    with p.export(out / "labels.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {"id", "text", "label", "split", "annotator", "annotated_at"} <= set(rows[0])
    assert _by_text(rows) == {r["text"]: r["label"] for r in jsonl}

    studio = json.loads(p.export(out / "labels.json").read_text(encoding="utf-8"))
    assert len(studio) == 70
    for task in studio:
        assert task["annotations"][0]["result"][0]["value"]["choices"] == [
            truth[task["data"]["text"]]]

    with zipfile.ZipFile(p.export(out / "labels.zip")) as zf:
        names = set(zf.namelist())
        assert "README.md" in names
        zf.extractall(out / "hf")
    train = pq.read_table(out / "hf" / "data" / "train-00000-of-00001.parquet").to_pylist()
    test = pq.read_table(out / "hf" / "data" / "test-00000-of-00001.parquet").to_pylist()
    assert len(train) == 30 and len(test) == 40
    assert {r["text"]: p.labels[r["label"]] for r in train} == given_text

    unlabeled = p.export(out / "all.jsonl", include_unlabeled=True).read_text().splitlines()
    assert len(unlabeled) == 240
    with pytest.raises(ValueError, match="format"):
        p.export(out / "labels.xlsx")
    with pytest.raises(LabellaClientError) as err:
        p.export(out / "labels.bin", format="pickle")
    assert err.value.status == 422

    # the CSV export is a valid import file: a new project gets the same labels and splits
    q = text_project(admin, "reviews again")
    job = q.import_file(out / "labels.csv").wait(60)
    assert job.result is not None
    assert job.result["added"] == 70 and job.result["labeled"] == 70
    assert job.result["evaluation"] == 40 and job.result["n_errors"] == 0
    again = [json.loads(line) for line in
             q.export(out / "again.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {(r["text"], r["label"], r["split"]) for r in again} == {
        (r["text"], r["label"], r["split"]) for r in jsonl}
    assert q.metrics()["n_labeled"] == 30


def test_model_export_and_retrain(admin: Client, tmp_path: Path,
                                  labelled_project: tuple[Project, dict[str, str],
                                                          dict[int, str]]) -> None:
    p, _truth, _given = labelled_project
    path = p.export_model(tmp_path / "m.zip")
    with zipfile.ZipFile(path) as zf:
        assert {"head.json", "head.npz"} <= set(zf.namelist())
        meta = json.loads(zf.read("head.json"))
        zf.extract("head.npz", tmp_path)
    assert meta["class_names"] == ["neg", "pos"]
    assert meta["featuriser_key"].startswith("text/hashing/")
    arrays = np.load(tmp_path / "head.npz", allow_pickle=False)  # no pickle needed to read it
    assert arrays.files

    before = p.metrics()["model_version"]
    job = p.retrain()
    assert job.data["kind"] == "retrain"
    job.wait(60)
    assert job.status == "succeeded" and job.progress == 1.0
    assert job.result is not None and job.result["model_version"] > before
    assert job.result["n_labels"] == 30 and job.result["metrics"]["score"] is not None
    assert job.result["artifact"]


def test_model_export_before_any_label_is_refused(admin: Client, tmp_path: Path) -> None:
    p = text_project(admin)
    write_reviews(tmp_path / "r.csv", 30)
    p.import_file(tmp_path / "r.csv").wait(60)
    with pytest.raises(LabellaClientError) as err:
        p.export_model(tmp_path / "m.zip")
    assert err.value.status == 422 and "label" in err.value.detail
    job = p.retrain()
    with pytest.raises(LabellaClientError, match="no labels"):
        job.wait(60)
    assert job.status == "failed" and "no labels" in (job.error or "")


def test_skip_and_undo(admin: Client, tmp_path: Path) -> None:
    p = text_project(admin)
    truth = write_reviews(tmp_path / "r.csv", 60)
    p.import_file(tmp_path / "r.csv").wait(60)
    a, b, c = p.next(n=3)
    p.annotate(a.id, label=truth[a.text or ""])
    ack = p.annotate(b.id, label=truth[b.text or ""])
    assert ack["n_labeled"] == 2
    skipped = p.skip(c.id)
    assert skipped["action"] == "skip" and skipped["n_labeled"] == 2
    assert c.id not in {it.id for it in p.next(n=100)}  # not offered to this annotator again
    assert [h["action"] for h in p.item(c.id)["history"]] == ["skip"]

    undone = p.undo()  # the most recent answer: the skip
    assert undone["item_id"] == c.id and undone["action"] == "undo"
    assert c.id in {it.id for it in p.next(n=100)}
    undone = p.undo(b.id)
    assert undone["n_labeled"] == 1
    detail = p.item(b.id)
    assert detail["labels"] is None
    assert [h["action"] for h in detail["history"]] == ["label", "undo"]
    assert p.item(a.id)["labels"] == [truth[a.text or ""]]
    assert p.metrics()["n_labeled"] == 1
    relabel = p.annotate(b.id, label="pos" if truth[b.text or ""] == "neg" else "neg")
    assert relabel["n_labeled"] == 2
    fresh = text_project(admin, "empty")
    with pytest.raises(LabellaClientError) as err:  # nothing of this user's to undo there
        fresh.undo()
    assert err.value.status == 422


def test_bad_annotations_are_refused(server: LiveServer, admin: Client, tmp_path: Path) -> None:
    p = text_project(admin)
    write_reviews(tmp_path / "r.csv", 30)
    p.import_file(tmp_path / "r.csv").wait(60)
    other = text_project(admin, "other")
    write_reviews(tmp_path / "o.csv", 10, seed=1)
    other.import_file(tmp_path / "o.csv").wait(60)
    it = p.next()[0]
    foreign = other.next()[0]
    cases: list[tuple[int, dict[str, object]]] = [
        (422, {"item_id": it.id, "label": "maybe"}),           # not one of the project's labels
        (422, {"item_id": it.id, "labels": ["neg", "pos"]}),   # two labels, single-label project
        (422, {"item_id": it.id}),                             # no label at all
        (404, {"item_id": foreign.id, "label": "pos"}),        # another project's item
        (404, {"item_id": 10**9, "label": "pos"}),
        (422, {"item_id": "seven", "label": "pos"}),
    ]
    with server.http("admin") as http:
        for status, body in cases:
            r = http.post(f"/api/projects/{p.id}/annotations", json=body)
            assert r.status_code == status, (body, r.text)
            assert r.json()["detail"]
        for n in (0, 101):
            assert http.get(f"/api/projects/{p.id}/next", params={"n": n}).status_code == 422
    assert p.metrics()["n_labeled"] == 0


def test_multi_label_project(admin: Client, tmp_path: Path) -> None:
    tags = ["battery", "screen", "price"]
    p = text_project(admin, "tags", labels=tags, multi_label=True)
    texts = [f"{subject} review number {i}" for i, subject in
             enumerate(["The battery drains fast", "The screen is sharp", "Too expensive"] * 20)]
    write_rows(tmp_path / "tags.csv", [{"text": t} for t in texts])
    p.import_file(tmp_path / "tags.csv").wait(60)
    want = {0: ["battery"], 1: ["screen"], 2: ["price"]}
    done = 0
    while done < 20:
        for it in p.next(n=5):
            text = it.text or ""
            kind = texts.index(text) % 3
            labels = [*want[kind], "price"] if done % 4 == 0 else want[kind]
            ack = p.annotate(it.id, labels=list(reversed(labels)))
            assert ack["labels"] == [t for t in tags if t in labels]  # the project's order
            done += 1
    none = p.next()[0]
    assert p.annotate(none.id, labels=[])["labels"] == []  # "none of these applies"
    assert p.item(none.id)["labels"] == []
    model_version_above(p, 0)
    nxt = p.next(n=3)
    assert all(it.suggestion is not None and set(it.suggestion) <= set(tags) for it in nxt)
    with pytest.raises(LabellaClientError) as err:
        p.annotate(nxt[0].id, labels=["battery", "colour"])
    assert err.value.status == 422 and "colour" in err.value.detail
    rows = [json.loads(line) for line in
            p.export(tmp_path / "tags.jsonl").read_text().splitlines()]
    assert len(rows) == 21 and all(isinstance(r["labels"], list) for r in rows)


def test_members(server: LiveServer, admin: Client) -> None:
    p = text_project(admin)
    assert [(m["username"], m["role"]) for m in p.members()] == [("admin", "admin")]
    assert p.add_member("annotator")["role"] == "annotator"
    assert p.add_member("lead", role="admin")["role"] == "admin"
    assert {m["username"]: m["role"] for m in p.members()} == {
        "admin": "admin", "annotator": "annotator", "lead": "admin"}
    lead = server.client("lead")
    assert [q.name for q in lead.projects()] == ["reviews"]
    assert lead.project("reviews").data["role"] == "admin"
    lead.project(p.id).update(description="sentiment of product reviews")
    assert p.refresh().data["description"] == "sentiment of product reviews"
    with pytest.raises(LabellaClientError) as err:
        p.add_member("nobody-by-this-name")
    assert err.value.status == 404
    with pytest.raises(LabellaClientError) as err:
        p.add_member("outsider", role="owner")
    assert err.value.status == 422
    with server.http("admin") as http:
        assert http.delete(f"/api/projects/{p.id}/members/annotator").status_code == 204
    assert "annotator" not in {m["username"] for m in p.members()}
    with pytest.raises(LabellaClientError) as err:
        server.client("annotator").project(p.id)
    assert err.value.status == 404


def test_restart_keeps_labels_and_first_call_may_be_annotate(tmp_path: Path,
                                                             database_url: str) -> None:
    """A new server process on the same data: the labels are back, and an annotator's very
    first request (before anything loaded the project) can be an annotation."""
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url)
    truth = write_reviews(tmp_path / "r.csv", 80)
    with running_server(settings) as first:
        admin = first.client("admin")
        p = text_project(admin)
        p.import_file(tmp_path / "r.csv").wait(60)
        p.add_member("annotator")
        ann = first.client("annotator").project(p.id)
        given = _label(ann, truth, 12)
        pending = ann.next(n=2)
    with running_server(settings) as second:
        ann = second.client("annotator").project(p.id)
        ack = ann.annotate(pending[0].id, label=truth[pending[0].text or ""])
        assert ack["n_labeled"] == 13 and not ack["duplicate"]
        for item_id, label in given.items():
            assert ann.item(item_id)["labels"] == [label]
        assert ann.metrics()["n_labeled"] == 13


def test_reads_are_retried_when_the_connection_drops_and_writes_are_not() -> None:
    import httpx

    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if len(calls) % 2 == 1:  # every first try: the server closed the kept-alive socket
            raise httpx.ReadError("[Errno 104] Connection reset by peer", request=request)
        return httpx.Response(200, json={"id": 1, "username": "admin"})

    with Client("http://labella.test", token="t", transport=httpx.MockTransport(handler)) as c:
        assert c.request("GET", "/api/me") == {"id": 1, "username": "admin"}
        assert calls == ["GET", "GET"]
        with pytest.raises(httpx.ReadError):
            c.request("POST", "/api/projects", json={})
        assert calls == ["GET", "GET", "POST"]  # a write may have landed: not sent twice

    def always_down(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        raise httpx.ConnectError("refused", request=request)

    calls.clear()
    with Client("http://labella.test", token="t", transport=httpx.MockTransport(always_down)) as c:
        with pytest.raises(httpx.ConnectError):
            c.request("GET", "/api/me")
    assert len(calls) == 3  # one try and two retries, then the error
