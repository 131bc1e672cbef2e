"""What an import reader yields: one record per usable row or image, one error per bad one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Split = Literal["pool", "evaluation"]
"""``pool``: may be queued for labelling. ``evaluation``: held out for honest metrics."""

# The one set of split names every reader uses (import, ``labella simulate``, the wizard's
# preview); compared case-insensitively, surrounding spaces ignored.
TEST_SPLITS = frozenset({"test", "eval", "evaluation", "holdout", "heldout"})
"""Split names that put an item in the evaluation set (held out for honest metrics)."""
TRAIN_SPLITS = frozenset({"train", "dev", "val", "valid", "validation"})
"""Split names of labelled training data: the item joins the pool. A validation split is
labelled training data as far as active learning goes; only test splits are held out."""
POOL_SPLITS = TRAIN_SPLITS | {"", "pool", "unlabeled", "unlabelled"}
"""Every value of a ``split`` column that puts a row in the pool (empty included)."""
SPLIT_FOLDERS = TRAIN_SPLITS | TEST_SPLITS
"""Top-level folder names that are a split, not a class, in an image folder or zip."""


def split_of(name: str) -> Split | None:
    """The split a ``split`` value or folder name means, or ``None`` if it names none."""
    key = name.strip().lower()
    if key in TEST_SPLITS:
        return "evaluation"
    return "pool" if key in POOL_SPLITS else None


@dataclass(frozen=True)
class RawRecord:
    """One item to import.

    Attributes:
        position: 1-based position in the source (data row number of a table, not
            counting the header; or order of the image in the listing).
        source: human-readable origin for error reports, e.g. ``"reviews.csv:12"``
            or ``"photos.zip:cats/1.jpg"``.
        text: the text (text tasks), already valid UTF-8 with surrounding whitespace kept.
        image: the encoded image file's bytes (image tasks), already checked to decode
            within the limits.
        image_name: file name of the image inside its source (``"cats/1.jpg"``).
        labels: label names present in the source for this item, or ``None`` when the
            item is unlabelled. Single-label rows have exactly one name; multi-label rows
            may have zero or more (an empty list is a real "no label applies" answer).
        split: where the item goes.
        external_id: the source's own id for the item (an ``id`` column), if any.
        meta: other columns / attributes worth keeping (JSON-serialisable).
    """

    position: int
    source: str
    text: str | None = None
    image: bytes | None = field(default=None, repr=False)
    image_name: str | None = None
    labels: list[str] | None = None
    split: Split = "pool"
    external_id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RowError:
    """A row or file that could not be imported, and why (what was expected, what came)."""

    position: int
    source: str
    message: str
