"""The binary files of the bad-input corpus (zips, images, Parquet), made at test time.

Text cases are real files beside ``manifest.toml``; these would be opaque blobs in the
repository, so each is built here, deterministically, by a function named in
:data:`BUILDERS`. ``manifest.toml`` lists every case, text or built, with its outcome.
"""

from __future__ import annotations

import io
import random
import stat
import struct
import warnings
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image


def png(colour: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (8, 8)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return buf.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid PNG header declaring ``width`` x ``height`` pixels, with almost no data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)
            + _chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + _chunk(b"IEND", b""))


def _zip(members: list[tuple[str | zipfile.ZipInfo, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return buf.getvalue()


def _symlink(name: str, target: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    info.create_system = 3  # unix
    return info


def _parquet(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def binary_garbage() -> bytes:
    return random.Random(7).randbytes(4096)


def oversized() -> bytes:
    row = "an ordinary review that is not long,pos\n"
    return ("text,label\n" + row * (400_000 // len(row))).encode()


def truncated_parquet() -> bytes:
    data = _parquet(pa.table({"text": ["a", "b"], "label": ["pos", "neg"]}))
    return data[: len(data) // 2]


def parquet_bad_rows() -> bytes:
    return _parquet(pa.table({
        "text": ["parquet good", None, "parquet list label", "parquet nul \x00", "parquet last"],
        "label": [["pos"], ["neg"], ["pos", "neg"], ["pos"], []],
        "id": ["p1", "p2", "p3", "p4", "q" * 300],
    }))


def zip_slip() -> bytes:
    return _zip([("../escape.png", png()), ("/etc/absolute.png", png()),
                 ("cat\\windows.png", png()), ("cat/inside.png", png())])


def zip_symlink() -> bytes:
    return _zip([(_symlink("cat/link.png", "/etc/passwd"), b"/etc/passwd"),
                 ("dog/real.png", png((1, 2, 3)))])


def zip_bomb() -> bytes:
    return _zip([("cat/bomb.png", b"\x00" * 5_000_000), ("dog/fine.png", png((4, 5, 6)))])


def decompression_bomb() -> bytes:
    return _zip([("cat/huge.png", bomb_png()), ("dog/small.png", png((7, 8, 9)))])


def zero_byte_image() -> bytes:
    return _zip([("cat/a.png", png()), ("cat/empty.png", b""), ("dog/b.png", png((9, 9, 9)))])


def corrupt_images() -> bytes:
    whole = png((10, 20, 30))
    return _zip([("cat/truncated.png", whole[:40]), ("cat/text.png", b"just some text"),
                 ("dog/whole.png", whole)])


def duplicate_names() -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w") as zf:
        warnings.simplefilter("ignore", UserWarning)  # "Duplicate name": the point of the case
        zf.writestr("cat/same.png", png((1, 1, 1)))
        zf.writestr("cat/same.png", png((2, 2, 2)))
    return buf.getvalue()


def encrypted_member() -> bytes:
    """The first member marked encrypted (bit 0 of its flags, in both of its headers)."""
    data = bytearray(_zip([("cat/secret.png", png()), ("dog/open.png", png((3, 3, 3)))]))
    data[6] |= 0x1  # the local header of the first member starts the archive
    central = data.index(b"PK\x01\x02")
    data[central + 8] |= 0x1
    return bytes(data)


def labels_csv_bad_rows() -> bytes:
    labels = (b"filename,labels,split\na.png,cat,\nb.png,bird,\nc.png,dog,later\n"
              b"gone.png,cat,\na.png,dog,\n")
    return _zip([("labels.csv", labels), ("a.png", png((1, 0, 0))), ("b.png", png((0, 1, 0))),
                 ("c.png", png((0, 0, 1))), ("d.png", png((1, 1, 0)))])


def not_a_zip() -> bytes:
    return b"this is not a zip archive at all\n" * 10


def two_tables() -> bytes:
    return _zip([("a.csv", b"text,label\nx,pos\n"), ("b.csv", b"text,label\ny,neg\n")])


def table_in_zip() -> bytes:
    return _zip([("reviews/data.csv",
                  b'text,label\n"never closed,pos\nzipped fine,neg\nzipped too,pos\n')])


def long_image_name() -> bytes:
    return _zip([("cat/" + "n" * 1200 + ".png", png()), ("dog/short.png", png((5, 5, 5)))])


def too_many_members() -> bytes:
    return _zip([(f"cat/{i}.png", png((i, i, i))) for i in range(150)])


BUILDERS: dict[str, Callable[[], bytes]] = {
    "binary_garbage.csv": binary_garbage,
    "oversized.csv": oversized,
    "truncated.parquet": truncated_parquet,
    "bad_rows.parquet": parquet_bad_rows,
    "zip_slip.zip": zip_slip,
    "zip_symlink.zip": zip_symlink,
    "zip_bomb.zip": zip_bomb,
    "decompression_bomb.zip": decompression_bomb,
    "zero_byte_image.zip": zero_byte_image,
    "corrupt_images.zip": corrupt_images,
    "duplicate_names.zip": duplicate_names,
    "encrypted_member.zip": encrypted_member,
    "labels_csv_bad_rows.zip": labels_csv_bad_rows,
    "not_a_zip.zip": not_a_zip,
    "two_tables.zip": two_tables,
    "table_in_zip.zip": table_in_zip,
    "long_image_name.zip": long_image_name,
    "too_many_members.zip": too_many_members,
}


def build(name: str, folder: Path) -> Path:
    """Write the built case ``name`` into ``folder``; its path."""
    path = folder / name
    path.write_bytes(BUILDERS[name]())
    return path
