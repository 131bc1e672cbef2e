"""Zip archives: layouts read in memory, and every guard against hostile archives."""

from __future__ import annotations

import stat
import struct
import zipfile
from collections.abc import Iterable
from pathlib import Path

import pytest

from labella.config import Limits
from labella.errors import DataError
from labella.ingest.archives import unsafe_name
from labella.ingest.reader import open_source
from labella.ingest.records import RawRecord, RowError
from tests.ingest.conftest import png_bytes

LIMITS = Limits()
PNG = png_bytes()


def make_zip(path: Path, members: Iterable[tuple[str | zipfile.ZipInfo, bytes]],
             compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return path


def read(path: Path, *, multi_label: bool = False, limits: Limits = LIMITS, task: str = "image"
         ) -> tuple[list[RawRecord], list[RowError]]:
    out = list(open_source(path, task=task, multi_label=multi_label,  # type: ignore[arg-type]
                           limits=limits))
    return ([r for r in out if isinstance(r, RawRecord)], [r for r in out if isinstance(r, RowError)])


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of every zip member opened for reading."""
    names: list[str] = []
    real = zipfile.ZipFile.open

    def spy(self: zipfile.ZipFile, name: str | zipfile.ZipInfo, mode: str = "r",
            *a: object, **kw: object) -> object:
        if mode == "r":
            names.append(name.filename if isinstance(name, zipfile.ZipInfo) else name)
        return real(self, name, mode, *a, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(zipfile.ZipFile, "open", spy)
    return names


def test_zip_with_a_wrapper_folder_and_splits(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "photos.zip", [
        ("photos/train/cat/1.png", PNG), ("photos/test/dog/2.png", PNG), ("photos/3.png", PNG),
        ("photos/", b""), ("__MACOSX/photos/._3.png", b"junk"), ("photos/.DS_Store", b"x"),
    ])
    src = open_source(z, task="image", multi_label=False, limits=LIMITS)
    assert src.name == "photos.zip" and src.estimated_total == 3
    recs = [r for r in src if isinstance(r, RawRecord)]
    assert [(r.image_name, r.labels, r.split) for r in recs] == [
        ("3.png", None, "pool"), ("test/dog/2.png", ["dog"], "evaluation"),
        ("train/cat/1.png", ["cat"], "pool")]
    assert recs[0].source == "photos.zip:3.png" and recs[0].image == PNG


def test_zip_class_folders_at_the_top_stay_classes(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "set.zip", [("cat/1.png", PNG), ("dog/2.png", PNG)])
    recs, errs = read(z)
    assert [r.labels for r in recs] == [["cat"], ["dog"]] and errs == []


def test_zip_multi_label_with_labels_csv(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "x.zip", [
        ("scenes/labels.csv", b"filename,labels\na.png,sky|sea\nb.png,\n"),
        ("scenes/a.png", PNG), ("scenes/b.png", PNG), ("scenes/c.png", PNG)])
    recs, errs = read(z, multi_label=True)
    assert [(r.image_name, r.labels) for r in recs] == [
        ("a.png", ["sky", "sea"]), ("b.png", None), ("c.png", None)]
    assert errs == []


def test_zip_slip_members_are_reported_and_never_opened(tmp_path: Path, opened: list[str]) -> None:
    z = make_zip(tmp_path / "evil.zip", [
        ("cls/ok.png", PNG), ("../evil.png", PNG), ("/abs.png", PNG), ("cls/../../up.png", PNG),
        ("C:/windows.png", PNG), ("cls\\..\\..\\back.png", PNG)])
    recs, errs = read(z)
    assert [r.image_name for r in recs] == ["cls/ok.png"]
    assert len(errs) == 5
    assert all("unsafe member name" in e.message and "not opened" in e.message for e in errs)
    assert opened == ["cls/ok.png"]


@pytest.mark.parametrize(("name", "why"), [
    ("../a.png", "'..'"), ("/a.png", "absolute"), ("\\a.png", "absolute"), ("c:a.png", "drive"),
    ("a\\b.png", "backslash"), ("a/./b.png", None), ("a..b/c.png", None)])
def test_unsafe_name(name: str, why: str | None) -> None:
    got = unsafe_name(name)
    assert (got is None) if why is None else (got is not None and why in got)


def test_symlink_member_is_an_error(tmp_path: Path, opened: list[str]) -> None:
    link = zipfile.ZipInfo("cls/link.png")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    z = make_zip(tmp_path / "l.zip", [(link, b"/etc/passwd"), ("cls/ok.png", PNG)])
    recs, errs = read(z)
    assert [r.image_name for r in recs] == ["cls/ok.png"]
    assert "symbolic link" in errs[0].message and errs[0].source == "l.zip:cls/link.png"
    assert "cls/link.png" not in opened


def test_encrypted_member_is_an_error(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "e.zip", [("cls/secret.png", PNG), ("cls/ok.png", PNG)])
    _patch_header(z, "cls/secret.png", local_offset=6, central_offset=8, value=0x1, size=2)
    recs, errs = read(z)
    assert len(recs) == 1 and "encrypted" in errs[0].message


def test_zip_bomb_member_over_the_ratio_limit(tmp_path: Path, opened: list[str]) -> None:
    z = make_zip(tmp_path / "bomb.zip", [("cls/bomb.bmp", b"\x00" * 2_000_000), ("cls/ok.png", PNG)])
    recs, errs = read(z)
    assert [r.image_name for r in recs] == ["cls/ok.png"]
    assert "compression ratio" in errs[0].message and "over the limit of 200:1" in errs[0].message
    assert opened == ["cls/ok.png"]


def test_too_many_members(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "many.zip", [(f"c/{i}.png", PNG) for i in range(5)])
    with pytest.raises(DataError, match=r"many.zip: 5 members; the limit is 4"):
        open_source(z, task="image", multi_label=False, limits=Limits(max_archive_members=4))


def test_declared_total_too_large(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "big.zip", [(f"c/{i}.png", PNG) for i in range(3)])
    with pytest.raises(DataError, match=r"big\.zip: expands to .* bytes; the limit is 100"):
        open_source(z, task="image", multi_label=False,
                    limits=Limits(max_uncompressed_bytes=100))


def _patch_header(path: Path, member: str, *, local_offset: int, central_offset: int,
                  value: int, size: int = 4) -> None:
    """Overwrite one field of ``member``'s local and central zip headers (its data stays)."""
    data = bytearray(path.read_bytes())
    name = member.encode()
    fmt = "<I" if size == 4 else "<H"
    for sig, name_len_at, name_at, offset in ((b"PK\x03\x04", 26, 30, local_offset),
                                              (b"PK\x01\x02", 28, 46, central_offset)):
        at = data.find(sig)
        while at >= 0:
            nlen = struct.unpack_from("<H", data, at + name_len_at)[0]
            if data[at + name_at: at + name_at + nlen] == name:
                struct.pack_into(fmt, data, at + offset, value)
            at = data.find(sig, at + 4)
    path.write_bytes(bytes(data))


def _patch_declared_size(path: Path, member: str, size: int) -> None:
    _patch_header(path, member, local_offset=22, central_offset=24, value=size)


def test_member_whose_declared_size_lies(tmp_path: Path) -> None:
    big = png_bytes((60, 60)) + bytes(range(256)) * 20  # about 5 kB, barely compressible
    z = make_zip(tmp_path / "lie.zip", [("c/big.png", big), ("c/ok.png", PNG)],
                 compression=zipfile.ZIP_STORED)
    _patch_declared_size(z, "c/big.png", 100)
    with zipfile.ZipFile(z) as zf:
        assert zf.getinfo("c/big.png").file_size == 100
    recs, errs = read(z, limits=Limits(max_image_bytes=1000))
    assert [r.image_name for r in recs] == ["c/ok.png"]
    assert errs[0].source == "lie.zip:c/big.png"


def test_member_declared_over_the_image_limit_is_not_read(tmp_path: Path, opened: list[str]) -> None:
    z = make_zip(tmp_path / "o.zip", [("c/big.png", png_bytes((80, 80)) + bytes(range(256)) * 8)],
                 compression=zipfile.ZIP_STORED)
    recs, errs = read(z, limits=Limits(max_image_bytes=1000))
    assert recs == [] and "the limit is 1,000" in errs[0].message and opened == []


def test_duplicate_member_names(tmp_path: Path) -> None:
    other = png_bytes(colour=(0, 0, 255))
    with pytest.warns(UserWarning, match="Duplicate name"):
        z = make_zip(tmp_path / "d.zip", [("c/a.png", PNG), ("c/a.png", other)])
    recs, errs = read(z)
    assert [r.image for r in recs] == [PNG] and "same name" in errs[0].message


def test_other_files_are_never_opened(tmp_path: Path, opened: list[str]) -> None:
    z = make_zip(tmp_path / "o.zip", [("c/a.png", PNG), ("notes.txt", b"a" * 100_000)])
    recs, errs = read(z)
    assert len(recs) == 1 and errs == [] and opened == ["c/a.png"]


def test_not_a_zip_and_no_images(tmp_path: Path) -> None:
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"this is not a zip")
    with pytest.raises(DataError, match=r"bad\.zip: not a readable zip archive"):
        open_source(bad, task="image", multi_label=False, limits=LIMITS)
    z = make_zip(tmp_path / "txt.zip", [("readme.txt", b"hi")])
    with pytest.raises(DataError, match="no images in the archive"):
        open_source(z, task="image", multi_label=False, limits=LIMITS)


