"""Items for every task type, with the awkward cases an export must survive."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Literal

import pytest
from PIL import Image

from labella.export import ExportItem, ExportSpec

TEXTS = [
    "plain text",
    'comma, "quoted" and \'single\'',
    "two\nlines\r\nand a CRLF",
    "non-ASCII: café, 東京, emoji 😀",
    "  surrounding spaces  ",
    "line\u2028separator and tab\there",
    "=1+2 looks like a formula",
]
CASES = ["text-single", "text-multi", "image-single", "image-multi"]
T0 = datetime(2024, 5, 1, 12, 30, 15, tzinfo=UTC)


@dataclass(frozen=True)
class Case:
    """A spec and items covering labelled, unlabelled and evaluation items."""

    spec: ExportSpec
    items: list[ExportItem]

    def labelled(self) -> list[ExportItem]:
        return [i for i in self.items if i.labels is not None]


def png(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (6, 4), (seed * 40 % 256, 10, 200)).save(buf, format="PNG")
    return buf.getvalue()


def image_bytes(item: ExportItem) -> bytes:
    return png(item.item_id)


def make_case(name: str, *, include_unlabeled: bool = False,
              with_bytes: bool = True) -> Case:
    task: Literal["text", "image"] = "text" if name.startswith("text") else "image"
    multi = name.endswith("multi")
    # names with quotes, commas, XML specials, a leading "[" and (single-label) a "|"
    names = ["joy", "anger", "café, \"quoted\"", "<fear & co>", "[x] y"] if multi else \
        ["neg", "pos", "mixed, \"quoted\"", "[meh]|so-so"]
    spec = ExportSpec("Demo, \"project\" <1>", task, multi, names,
                      include_unlabeled=include_unlabeled,
                      image_bytes=image_bytes if task == "image" and with_bytes else None)
    if multi:
        label_sets: list[list[str] | None] = [["joy", "anger"], [], ["café, \"quoted\""],
                                              None, ["[x] y", "<fear & co>"], None, ["joy"]]
    else:
        label_sets = [["neg"], ["pos"], ["mixed, \"quoted\""], None, ["[meh]|so-so"], None,
                      ["neg"]]
    items = []
    for i, labels in enumerate(label_sets):
        item_id = 100 + i
        when: datetime | None = None
        if labels is not None:
            # a naive time (taken as UTC) and one in another zone
            when = T0.replace(tzinfo=None) if i == 0 else \
                (T0 + timedelta(minutes=i)).astimezone(timezone(timedelta(hours=2)))
        suggestion = (["anger"] if multi else ["pos"]) if i % 2 else None
        items.append(ExportItem(
            item_id=item_id,
            external_id=None if i == 1 else f"ext-{i}",
            text=TEXTS[i] if task == "text" else None,
            image=f"folder/img {i}.png" if task == "image" else None,
            labels=labels,
            split="evaluation" if i in (2, 5, 6) else "pool",
            annotator=None if labels is None else f"annotator{i % 2}",
            annotated_at=when,
            suggestion=suggestion,
            confidence=0.25 + i / 10 if suggestion else None,
            model_version=3 if suggestion else None,
            meta={"source": "test"},
        ))
    return Case(spec, items)


@pytest.fixture(params=CASES)
def case_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)

