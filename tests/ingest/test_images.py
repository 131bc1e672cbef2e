"""Image folders: layouts, labels.csv, and the checks every image goes through."""

from __future__ import annotations

import io
import shutil
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from labella.config import Limits
from labella.errors import DataError
from labella.ingest.cells import RowProblem
from labella.ingest.images import check_image
from labella.ingest.reader import open_source
from labella.ingest.records import RawRecord, RowError
from tests.ingest.conftest import png_bytes

LIMITS = Limits()


def read(root: Path, *, multi_label: bool = False, limits: Limits = LIMITS
         ) -> tuple[list[RawRecord], list[RowError]]:
    out = list(open_source(root, task="image", multi_label=multi_label, limits=limits))
    return ([r for r in out if isinstance(r, RawRecord)], [r for r in out if isinstance(r, RowError)])


def put(root: Path, rel: str, data: bytes | None = None) -> bytes:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    data = png_bytes() if data is None else data
    p.write_bytes(data)
    return data


def with_size(png: bytes, width: int, height: int) -> bytes:
    """``png`` with its IHDR claiming ``width`` x ``height`` (CRC fixed up)."""
    ihdr = png[12:29]  # b"IHDR" + 13 bytes of data
    body = ihdr[:4] + struct.pack(">II", width, height) + ihdr[12:]
    return png[:12] + body + struct.pack(">I", zlib.crc32(body)) + png[33:]


# ---------------------------------------------------------------- layouts


