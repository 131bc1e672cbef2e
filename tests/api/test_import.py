"""Importing through the API: duplicates, bad rows, the evaluation split, limits, sources."""

from __future__ import annotations

import io
import json
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from labella import datafiles
from labella.client import Client, JobFailed, LabellaClientError
from labella.config import Limits
from labella.store.annotations import Annotation
from labella.store.items import Item
from tests.api.conftest import (
    LiveServer,
    ServerFactory,
    review_texts,
    text_project,
    write_reviews,
    write_rows,
)


def test_reimporting_the_same_file_adds_nothing(admin: Client, tmp_path: Path) -> None:
    p = text_project(admin)
    write_reviews(tmp_path / "reviews.csv", 220, n_test=20)
    first = p.import_file(tmp_path / "reviews.csv").wait(60)
    assert first.result is not None and first.result["added"] == 220
    again = p.import_file(tmp_path / "reviews.csv").wait(60)
    assert again.result is not None
    assert again.result["added"] == 0 and again.result["duplicates"] == 220
    assert again.result["labeled"] == 0 and again.result["n_errors"] == 0
    p.refresh()
    assert p.data["n_items"] == 220 and p.data["n_evaluation"] == 20
    # nothing new landed, so no second featurisation was started
    assert [j.data["kind"] for j in p.jobs()].count("featurise") == 1
    # the same texts in another file format (and order) are duplicates too
    rows = [{"text": t} for t, _ in reversed(review_texts(220))]
    write_rows(tmp_path / "same.csv", rows[:50])
    third = p.import_file(tmp_path / "same.csv").wait(60)
    assert third.result is not None and third.result["duplicates"] == 50


def test_bad_rows_are_reported_and_good_rows_land(admin: Client, tmp_path: Path) -> None:
    p = text_project(admin)
    good = review_texts(30)
    rows = [{"text": t, "label": lab, "split": "train"} for t, lab in good[:10]]
    rows.append({"text": "   ", "label": "pos", "split": "train"})                # row 11
    rows += [{"text": t, "label": "", "split": ""} for t, _ in good[10:20]]
    rows.append({"text": "The case is fine.", "label": "meh", "split": "train"})  # row 22
    rows.append({"text": "The strap is fine.", "label": "", "split": "later"})    # row 23
    rows += [{"text": t, "label": lab, "split": "test"} for t, lab in good[20:30]]
    write_rows(tmp_path / "mixed.csv", rows)
    job = p.import_file(tmp_path / "mixed.csv").wait(60)
    assert job.status == "succeeded"
    r = job.result
    assert r is not None
    assert (r["added"], r["labeled"], r["evaluation"], r["n_errors"]) == (30, 20, 10, 3)
    assert [(e["position"], e["source"]) for e in r["errors"]] == [
        (11, "mixed.csv:11"), (22, "mixed.csv:22"), (23, "mixed.csv:23")]
    messages = [e["message"] for e in r["errors"]]
    assert "empty text" in messages[0]
    assert "'meh'" in messages[1] and "'neg', 'pos'" in messages[1]
    assert "'later'" in messages[2]
    assert any("3 bad row(s)" in line for line in job.data["log_tail"])
    p.refresh()
    assert p.data["n_items"] == 30 and p.data["n_pool"] == 20 and p.data["n_evaluation"] == 10
    assert p.metrics()["n_labeled"] == 10


def test_test_split_is_held_out_of_the_loop(server: LiveServer, admin: Client,
                                            tmp_path: Path) -> None:
    p = text_project(admin)
    truth = write_reviews(tmp_path / "r.csv", 50, n_test=20)
    test_texts = set(list(truth)[30:])
    p.import_file(tmp_path / "r.csv").wait(60)
    offered = p.next(n=100)
    assert len(offered) == 30 and not {it.text for it in offered} & test_texts
    with server.http("admin") as http:
        page = http.get(f"/api/projects/{p.id}/items", params={"split": "evaluation",
                                                               "limit": 100}).json()
    assert page["total"] == 20 and {r["text"] for r in page["items"]} == test_texts
    assert all(r["split"] == "evaluation" and r["labels"] is not None for r in page["items"])
    for it in offered:  # label the whole pool: the evaluation items are never offered
        p.annotate(it.id, label=truth[it.text or ""])
    assert p.next(n=10) == []
    m = p.metrics()
    assert m["n_labeled"] == 30 and m["n_evaluation"] == 20 and m["n_evaluation_labeled"] == 20


