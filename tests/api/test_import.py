"""Importing through the API: duplicates, bad rows, the evaluation split, limits, sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from labella.client import Client, JobFailed, LabellaClientError
from labella.config import Limits
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
