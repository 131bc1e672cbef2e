"""Reading labelled data files for simulation (and, later, import).

Supported layouts:

* a table (``.csv``, ``.tsv``, ``.jsonl`` / ``.ndjson``, ``.parquet``) with a
  ``text`` column and either ``label`` (single-label) or ``labels``
  (multi-label, names joined by ``|``; empty means no label applies), and an
  optional ``split`` column: rows whose split is ``test`` form the test set,
  every other row is in the pool;
* an image directory laid out ``[split/]class/file`` (single-label), or
  holding images plus ``labels.csv`` with ``filename,labels[,split]``
  (multi-label; filenames relative to the directory).

Rows that cannot be used (empty text, missing label) are skipped and reported;
the rest still load.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from labella.errors import DataError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
TABLE_SUFFIXES = {".csv", ".tsv", ".jsonl", ".ndjson", ".parquet"}
SPLIT_NAMES = {"train", "test"}


def shared_datasets_dir() -> Path:
    """The public datasets the tests and benchmarks use: ``$LABELLA_DATASETS``, else the
    nearest ``shared/datasets`` folder beside the source checkout or one of its parents
    (``../shared/datasets`` from the checkout's root, as laid out for development)."""
    import os

    env = os.environ.get("LABELLA_DATASETS")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    candidates = [parent / "shared" / "datasets" for parent in here.parents[1:]]
    return next((c for c in candidates if c.is_dir()), candidates[0])


@dataclass(frozen=True)
class LabelledData:
    """Items with their labels, in file order.

    Attributes:
        items: texts, or absolute image paths (as strings).
        y: class index per item, shape ``(n,)``; or multi-hot, shape ``(n, L)``.
        is_test: True for rows of the test split; None if the data has no split.
        skipped: one message per row that could not be used.
    """

    name: str
    modality: Literal["text", "image"]
    multi_label: bool
    items: list[str]
    class_names: list[str]
    y: np.ndarray
    is_test: np.ndarray | None
    skipped: list[str] = field(default_factory=list)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)


def read_table(path: Path) -> pd.DataFrame:
    """A data table by file suffix, every column as string (no NaN guessing)."""
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise DataError(f"{path.name}: unsupported file type {suffix!r}; expected one of "
                        f"{', '.join(sorted(TABLE_SUFFIXES))}")
    try:
        if suffix in (".csv", ".tsv"):
            return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",", dtype=str,
                               keep_default_na=False, encoding="utf-8")
        if suffix == ".parquet":
            return pd.read_parquet(path).astype("string").fillna("").astype(str)
        return pd.read_json(path, lines=True, dtype=False).astype("string").fillna("").astype(str)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path.name}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from exc
    except (ValueError, OSError) as exc:
        raise DataError(f"{path.name}: cannot read as {suffix[1:]}: {exc}") from exc


def _split_labels(raw: str) -> list[str]:
    return [p.strip() for p in raw.split("|") if p.strip()]


def _encode(
    labels: Sequence[str | list[str]], *, multi_label: bool
) -> tuple[np.ndarray, list[str]]:
    if multi_label:
        rows = [[row] if isinstance(row, str) else row for row in labels]
        names = sorted({n for row in rows for n in row})
        col = {n: j for j, n in enumerate(names)}
        y = np.zeros((len(rows), len(names)), dtype=np.int8)
        for i, row in enumerate(rows):
            for n in row:
                y[i, col[n]] = 1
        return y, names
    flat = [row if isinstance(row, str) else "|".join(row) for row in labels]
    names = sorted(set(flat))
    col = {n: j for j, n in enumerate(names)}
    return np.array([col[n] for n in flat], dtype=np.int64), names


def _split_mask(splits: list[str] | None) -> np.ndarray | None:
    if splits is None:
        return None
    mask = np.array([s.strip().lower() == "test" for s in splits])
    return mask if mask.any() else None


def load_table(path: Path, *, multi_label: bool | None = None, dedupe: bool = True) -> LabelledData:
    """Load a labelled text table; ``multi_label=None`` infers it from the columns.

    With ``dedupe`` a text seen before (exactly) is skipped, so that the same
    text cannot sit in both the pool and the test set.
    """
    df = read_table(path)
    cols = {c.lower(): c for c in df.columns}
    if "text" not in cols:
        raise DataError(f"{path.name}: no 'text' column; columns are {list(df.columns)}")
    if multi_label is None:
        multi_label = "labels" in cols and "label" not in cols
    want = "labels" if multi_label else "label"
    if want not in cols:
        raise DataError(f"{path.name}: {'multi' if multi_label else 'single'}-label data needs a "
                        f"{want!r} column; columns are {list(df.columns)}")
    texts, labels, splits, skipped = [], [], [], []
    has_split = "split" in cols
    seen: set[str] = set()
    n_dupes = 0
    for i, row in enumerate(df.itertuples(index=False)):
        rec = dict(zip(df.columns, row, strict=True))
        text = str(rec[cols["text"]])
        raw = str(rec[cols[want]]).strip()
        line = i + 2 if path.suffix.lower() in (".csv", ".tsv") else i + 1
        if not text.strip():
            skipped.append(f"row {line}: empty text")
            continue
        if not multi_label and not raw:
            skipped.append(f"row {line}: missing label")
            continue
        if dedupe:
            if text in seen:
                n_dupes += 1
                continue
            seen.add(text)
        texts.append(text)
        labels.append(_split_labels(raw) if multi_label else raw)
        splits.append(str(rec[cols["split"]]) if has_split else "")
    if n_dupes:
        skipped.append(f"{n_dupes} rows repeat an earlier text and were skipped")
    if not texts:
        raise DataError(f"{path.name}: no usable rows ({len(skipped)} skipped: {skipped[:3]})")
    y, names = _encode(labels, multi_label=multi_label)
    if not multi_label and len(names) < 2:
        raise DataError(f"{path.name}: single-label data needs at least 2 classes; found {names}")
    return LabelledData(_name(path), "text", multi_label, texts, names, y,
                        _split_mask(splits if has_split else None), skipped)


