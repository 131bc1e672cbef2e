"""Items an annotator asked to label next ("queue for me"), served by ``next`` first.

Pins are kept by item id on the loop manager, not on a project's loop state, so they
survive a reload of the state (an import or a featurisation swaps the state, and row
positions with it). They live in memory: a server restart forgets them (the items are
still in the pool and come back through the normal queue).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

MAX_PINS = 1000
"""The most items one annotator can have queued in one project."""


class Pins:
    """Per (project, annotator): the item ids to serve first, in order. Thread-safe."""

    def __init__(self, *, limit: int = MAX_PINS) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._pins: dict[tuple[int, int], list[int]] = {}

    def add(self, project_id: int, user_id: int, item_ids: Iterable[int]) -> list[int]:
        """Put ``item_ids`` at the front of the annotator's list, in the order given (an id
        already there moves up); beyond :attr:`limit` the oldest pins are dropped. Returns
        the list now."""
        new = list(dict.fromkeys(int(i) for i in item_ids))
        with self._lock:
            key = (project_id, user_id)
            kept = [i for i in self._pins.get(key, []) if i not in set(new)]
            self._pins[key] = (new + kept)[: self.limit]
            return list(self._pins[key])

    def get(self, project_id: int, user_id: int) -> list[int]:
        with self._lock:
            return list(self._pins.get((project_id, user_id), []))

    def discard(self, project_id: int, item_ids: Iterable[int], *, user_id: int | None = None
                ) -> None:
        """Drop ``item_ids`` from one annotator's list (``user_id``) or from everybody's."""
        gone = {int(i) for i in item_ids}
        if not gone:
            return
        with self._lock:
            for key in [k for k in self._pins if k[0] == project_id
                        and (user_id is None or k[1] == user_id)]:
                left = [i for i in self._pins[key] if i not in gone]
                if left:
                    self._pins[key] = left
                else:
                    del self._pins[key]

    def clear(self, project_id: int, user_id: int) -> int:
        """Empty the annotator's list; returns how many pins it had."""
        with self._lock:
            return len(self._pins.pop((project_id, user_id), []))
