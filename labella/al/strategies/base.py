"""The one strategy contract.

A strategy is constructed with its parameters only (the scikit-learn
convention) and answers ``query(pool, n, head=..., rng=...)`` with a
:class:`~labella.al.types.QueryResult` of ``n`` distinct unlabelled row
positions. ``head`` is a head already fitted on the pool's labelled rows, or
``None`` when nothing is labelled yet; a strategy never refits it (it clones it
when it needs its own models).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from labella.al.heads import Head
from labella.al.select import random_choice, result, top_k
from labella.al.types import Pool, QueryResult


class Strategy:
    """Base class of every query strategy.

    Subclasses set the class attributes and implement :meth:`_query`.
    ``needs_model`` strategies fall back to random sampling (recorded in
    ``params['fallback']``) while the pool has no labels.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    reference: ClassVar[str] = ""
    single_label: ClassVar[bool] = True
    multi_label: ClassVar[bool] = True
    needs_model: ClassVar[bool] = True

    def get_params(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def query(
        self,
        pool: Pool,
        n: int,
        *,
        head: Head | None = None,
        rng: np.random.Generator | int | None = None,
    ) -> QueryResult:
        """Choose ``n`` unlabelled items of ``pool``.

        Raises:
            PoolExhaustedError: fewer than ``n`` unlabelled items remain.
            DataError: the strategy does not support the pool's task kind.
        """
        from labella.errors import DataError

        pool.check_can_query(n)
        if pool.multi_label and not self.multi_label:
            raise DataError(f"strategy {self.name!r} does not support multi-label pools")
        if not pool.multi_label and not self.single_label:
            raise DataError(f"strategy {self.name!r} supports only multi-label pools")
        gen = np.random.default_rng(rng)
        if self.needs_model and (head is None or pool.n_labeled == 0):
            idx = random_choice(pool, n, rng=gen)
            return result(idx, np.full(n, np.nan), self.name, fallback="random", **self.get_params())
        return self._query(pool, n, head=head, rng=gen)

    def _query(
        self, pool: Pool, n: int, *, head: Head | None, rng: np.random.Generator
    ) -> QueryResult:
        raise NotImplementedError  # pragma: no cover - abstract

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


class ScoreStrategy(Strategy):
    """A strategy that scores every unlabelled item and takes the top ``n``."""

    def scores(self, pool: Pool, candidates: np.ndarray, *, head: Head, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError  # pragma: no cover - abstract

    def _query(
        self, pool: Pool, n: int, *, head: Head | None, rng: np.random.Generator
    ) -> QueryResult:
        assert head is not None  # guaranteed by Strategy.query for needs_model strategies
        cand = pool.unlabeled_indices
        s = self.scores(pool, cand, head=head, rng=rng)
        idx, sc = top_k(s, cand, n, rng=rng)
        return result(idx, sc, self.name, **self.get_params())