def test_split_class_layout_with_unlabelled_root_images(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    cat = put(root, "train/cat/1.png")
    put(root, "train/dog/2.JPG", png_bytes(fmt="JPEG"))
    put(root, "Test/cat/3.png")
    put(root, "train/loose.png")
    put(root, "root.png")
    put(root, "cat/4.jpeg", png_bytes(fmt="JPEG"))
    put(root, "cat/deeper/5.png")
    put(root, ".hidden/6.png")
    put(root, "cat/.7.png")
    put(root, "__MACOSX/cat/._8.png")
    put(root, "notes.txt", b"not an image")
    src = open_source(root, task="image", multi_label=False, limits=LIMITS)
    assert src.name == "photos" and src.estimated_total == 7
    recs = list(src)
    assert all(isinstance(r, RawRecord) for r in recs)
    got = {r.image_name: (r.labels, r.split) for r in recs if isinstance(r, RawRecord)}
    assert got == {
        "Test/cat/3.png": (["cat"], "evaluation"),
        "cat/4.jpeg": (["cat"], "pool"),
        "cat/deeper/5.png": (["cat"], "pool"),
        "root.png": (None, "pool"),
        "train/cat/1.png": (["cat"], "pool"),
        "train/dog/2.JPG": (["dog"], "pool"),
        "train/loose.png": (None, "pool"),
    }
    assert [r.image_name for r in recs if isinstance(r, RawRecord)] == sorted(got)
    first = next(r for r in recs if isinstance(r, RawRecord) and r.image_name == "train/cat/1.png")
    assert first.image == cat and first.source == "photos:train/cat/1.png"
    assert first.meta == {"width": 8, "height": 6, "format": "PNG"}
    assert [r.position for r in recs] == list(range(1, 8))


def test_multi_label_labels_csv(tmp_path: Path) -> None:
    root = tmp_path / "scenes"
    for rel in ("a.png", "b.png", "c.png", "test/d.png", "e.png", "f.png"):
        put(root, rel)
    (root / "labels.csv").write_text(
        "filename,labels,split,photographer\n"
        "a.png,sky|sea,,x\n"
        "b.png,,train,y\n"
        "test/d.png,sea,,z\n"
        "e.png,sky,holdout-2,w\n"
        "missing.png,sky,,v\n"
    )
    recs, errs = read(root, multi_label=True)
    got = {r.image_name: (r.labels, r.split) for r in recs}
    assert got == {
        "a.png": (["sky", "sea"], "pool"),
        "b.png": (None, "pool"),
        "c.png": (None, "pool"),
        "f.png": (None, "pool"),
        "test/d.png": (["sea"], "evaluation"),
    }
    assert recs[0].meta["photographer"] == "x"
    msgs = sorted(e.message for e in errs)
    assert len(errs) == 2
    assert "unknown split 'holdout-2'" in msgs[0] and msgs[0].startswith("e.png: labels.csv row 4")
    assert "row 5 names 'missing.png', which is not an image in scenes" in msgs[1]


def test_multi_label_without_labels_csv_uses_folders(tmp_path: Path) -> None:
    put(tmp_path / "r", "sky/1.png")
    recs, errs = read(tmp_path / "r", multi_label=True)
    assert recs[0].labels == ["sky"] and errs == []


def test_labels_csv_needs_its_columns(tmp_path: Path) -> None:
    put(tmp_path / "r", "1.png")
    (tmp_path / "r" / "labels.csv").write_text("name,tags\n1.png,a\n")
    with pytest.raises(DataError, match="expected columns filename,labels"):
        open_source(tmp_path / "r", task="image", multi_label=True, limits=LIMITS)


def test_empty_folder_and_wrong_task(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.md").write_text("x")
    with pytest.raises(DataError, match="no images found"):
        open_source(tmp_path / "empty", task="image", multi_label=False, limits=LIMITS)
    with pytest.raises(DataError, match="is a folder; text data must be a table file"):
        open_source(tmp_path / "empty", task="text", multi_label=False, limits=LIMITS)
    with pytest.raises(DataError, match="no such file or folder"):
        open_source(tmp_path / "nope", task="image", multi_label=False, limits=LIMITS)


# ---------------------------------------------------------------- bad images


def test_corrupt_truncated_and_oversized_images_are_row_errors(tmp_path: Path) -> None:
    root = tmp_path / "r"
    jpeg = png_bytes((64, 64), fmt="JPEG")
    put(root, "a/good.png")
    put(root, "a/truncated.jpg", jpeg[: len(jpeg) // 2])
    put(root, "a/garbage.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    put(root, "a/text.gif", b"hello, I am not a gif")
    put(root, "a/big.png", png_bytes((200, 200)) + b"\x00" * 5000)
    recs, errs = read(root, limits=Limits(max_image_bytes=4000))
    assert [r.image_name for r in recs] == ["a/good.png"]
    by = {e.source.split(":", 1)[1]: e.message for e in errs}
    assert set(by) == {"a/truncated.jpg", "a/garbage.png", "a/text.gif", "a/big.png"}
    assert "corrupt or truncated" in by["a/truncated.jpg"]
    assert "not an image Pillow can read" in by["a/text.gif"]
    assert "the limit is 4,000" in by["a/big.png"]


def test_decompression_bomb_in_header_is_refused_before_decoding(tmp_path: Path) -> None:
    bomb = with_size(png_bytes((1, 1)), 20000, 20000)
    before = Image.MAX_IMAGE_PIXELS
    put(tmp_path / "r", "cls/bomb.png", bomb)
    put(tmp_path / "r", "cls/ok.png")
    recs, errs = read(tmp_path / "r")
    assert [r.image_name for r in recs] == ["cls/ok.png"]
    assert "image is 20000x20000 = 400 M pixels; the limit is 64 M" in errs[0].message
    assert Image.MAX_IMAGE_PIXELS == before


def test_real_large_single_colour_png_over_a_small_pixel_limit() -> None:
    buf = io.BytesIO()
    Image.new("1", (3000, 3000), 1).save(buf, format="PNG", optimize=True)
    data = buf.getvalue()
    assert len(data) < 20_000  # compresses to almost nothing
    with pytest.raises(RowProblem, match=r"3000x3000 = 9 M pixels; the limit is 1 M"):
        check_image(data, limits=Limits(max_image_pixels=1_000_000))
    assert check_image(data, limits=Limits()).width == 3000


def test_pixel_limit_between_ours_and_pillows(tmp_path: Path) -> None:
    data = with_size(png_bytes((1, 1)), 10000, 10000)  # 100 M: over Pillow's warning level
    with pytest.raises(RowProblem, match="10000x10000 = 100 M pixels; the limit is 64 M"):
        check_image(data, limits=LIMITS)


# ---------------------------------------------------------------- real photos


def test_real_photos_in_a_split_layout(tmp_path: Path, sign_digits: Path) -> None:
    root = tmp_path / "hands"
    originals: dict[str, bytes] = {}
    for digit, split in (("3", "train"), ("7", "train"), ("3", "test")):
        photos = sorted((sign_digits / digit).iterdir())[: 3 if split == "train" else 1]
        for i, photo in enumerate(photos):
            rel = f"{split}/{digit}/{split}{i}{photo.suffix}"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(photo, root / rel)
            originals[rel] = photo.read_bytes()
    recs, errs = read(root)
    assert errs == []
    assert {r.image_name: r.image for r in recs} == originals
    assert {(tuple(r.labels or []), r.split) for r in recs} == {
        (("3",), "pool"), (("7",), "pool"), (("3",), "evaluation")}
    assert all(r.meta["format"] == "JPEG" and r.meta["width"] == 100 for r in recs)


def test_a_whole_digit_folder(sign_digits: Path) -> None:
    src = open_source(sign_digits / "0", task="image", multi_label=False, limits=LIMITS)
    out = list(src)
    assert src.estimated_total == len(out) > 100
    assert all(isinstance(r, RawRecord) and r.labels is None for r in out)


def test_symlinks_in_a_local_folder(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    data = put(outside, "real.png")
    put(outside, "sub/inner.png")
    root = tmp_path / "r"
    put(root, "cls/ok.png")
    (root / "cls" / "linked.png").symlink_to(outside / "real.png")
    (root / "cls" / "dangling.png").symlink_to(tmp_path / "missing.png")
    (root / "linkdir").symlink_to(outside / "sub", target_is_directory=True)
    recs, errs = read(root)
    assert {r.image_name: r.image for r in recs}["cls/linked.png"] == data
    assert sorted(r.image_name or "" for r in recs) == ["cls/linked.png", "cls/ok.png"]
    assert len(errs) == 1 and "cls/dangling.png" in errs[0].message