def _name(path: Path) -> str:
    """A dataset's name: the file stem, or the folder's name for generic stems like data.csv."""
    generic = {"data", "dataset", "train", "all", "labels"}
    return path.parent.name if path.stem.lower() in generic and path.parent.name else path.stem


def _images_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def load_image_dir(root: Path, *, multi_label: bool | None = None) -> LabelledData:
    """Load a labelled image directory (see the module docstring for the layouts)."""
    root = root.resolve()
    labels_csv = root / "labels.csv"
    if multi_label is None:
        multi_label = labels_csv.exists()
    if multi_label:
        if not labels_csv.exists():
            raise DataError(f"{root.name}: multi-label image data needs a labels.csv "
                            "with filename,labels[,split]")
        df = read_table(labels_csv)
        if "filename" not in df.columns or "labels" not in df.columns:
            raise DataError(f"labels.csv needs columns filename,labels; got {list(df.columns)}")
        items, rows, splits, skipped = [], [], [], []
        for i, rec in enumerate(df.to_dict("records")):
            p = (root / rec["filename"]).resolve()
            if not p.is_relative_to(root):
                skipped.append(f"row {i + 2}: {rec['filename']!r} points outside the directory")
            elif not p.is_file():
                skipped.append(f"row {i + 2}: no such file {rec['filename']!r}")
            else:
                items.append(str(p))
                rows.append(_split_labels(rec["labels"]))
                splits.append(rec.get("split", ""))
        if not items:
            raise DataError(f"{root.name}: no usable images ({skipped[:3]})")
        y, names = _encode(rows, multi_label=True)
        return LabelledData(root.name, "image", True, items, names, y,
                            _split_mask(splits if "split" in df.columns else None), skipped)
    subdirs = sorted(d for d in root.iterdir() if d.is_dir())
    split_dirs = [d for d in subdirs if d.name.lower() in SPLIT_NAMES]
    layout = [(d.name.lower(), d) for d in split_dirs] if split_dirs else [("", root)]
    items, labs, splits = [], [], []
    for split, base in layout:
        for cls in sorted(d for d in base.iterdir() if d.is_dir()):
            for p in _images_under(cls):
                items.append(str(p))
                labs.append(cls.name)
                splits.append(split)
    if not items:
        raise DataError(f"{root.name}: no images found under class folders "
                        f"(expected [split/]class/file with {', '.join(sorted(IMAGE_SUFFIXES))})")
    y, names = _encode(labs, multi_label=False)
    if len(names) < 2:
        raise DataError(f"{root.name}: single-label data needs at least 2 class folders; found {names}")
    return LabelledData(root.name, "image", False, items, names, y,
                        _split_mask(splits if split_dirs else None))


def load(
    path: str | Path, *, task: str | None = None, multi_label: bool | None = None,
    dedupe: bool = True,
) -> LabelledData:
    """Load a table (text) or an image directory, by what ``path`` is."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"{path}: no such file or directory")
    if p.is_dir():
        if task == "text":
            raise DataError(f"{path} is a directory; text data must be a table file")
        return load_image_dir(p, multi_label=multi_label)
    if task == "image":
        raise DataError(f"{path} is a file; image data must be a directory")
    return load_table(p, multi_label=multi_label, dedupe=dedupe)


def split(
    data: LabelledData, *, test_fraction: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``(pool_rows, test_rows)``: the data's own test split, else a stratified random one."""
    n = len(data.items)
    if data.is_test is not None:
        return np.flatnonzero(~data.is_test), np.flatnonzero(data.is_test)
    if not 0.0 < test_fraction < 1.0:
        raise DataError(f"test fraction must be in (0, 1); got {test_fraction}")
    rng = np.random.default_rng(seed)
    if data.multi_label:
        perm = rng.permutation(n)
        k = max(1, round(n * test_fraction))
        return np.sort(perm[k:]), np.sort(perm[:k])
    test: list[int] = []
    for c in range(data.n_classes):
        rows = np.flatnonzero(data.y == c)
        rng.shuffle(rows)
        test.extend(rows[: round(len(rows) * test_fraction)])
    mask = np.zeros(n, dtype=bool)
    mask[test] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)
