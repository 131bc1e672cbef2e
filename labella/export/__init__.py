"""Label export: CSV, JSON Lines, Hugging Face ``datasets`` folders and Label Studio JSON.

Pure writers over :class:`ExportItem` records; the service layer feeds them from the
store. See :mod:`labella.export.labels`.
"""

from labella.export.labels import (
    FORMATS,
    ExportItem,
    ExportSpec,
    FormatInfo,
    export_labels,
    get_format,
    label_studio_config,
)

__all__ = ["FORMATS", "ExportItem", "ExportSpec", "FormatInfo", "export_labels", "get_format",
           "label_studio_config"]
