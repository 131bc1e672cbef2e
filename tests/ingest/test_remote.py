"""Sources on S3, against a real S3-compatible server (moto on loopback)."""

from __future__ import annotations

import io
import zipfile

import pytest

from labella.config import Limits
from labella.errors import DataError
from labella.ingest.reader import open_source
from labella.ingest.records import RawRecord, RowError
from labella.ingest.remote import display_url, scrub
from tests.ingest.conftest import png_bytes
from tests.s3_server import S3Server

LIMITS = Limits()


def split(out: list[RawRecord | RowError]) -> tuple[list[RawRecord], list[RowError]]:
    return ([r for r in out if isinstance(r, RawRecord)], [r for r in out if isinstance(r, RowError)])


def test_image_prefix_on_s3(s3_server: S3Server) -> None:
    pre = s3_server.prefix()
    png, jpg = png_bytes(), png_bytes(fmt="JPEG")
    for key, data in [("photos/train/cat/1.png", png), ("photos/test/dog/2.jpg", jpg),
                      ("photos/loose.png", png), ("photos/.hidden.png", png),
                      ("photos/cat/broken.png", png[:20]), ("photos/notes.txt", b"x"),
                      ("photos-other/cat/9.png", png)]:
        s3_server.put(f"{pre}/{key}", data)
    url = f"s3://{s3_server.bucket}/{pre}/photos/"
    src = open_source(url, task="image", multi_label=False, limits=LIMITS,
                      storage_options=s3_server.storage_options)
    assert src.name == "photos" and src.estimated_total == 4
    recs, errs = split(list(src))
    assert [(r.image_name, r.labels, r.split) for r in recs] == [
        ("loose.png", None, "pool"), ("test/dog/2.jpg", ["dog"], "evaluation"),
        ("train/cat/1.png", ["cat"], "pool")]
    assert recs[2].image == png and recs[2].source == "photos:train/cat/1.png"
    assert len(errs) == 1 and errs[0].source == "photos:cat/broken.png"


def test_multi_label_prefix_with_labels_csv(s3_server: S3Server) -> None:
    pre = s3_server.prefix()
    s3_server.put(f"{pre}/a.png", png_bytes())
    s3_server.put(f"{pre}/b.png", png_bytes())
    s3_server.put(f"{pre}/labels.csv", b"filename,labels\na.png,x|y\n")
    src = open_source(f"s3://{s3_server.bucket}/{pre}", task="image", multi_label=True,
                      limits=LIMITS, storage_options=s3_server.storage_options)
    recs, errs = split(list(src))
    assert [(r.image_name, r.labels) for r in recs] == [("a.png", ["x", "y"]), ("b.png", None)]
    assert errs == []


def test_csv_on_s3(s3_server: S3Server) -> None:
    pre = s3_server.prefix()
    s3_server.put(f"{pre}/reviews.csv",
                  b"text,label,split\ngood,pos,train\nbad \xe9,neg,\nmeh,neu,test\n")
    src = open_source(f"s3://{s3_server.bucket}/{pre}/reviews.csv", task="text",
                      multi_label=False, limits=LIMITS, storage_options=s3_server.storage_options)
    assert src.name == "reviews.csv" and src.estimated_total == 3
    recs, errs = split(list(src))
    assert [(r.text, r.labels, r.split) for r in recs] == [
        ("good", ["pos"], "pool"), ("meh", ["neu"], "evaluation")]
    assert errs[0].source == "reviews.csv:2" and "byte 0xe9" in errs[0].message


def test_parquet_and_zip_on_s3(s3_server: S3Server) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pre = s3_server.prefix()
    buf = io.BytesIO()
    pq.write_table(pa.table({"text": ["a", "b", "c"]}), buf)
    s3_server.put(f"{pre}/t.parquet", buf.getvalue())
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as zf:
        zf.writestr("cat/1.png", png_bytes())
        zf.writestr("../evil.png", png_bytes())
    s3_server.put(f"{pre}/imgs.zip", zbuf.getvalue())
    opts = s3_server.storage_options
    src = open_source(f"s3://{s3_server.bucket}/{pre}/t.parquet", task="text", multi_label=False,
                      limits=LIMITS, storage_options=opts)
    assert src.estimated_total == 3 and len(list(src)) == 3
    recs, errs = split(list(open_source(f"s3://{s3_server.bucket}/{pre}/imgs.zip", task="image",
                                        multi_label=False, limits=LIMITS, storage_options=opts)))
    assert [r.labels for r in recs] == [["cat"]] and "unsafe member name" in errs[0].message


def test_missing_object_and_file_too_big(s3_server: S3Server) -> None:
    pre = s3_server.prefix()
    opts = s3_server.storage_options
    with pytest.raises(DataError, match="no such file or folder"):
        open_source(f"s3://{s3_server.bucket}/{pre}/nope.csv", task="text", multi_label=False,
                    limits=LIMITS, storage_options=opts)
    s3_server.put(f"{pre}/big.csv", b"text\n" + b"x\n" * 100)
    with pytest.raises(DataError, match=r"s3://.*/big.csv: 205 bytes; the limit is 50"):
        open_source(f"s3://{s3_server.bucket}/{pre}/big.csv", task="text", multi_label=False,
                    limits=Limits(max_file_bytes=50), storage_options=opts)


def test_credentials_never_appear_in_errors(s3_server: S3Server) -> None:
    secret = "sUpErSeCrEtVaLuE-1234567890"
    opts = {**s3_server.storage_options, "secret": secret, "key": "AKIAEXAMPLEKEY"}
    opts["endpoint_url"] = "http://127.0.0.1:9"  # nothing listens there
    opts["config_kwargs"] = {"retries": {"max_attempts": 1}, "connect_timeout": 1}
    with pytest.raises(DataError) as info:
        open_source(f"s3://{s3_server.bucket}/x.csv", task="text", multi_label=False,
                    limits=LIMITS, storage_options=opts)
    text = str(info.value)
    assert secret not in text and "AKIAEXAMPLEKEY" not in text
    assert "s3://labella-test/x.csv" in text


def test_scrub_and_display_url() -> None:
    opts = {"key": "AKIAXYZ", "secret": "s3cr3t", "client_kwargs": {"token": "tok123"}}
    msg = "denied for AKIAXYZ / s3cr3t / tok123 at s3://AKIAXYZ:s3cr3t@bucket/x"
    assert scrub(msg, opts) == "denied for *** / *** / *** at s3://bucket/x"
    assert display_url("s3://k:s@bucket/x") == "s3://bucket/x"
