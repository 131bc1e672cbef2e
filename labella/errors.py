"""The LabellaError family: small exceptions that say what was expected and what came."""

from __future__ import annotations


class LabellaError(Exception):
    """Base class of every error Labella raises on purpose."""


class PoolExhaustedError(LabellaError):
    """Fewer unlabelled items remain than a query asked for."""

    def __init__(self, *, n_unlabeled: int, requested: int) -> None:
        self.n_unlabeled = n_unlabeled
        self.requested = requested
        super().__init__(
            f"pool has {n_unlabeled} unlabelled items, {requested} requested"
        )


class UnknownNameError(LabellaError):
    """A registry lookup by name failed."""

    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        self.kind = kind
        self.name = name
        super().__init__(f"unknown {kind} {name!r}; known: {', '.join(sorted(known))}")


class DataError(LabellaError):
    """Input data does not have the expected shape, columns or values."""


class MissingExtraError(LabellaError):
    """An optional dependency is not installed."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"{package} is not installed; install it with: pip install 'labella[{extra}]'"
        )


class UnsafeFormatError(LabellaError):
    """A file would need an unsafe loader (e.g. pickle) or fails its metadata check."""