def test_upload_over_the_size_limit_is_422(server_factory: ServerFactory, tmp_path: Path) -> None:
    server = server_factory(limits=Limits(max_file_bytes=4096))
    admin = server.client("admin")
    p = text_project(admin)
    write_reviews(tmp_path / "big.csv", 200)
    assert (tmp_path / "big.csv").stat().st_size > 4096
    with pytest.raises(LabellaClientError) as err:
        p.import_file(tmp_path / "big.csv")
    assert err.value.status == 422 and "4,096 byte limit" in err.value.detail
    uploads = server.settings.data_dir / "uploads"
    assert not uploads.exists() or not any(uploads.iterdir())  # the partial upload is gone
    assert p.jobs() == []
    write_reviews(tmp_path / "small.csv", 20)
    assert p.import_file(tmp_path / "small.csv").wait(60).status == "succeeded"
    assert not any(uploads.iterdir())  # an import deletes its upload when done


def test_server_paths_are_for_site_admins(server: LiveServer, admin: Client,
                                          tmp_path: Path) -> None:
    p = text_project(admin)
    p.add_member("lead", role="admin")
    src = tmp_path / "on-the-server.csv"
    write_reviews(src, 40)
    lead = server.client("lead").project(p.id)
    for path in (str(src), "/etc/passwd", "file:///etc/passwd"):
        with pytest.raises(LabellaClientError) as err:
            lead.import_source(path)
        assert err.value.status == 403, path
    assert p.jobs() == []
    job = p.import_source(str(src)).wait(60)  # the site admin may
    assert job.result is not None and job.result["added"] == 40
    # a project admin may still upload the same file
    again = lead.import_file(src).wait(60)
    assert again.result is not None and again.result["duplicates"] == 40


def test_catalogue_sources(admin: Client) -> None:
    text = text_project(admin)
    with pytest.raises(JobFailed, match="image"):  # digits are images, this is a text project
        text.import_source("catalogue:digits").wait(60)
    with pytest.raises(JobFailed, match="unknown catalogue dataset 'nope'"):
        text.import_source("catalogue:nope").wait(60)
    assert any(e["name"] == "digits" for e in admin.catalogue())


@pytest.mark.slow  # 1 797 images through import and featurisation: about 10 s on 2 cores
def test_catalogue_digits_into_an_image_project(server: LiveServer, admin: Client) -> None:
    p = admin.create_project(name="digits", task="image", labels=[str(d) for d in range(10)],
                             featuriser="pixels")
    job = p.import_source("catalogue:digits").wait(120)
    assert job.result is not None
    assert job.result["added"] == 1797 and job.result["evaluation"] == 360
    assert job.result["labeled"] == 1797 and job.result["n_errors"] == 0  # labels come along
    featurise = [j for j in p.jobs() if j.data["kind"] == "featurise"]
    assert [j.status for j in featurise] == ["succeeded"]
    assert featurise[0].result is not None and featurise[0].result["failed"] == 0
    p.refresh()
    assert p.data["n_items"] == 1797 and p.data["n_evaluation"] == 360
    assert p.data["n_pool"] == 1437
    # (the loop is not started here: its first fit on 1 437 labelled 3 072-d items takes
    # seconds; the items and their images are served without it)
    first = p.item(1)  # the first item of a fresh database
    assert first["text"] is None and first["image_url"] and first["labels"] is not None
    with server.http("admin") as http:
        img = http.get(first["image_url"])
    assert img.status_code == 200 and img.headers["content-type"] == "image/png"
    assert img.content.startswith(b"\x89PNG")


# -- one reader: simulate, the import and the wizard's preview agree -------------------------


