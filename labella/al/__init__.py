"""The pure active-learning core: numpy / scikit-learn only (torch lazily, in one head).

Usable on its own from a notebook::

    from labella.al import Pool, REGISTRY, logistic_regression
"""

from labella.al.heads import Head, SklearnHead, logistic_regression
from labella.al.strategies import REGISTRY, Strategy, register
from labella.al.types import UNLABELED, Pool, QueryResult

__all__ = [
    "REGISTRY", "UNLABELED", "Head", "Pool", "QueryResult", "SklearnHead", "Strategy",
    "logistic_regression", "register",
]
