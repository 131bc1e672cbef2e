"""Label export: one entry point, :func:`export_labels`, over four formats.

=============== ========= =========================================================
format          writes    what
=============== ========= =========================================================
``csv``         file      id, external_id, text/image, label(s), split, annotator, time,
                          consensus confidence, number of answers, source
``jsonl``       file      the same fields plus the model's suggestion, one object a line
``hf``          folder    Parquet per split + README whose YAML types the features
``label_studio`` file     a JSON array of Label Studio tasks (annotations, predictions)
=============== ========= =========================================================

Writers stream: they take any iterable of :class:`ExportItem` and never hold
the whole item list in memory. A file appears at ``dest`` only once it is
complete (written next to it, then moved into place).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from labella.errors import UnknownNameError
from labella.export.hf import write_hf
from labella.export.label_studio import label_studio_config, write_label_studio
from labella.export.model import ExportItem, ExportSpec
from labella.export.tables import write_csv, write_jsonl

__all__ = ["FORMATS", "ExportItem", "ExportSpec", "FormatInfo", "export_labels",
           "get_format", "label_studio_config"]

Writer = Callable[[Iterable[ExportItem], ExportSpec, Path], Path]


@dataclass(frozen=True)
class FormatInfo:
    """An export format.

    Attributes:
        name: the key in :data:`FORMATS` (``csv``, ``jsonl``, ``hf``, ``label_studio``).
        title: a short human name.
        kind: ``file`` (``dest`` is a file path) or ``directory`` (``dest`` is a folder).
        extension: the file name suffix a download should get (``.zip`` for a folder,
            which is zipped to download).
        media_type: the MIME type of the download.
        description: one line for menus and the CLI help.
    """

    name: str
    title: str
    kind: Literal["file", "directory"]
    extension: str
    media_type: str
    description: str
    writer: Writer


FORMATS: dict[str, FormatInfo] = {
    f.name: f
    for f in (
        FormatInfo("csv", "CSV", "file", ".csv", "text/csv",
                   "a table with one row per item; re-imports into Labella", write_csv),
        FormatInfo("jsonl", "JSON Lines", "file", ".jsonl", "application/jsonl",
                   "one JSON object per item, with the model's suggestion", write_jsonl),
        FormatInfo("hf", "Hugging Face datasets", "directory", ".zip", "application/zip",
                   "a folder datasets.load_dataset() reads, with typed class labels", write_hf),
        FormatInfo("label_studio", "Label Studio", "file", ".json", "application/json",
                   "Label Studio tasks with annotations and predictions", write_label_studio),
    )
}
"""Every export format, by name."""


def get_format(fmt: str) -> FormatInfo:
    """The format called ``fmt``; :class:`~labella.errors.UnknownNameError` if there is none."""
    try:
        return FORMATS[fmt]
    except KeyError:
        raise UnknownNameError("export format", fmt, list(FORMATS)) from None


def export_labels(items: Iterable[ExportItem], spec: ExportSpec, fmt: str, dest: Path) -> Path:
    """Write ``items`` as ``fmt`` to ``dest`` (a file, or a new or empty folder for ``hf``).

    Returns:
        The path written (``dest``).

    Raises:
        UnknownNameError: ``fmt`` is not a key of :data:`FORMATS`.
        DataError: an item does not fit the spec (label not in the label space, two
            labels on a single-label item, no text for a text task, ...), or ``dest``
            is a non-empty folder for ``hf``. Nothing is left at ``dest`` then.
    """
    info = get_format(fmt)
    return info.writer(items, spec, Path(dest))
