"""One helper for heavy optional imports, so a missing one says which extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from labella.errors import MissingExtraError


def require(module: str, *, extra: str, package: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtraError` naming ``labella[extra]``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingExtraError(package or module.split(".")[0], extra) from exc
