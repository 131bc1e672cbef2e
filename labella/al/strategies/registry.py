"""The strategy registry: built-in strategies register here exactly as a user's would."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from labella.al.strategies.base import Strategy
from labella.errors import UnknownNameError

S = TypeVar("S", bound=type[Strategy])


@dataclass(frozen=True)
class StrategyInfo:
    name: str
    factory: Callable[..., Strategy]
    description: str
    reference: str
    single_label: bool
    multi_label: bool
    cold_start: bool
    stream: bool


class Registry:
    """Strategies by name. ``register`` works as a class decorator."""

    def __init__(self) -> None:
        self._entries: dict[str, StrategyInfo] = {}

    def register(self, cls: S, *, cold_start: bool = False, stream: bool = False) -> S:
        for attr in ("name", "description", "reference"):
            if not getattr(cls, attr):
                raise ValueError(f"strategy class {cls.__name__} must set {attr!r}")
        if cls.name in self._entries:
            raise ValueError(f"strategy {cls.name!r} is already registered")
        self._entries[cls.name] = StrategyInfo(
            cls.name, cls, cls.description, cls.reference, cls.single_label, cls.multi_label,
            cold_start, stream,
        )
        return cls

    def get(self, name: str, **params: Any) -> Strategy:
        """A new strategy instance by registry name."""
        return self.info(name).factory(**params)

    def info(self, name: str) -> StrategyInfo:
        if name not in self._entries:
            raise UnknownNameError("strategy", name, list(self._entries))
        return self._entries[name]

    def names(self) -> list[str]:
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[StrategyInfo]:
        return iter(self._entries.values())


REGISTRY = Registry()
"""The default registry. ``labella.al.strategies`` fills it with the built-ins on import."""


def register(cls: S | None = None, *, cold_start: bool = False, stream: bool = False) -> Any:
    """Class decorator registering a strategy in :data:`REGISTRY` (usable by users too)."""

    def deco(c: S) -> S:
        return REGISTRY.register(c, cold_start=cold_start, stream=stream)

    return deco(cls) if cls is not None else deco


def markdown_table(registry: Registry) -> str:
    """The strategy reference as a Markdown table (docs/strategies.md is generated from it)."""
    lines = [
        "| name | single | multi | cold start | stream | description | reference |",
        "|---|---|---|---|---|---|---|",
    ]
    for i in registry:
        flags = ["yes" if f else "" for f in (i.single_label, i.multi_label, i.cold_start, i.stream)]
        lines.append(f"| `{i.name}` | " + " | ".join(flags) + f" | {i.description} | {i.reference} |")
    return "\n".join(lines) + "\n"