def test_zip_too_big_on_disk(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "f.zip", [("c/a.png", PNG)])
    with pytest.raises(DataError, match="the limit is 10"):
        open_source(z, task="image", multi_label=False, limits=Limits(max_file_bytes=10))


# ---------------------------------------------------------------- tables in zips


def test_zip_holding_one_csv_for_a_text_task(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "t.zip", [
        ("data/reviews.csv", b"text,label\ngood,pos\n,neg\nbad,neg\n"), ("data/README.md", b"x")])
    src = open_source(z, task="text", multi_label=False, limits=LIMITS)
    out = list(src)
    recs = [r for r in out if isinstance(r, RawRecord)]
    errs = [r for r in out if isinstance(r, RowError)]
    assert [(r.text, r.labels) for r in recs] == [("good", ["pos"]), ("bad", ["neg"])]
    assert errs[0].source == "t.zip:data/reviews.csv:2"


def test_zip_holding_parquet(tmp_path: Path) -> None:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.table({"text": ["a", "b"], "labels": [["x"], []]}), buf)
    z = make_zip(tmp_path / "p.zip", [("p.parquet", buf.getvalue())])
    recs, errs = read(z, task="text", multi_label=True)
    assert [r.labels for r in recs] == [["x"], []] and errs == []


def test_zip_with_two_tables_is_ambiguous(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "two.zip", [("a.csv", b"text\nx\n"), ("b.jsonl", b'{"text": "y"}\n')])
    with pytest.raises(DataError, match=r"exactly one table.*found a\.csv, b\.jsonl"):
        open_source(z, task="text", multi_label=False, limits=LIMITS)


def test_zip_table_that_expands_past_its_declared_size(tmp_path: Path) -> None:
    body = b"text\n" + b"".join(b"row %d\n" % i for i in range(300_000))  # about 2.6 MB
    z = make_zip(tmp_path / "grow.zip", [("t.csv", body)], compression=zipfile.ZIP_STORED)
    _patch_declared_size(z, "t.csv", 1_500_000)  # the header is read within the first 1 MiB
    recs, errs = read(z, task="text", limits=Limits(max_uncompressed_bytes=3_000_000))
    assert 100_000 < len(recs) < 200_000
    assert len(errs) == 1 and "the rest of the file was not read" in errs[0].message
    assert "Bad CRC-32" in errs[0].message


def test_zip_table_with_a_corrupt_start(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "short.zip", [("t.csv", b"text\nrow\n" * 10)],
                 compression=zipfile.ZIP_STORED)
    _patch_declared_size(z, "t.csv", 10)
    with pytest.raises(DataError, match=r"short\.zip:t\.csv: cannot read"):
        open_source(z, task="text", multi_label=False, limits=LIMITS)
