"""Export-once ONNX models: a file in the model cache, written atomically, reused afterwards."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from labella.features.base import atomic_write

log = logging.getLogger(__name__)


def make_session(path: Path, *, threads: int | None = None) -> Any:
    """An onnxruntime CPU session for ``path`` (``threads=None``: onnxruntime's default)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads is not None:
        opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def load_or_export(
    path: Path, export: Callable[[Path], None], *, threads: int | None = None
) -> Any:
    """A session for the ONNX file at ``path``, exporting it first with ``export(tmp)`` if needed.

    The export writes a temporary file that is renamed onto ``path`` only once complete. A file
    that exists but does not load (e.g. written by hand and truncated) is exported again once.
    """
    if path.exists():
        try:
            return make_session(path, threads=threads)
        except Exception as exc:  # onnxruntime raises its own, unexported exception types
            log.warning("cached ONNX model %s does not load (%s); exporting it again", path, exc)
    log.info("exporting ONNX model to %s (one time)", path)
    atomic_write(path, export)
    return make_session(path, threads=threads)
