"""The one translation between item ids and row positions.

Inside :mod:`labella.al` an index is a row position of a
:class:`~labella.al.types.Pool` snapshot; everywhere else (database, API, web)
it is an item id. :class:`PoolIndex` is the only place that converts between
the two, so the classic active-learning bug of mixing them has one place to
live and one place to be tested.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from labella.service.errors import NotFoundError


class PoolIndex:
    """Item ids of a pool snapshot, in row order (ascending id).

    Args:
        item_ids: the ids, any order; they are sorted and must be unique.
    """

    def __init__(self, item_ids: Sequence[int] | np.ndarray) -> None:
        ids = np.asarray(item_ids, dtype=np.int64)
        order = np.sort(ids)
        if len(order) > 1 and np.any(order[1:] == order[:-1]):
            raise ValueError("item ids in a pool must be unique")
        self._ids = order
        self._ids.setflags(write=False)

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def item_ids(self) -> np.ndarray:
        """All ids, shape ``(n,)``; ``item_ids[row]`` is the id at ``row``."""
        return self._ids

    def row(self, item_id: int) -> int | None:
        """Row of ``item_id``, or ``None`` if it is not in this pool."""
        pos = int(np.searchsorted(self._ids, item_id))
        if pos < len(self._ids) and self._ids[pos] == item_id:
            return pos
        return None

    def rows(self, item_ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """Rows of ``item_ids``; :class:`NotFoundError` naming the first id not in the pool."""
        ids = np.asarray(item_ids, dtype=np.int64)
        pos = np.searchsorted(self._ids, ids)
        pos_c = np.minimum(pos, max(len(self._ids) - 1, 0))
        bad = (pos >= len(self._ids)) | (self._ids[pos_c] != ids) if len(self._ids) else np.ones(
            len(ids), dtype=bool)
        if np.any(bad):
            raise NotFoundError(f"item {int(ids[np.argmax(bad)])} is not in this project's pool")
        return pos.astype(np.int64)

    def ids(self, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        """Item ids at ``rows``."""
        return self._ids[np.asarray(rows, dtype=np.int64)]