def _png(colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buf, format="PNG")
    return buf.getvalue()


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _same_files(tmp_path: Path) -> list[tuple[Path, str, bool]]:
    """Files that touch every rule the three readers once disagreed on: test-split names,
    label-column preference, which folder is an image's label; and .json and zip sources."""
    rows = [("fine", "pos", "neg", "train"), ("broke", "neg", "pos", "val"),
            ("love it", "pos", "pos", "dev"), ("awful", "neg", "neg", "test"),
            ("great", "pos", "neg", "Holdout"), ("meh", "neg", "neg", "eval"),
            ("works", "pos", "pos", ""), ("bad", "neg", "neg", "validation")]
    csv_path = write_rows(tmp_path / "reviews.csv", [  # single-label: `label` wins over `labels`
        {"text": t, "label": a, "labels": b, "split": s} for t, a, b, s in rows])
    jsonl = tmp_path / "tags.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in [
        {"text": "sun and sea", "labels": ["sun", "sea"], "split": "train"},
        {"text": "just sun", "labels": "sun", "split": "heldout"},
        {"text": "sea|sky", "labels": "sea|sky", "split": "validation"},
        {"text": "sky", "labels": ["sky"]}]) + "\n")
    array = tmp_path / "rows.json"
    array.write_text(json.dumps([{"text": t, "label": a, "split": s} for t, a, _, s in rows[:5]]))
    red, blue, green = _png((200, 0, 0)), _png((0, 0, 200)), _png((0, 200, 0))
    photos = _zip(tmp_path / "photos.zip", {
        "photos/train/cat/1.png": red, "photos/val/dog/2.png": blue,
        "photos/test/cat/deeper/3.png": green, "photos/holdout/dog/4.png": _png((9, 9, 9)),
        "photos/cat/5.png": _png((1, 2, 3))})
    scenes = _zip(tmp_path / "scenes.zip", {
        "labels.csv": b"filename,labels,split\na.png,sky|sea,\nb.png,sea,test\nc.png,sky,dev\n",
        "a.png": red, "b.png": blue, "c.png": green})
    return [(csv_path, "text", False), (jsonl, "text", True), (array, "text", False),
            (photos, "image", False), (scenes, "image", True)]


def test_simulate_the_import_and_the_preview_read_a_file_alike(
        server: LiveServer, admin: Client, tmp_path: Path) -> None:
    for path, task, multi in _same_files(tmp_path):
        sim = datafiles.load(path, task=task, multi_label=multi)
        sim_labels = [[sim.class_names[j] for j in np.flatnonzero(np.atleast_1d(row))]
                      if multi else [sim.class_names[int(row)]] for row in sim.y]
        sim_splits = ["evaluation" if sim.is_test is not None and sim.is_test[i] else "pool"
                      for i in range(len(sim.items))]

        shown = admin.preview(path, task=task, multi_label=multi)
        counts = Counter(n for names in sim_labels for n in names)
        assert shown["labels"] == dict(sorted(counts.items())), path.name
        assert shown["splits"] == {s: sim_splits.count(s) for s in ("pool", "evaluation")}
        assert shown["items"] == len(sim.items) and shown["n_errors"] == 0

        p = admin.create_project(name=path.stem, task=task, multi_label=multi,
                                 labels=list(shown["labels"]),
                                 featuriser="hashing" if task == "text" else "pixels")
        job = p.import_file(path).wait(60)
        assert job.result is not None and job.result["n_errors"] == 0, job.result
        ctx = server.ctx
        with ctx.session() as s:
            items = list(s.scalars(select(Item).where(Item.project_id == p.id).order_by(Item.id)))
            value = {a.item_id: a.value for a in s.scalars(
                select(Annotation).where(Annotation.project_id == p.id))}
            landed = [(i.text if task == "text" else ctx.blobs.get(i.blob_key or ""),
                       sorted(value[i.id]), i.split) for i in items]
        assert landed == [(item, sorted(names), split) for item, names, split
                          in zip(sim.items, sim_labels, sim_splits, strict=True)], path.name


def test_the_preview_endpoint(server: LiveServer, admin: Client, tmp_path: Path) -> None:
    annotator = server.client("annotator")  # anyone who may create a project may preview
    src = write_rows(tmp_path / "mixed.csv", [
        {"text": "a", "label": "pos", "split": "test"}, {"text": "b", "label": "neg", "split": ""},
        {"text": "", "label": "neg", "split": ""}])
    got = annotator.preview(src, task="text")
    assert (got["name"], got["columns"], got["labels"]) == (
        "mixed.csv", ["text", "label", "split"], {"neg": 1, "pos": 1})
    assert got["splits"] == {"pool": 1, "evaluation": 1} and got["n_errors"] == 1
    assert got["errors"] == [{"position": 3, "source": "mixed.csv:3", "message": "row 3: empty text"}]
    bad = write_rows(tmp_path / "bad.csv", [{"body": "no text"}])
    with pytest.raises(LabellaClientError) as err:
        annotator.preview(bad, task="text")
    assert err.value.status == 422 and err.value.detail == (
        "bad.csv: no 'text' column; columns are ['body']")
    with pytest.raises(LabellaClientError) as err:  # a path on the server: site admins only
        annotator.request("POST", "/api/imports/preview", data={"task": "text", "source": str(src)})
    assert err.value.status == 403
    assert admin.request("POST", "/api/imports/preview",
                         data={"task": "text", "source": str(src)})["items"] == 2
    uploads = server.settings.data_dir / "uploads"
    assert not uploads.exists() or not any(uploads.iterdir())  # previews keep nothing
