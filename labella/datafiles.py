"""Labelled data files for ``labella simulate`` and the benchmarks: the import's reader,
with every item labelled.

A file is read by :func:`labella.ingest.reader.open_source`, exactly as an import reads it:
the same formats (``.csv .tsv .jsonl .ndjson .json .parquet``, an image folder, a ``.zip``,
local or ``s3://``), the same columns (``text``, ``label`` / ``labels``, ``split``), the same
split names (:data:`~labella.ingest.records.TEST_SPLITS` are held out, every other split is
the pool) and the same image layouts (``[split/]class/file``, or ``labels.csv``). The README's
import section describes them.

What simulation adds on top:

* every item needs its labels: a single-label row without a label is skipped (and
  reported); in a multi-label file an empty cell means "no label applies";
* with ``dedupe``, a text seen before is skipped, so it cannot sit in both the pool and the
  test set (an import skips it too: same content, same item);
* ``multi_label=None`` guesses: a ``labels`` column without a ``label`` one, or an image
  folder with a ``labels.csv``, is multi-label.

Rows the reader rejects are skipped and reported in :attr:`LabelledData.skipped`; the rest
still load.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from labella.config import Limits
from labella.errors import DataError

_GENERIC_STEMS = {"data", "dataset", "train", "all", "labels"}


def shared_datasets_dir() -> Path:
    """The public datasets the tests and benchmarks use: ``$LABELLA_DATASETS``, else the
    nearest ``shared/datasets`` folder beside the source checkout or one of its parents
    (``../shared/datasets`` from the checkout's root, as laid out for development)."""
    env = os.environ.get("LABELLA_DATASETS")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    candidates = [parent / "shared" / "datasets" for parent in here.parents[1:]]
    return next((c for c in candidates if c.is_dir()), candidates[0])


@dataclass(frozen=True)
class LabelledData:
    """Items with their labels, in source order.

    Attributes:
        items: texts; for images, absolute paths of local files (as strings) or the
            encoded bytes of images read from a zip or S3.
        y: class index per item, shape ``(n,)``; or multi-hot, shape ``(n, L)``.
        is_test: True for items of the source's test split; None if it has none.
        skipped: one message per row that could not be used.
    """

    name: str
    modality: Literal["text", "image"]
    multi_label: bool
    items: list[Any]
    class_names: list[str]
    y: np.ndarray
    is_test: np.ndarray | None
    skipped: list[str] = field(default_factory=list)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)


def _encode(labels: list[list[str]], *, multi_label: bool) -> tuple[np.ndarray, list[str]]:
    names = sorted({n for row in labels for n in row})
    col = {n: j for j, n in enumerate(names)}
    if multi_label:
        y = np.zeros((len(labels), len(names)), dtype=np.int8)
        for i, row in enumerate(labels):
            for n in row:
                y[i, col[n]] = 1
        return y, names
    return np.array([col[row[0]] for row in labels], dtype=np.int64), names


def _name(source: str) -> str:
    """A dataset's name: the file stem, or the folder's name for generic stems like data.csv."""
    path = Path(source.rstrip("/"))
    if path.suffix and path.stem.lower() in _GENERIC_STEMS and path.parent.name:
        return path.parent.name
    return path.stem if path.suffix else path.name


def _open(source: str, *, task: Literal["text", "image"], multi_label: bool | None,
          limits: Limits, storage_options: dict[str, Any] | None) -> tuple[Any, bool]:
    from labella.ingest.images import ImageSource
    from labella.ingest.reader import open_source
    from labella.ingest.tables import TableSource

    def opened(multi: bool) -> Any:
        return open_source(source, task=task, multi_label=multi, limits=limits,
                           storage_options=storage_options)

    src = opened(bool(multi_label))
    if multi_label is None:
        if isinstance(src, TableSource):
            lower = {c.strip().lower() for c in src.columns}
            multi_label = "labels" in lower and "label" not in lower
        else:
            multi_label = isinstance(src, ImageSource) and src.labels_file is not None
        if multi_label:
            src = opened(True)
    return src, bool(multi_label)


def load(
    path: str | os.PathLike[str], *, task: str | None = None, multi_label: bool | None = None,
    dedupe: bool = True, limits: Limits | None = None,
    storage_options: dict[str, Any] | None = None,
) -> LabelledData:
    """Load a labelled table, image folder or zip (local or ``s3://``) for simulation.

    ``task`` (``text`` / ``image``) and ``multi_label`` are guessed when ``None``;
    ``storage_options`` for ``s3://`` default to the server's (``LABELLA_S3_ENDPOINT_URL``,
    the ``AWS_*`` variables).

    Raises:
        DataError: the source cannot be read as a whole, has no usable row, or a
            single-label source has fewer than 2 classes.
    """
    from labella.ingest.reader import guess_task
    from labella.ingest.records import RowError

    source = os.fspath(path)
    limits = limits or Limits()
    if storage_options is None and source[:5].lower() == "s3://":
        from labella.config import Settings

        storage_options = Settings.from_env().storage_options  # LABELLA_S3_ENDPOINT_URL
    if task not in (None, "text", "image"):
        raise DataError(f"unknown task {task!r}; expected 'text' or 'image'")
    kind: Literal["text", "image"] = task or guess_task(  # type: ignore[assignment]
        source, limits=limits, storage_options=storage_options)
    src, multi = _open(source, task=kind, multi_label=multi_label, limits=limits,
                       storage_options=storage_options)
    local_root = Path(source).resolve() if kind == "image" and Path(source).is_dir() else None
    items: list[Any] = []
    labels: list[list[str]] = []
    tests: list[bool] = []
    skipped: list[str] = []
    seen: set[str] = set()
    n_dupes = 0
    for rec in src:
        if isinstance(rec, RowError):
            skipped.append(rec.message if rec.message.startswith("row ")
                           else f"{rec.source}: {rec.message}")
            continue
        names = rec.labels if rec.labels is not None else ([] if multi else None)
        if names is None or (not multi and not names):
            where = f"row {rec.position}" if rec.text is not None else rec.source
            skipped.append(f"{where}: missing label")
            continue
        if rec.text is not None:
            if dedupe and rec.text in seen:
                n_dupes += 1
                continue
            seen.add(rec.text)
            items.append(rec.text)
        else:
            items.append(str(local_root / rec.image_name) if local_root is not None
                         and rec.image_name else rec.image)
        labels.append(names)
        tests.append(rec.split == "evaluation")
    if n_dupes:
        skipped.append(f"{n_dupes} rows repeat an earlier text and were skipped")
    shown = _name(source)
    if not items:
        raise DataError(f"{shown}: no usable rows ({len(skipped)} skipped: {skipped[:3]})")
    y, classes = _encode(labels, multi_label=multi)
    if not multi and len(classes) < 2:
        raise DataError(f"{shown}: single-label data needs at least 2 classes; found {classes}")
    is_test = np.array(tests) if any(tests) else None
    return LabelledData(shown, kind, multi, items, classes, y, is_test, skipped)


def load_table(path: str | os.PathLike[str], *, multi_label: bool | None = None,
               dedupe: bool = True) -> LabelledData:
    """Load a labelled text table (see :func:`load`)."""
    return load(path, task="text", multi_label=multi_label, dedupe=dedupe)


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
