"""Peer-library query strategies behind Labella's strategy contract (benchmarks only).

Each adapter is a :class:`~labella.al.strategies.base.Strategy` that calls one
query strategy of `small-text <https://github.com/webis-de/small-text>`_ 1.4.1
or `scikit-activeml <https://github.com/scikit-activeml/scikit-activeml>`_ 1.0.1
on the pool's cached embeddings, so a peer sees exactly the features and the
head that Labella's ``random`` baseline uses:

* small-text strategies get Labella's fitted head (plain logistic regression,
  C=1) behind small-text's classifier interface; its ``embed`` returns the
  pool embeddings themselves (the head's input).
* scikit-activeml strategies get ``SklearnClassifier(estimator)`` fitted on
  the labelled rows, ``estimator`` being a clone of the head's own
  scikit-learn estimator (``LogisticRegression(C=1)`` for the plain head), so
  it is the same model. The adapter fits it before the query and records that
  time in ``params["fit_seconds"]`` so that timings can leave it out (Labella's
  own strategies get their head already fitted).

The adapters register in :data:`PEERS`, a registry of their own: the peers are
no Labella dependency and never enter the global ``REGISTRY``. Importing this
module needs neither library; building an adapter imports its library and
raises ``ImportError`` naming the pip command if it is missing.

Index space: pool row positions throughout (both libraries take the whole pool
and return positions in it). Both libraries draw random numbers themselves
(small-text from NumPy's global generator); every query seeds them from the
``rng`` passed in, so a run is reproducible for a seed.
"""

from __future__ import annotations

import importlib
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import numpy as np
from sklearn.linear_model import LogisticRegression

from labella.al.heads import Head
from labella.al.select import result
from labella.al.strategies.base import Strategy
from labella.al.strategies.registry import Registry
from labella.al.types import UNLABELED, Pool, QueryResult

PEERS = Registry()
"""Peer strategies by name (``smalltext:*``, ``skactiveml:*``); separate from ``REGISTRY``."""

PIP_HINT = "pip install small-text==1.4.1 scikit-activeml==1.0.1"
VERSIONS = {"small_text": "1.4.1", "skactiveml": "1.0.1"}


def _import(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"the peer benchmark needs {module}; run: {PIP_HINT}") from exc


def available(library: str) -> bool:
    """Whether ``small_text`` or ``skactiveml`` can be imported."""
    try:
        importlib.import_module(library)
    except ImportError:
        return False
    return True


def plain_lr() -> LogisticRegression:
    """The estimator of Labella's plain head (``labella.al.heads.logistic_regression``)."""
    return LogisticRegression(C=1.0, max_iter=1000)


def estimator_like(head: Head | None) -> Any:
    """An unfitted copy of the scikit-learn estimator inside ``head`` (plain LR if none)."""
    from sklearn.base import clone, is_classifier

    est = getattr(head, "estimator", None)
    return clone(est) if est is not None and is_classifier(est) else plain_lr()


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(2**31 - 1))


@contextmanager
def _numpy_global_seed(seed: int) -> Iterator[None]:
    """Seed NumPy's global generator (small-text draws from it), then restore it."""
    state = np.random.get_state()  # noqa: NPY002 - the peer uses the legacy global generator
    np.random.seed(seed)  # noqa: NPY002
    try:
        yield
    finally:
        np.random.set_state(state)  # noqa: NPY002


class PeerStrategy(Strategy):
    """Base of the adapters. ``slow`` ones are left out of the default benchmark set."""

    library: ClassVar[str] = ""
    slow: ClassVar[bool] = False

    def _chosen(self, idx: Any, pool: Pool, n: int, **params: Any) -> QueryResult:
        idx = np.asarray(idx, dtype=np.int64).ravel()
        if len(idx) != n or len(np.unique(idx)) != n or pool.labeled_mask[idx].any():
            raise RuntimeError(f"{self.name} returned {idx!r}: not {n} distinct unlabelled rows")
        return result(idx, np.full(n, np.nan), self.name, **self.get_params(), **params)


# -- small-text ---------------------------------------------------------------------


class _HeadClassifier:
    """A fitted Labella head (or none yet) behind small-text's classifier interface.

    ``embed`` returns the pool embeddings themselves: they are the head's input.
    """

    def __init__(self, head: Head | None) -> None:
        self.head = head

    def predict_proba(self, dataset: Any) -> np.ndarray:
        if self.head is None:
            raise RuntimeError("this small-text strategy needs a fitted head")
        return self.head.predict_proba(dataset.x)

    def embed(self, dataset: Any, return_proba: bool = False, **_: Any) -> Any:
        X = dataset.x
        if not return_proba:
            return X
        return X, (self.head.predict_proba(X) if self.head is not None else None)


class SmallTextStrategy(PeerStrategy):
    """Calls ``make().query(clf, dataset, indices_unlabeled, indices_labeled, y, n)``."""

    library = "small_text"
    reference = "small-text 1.4.1 (Schröder et al., EACL 2023 demo)"

    def make(self, pool: Pool, n: int) -> Any:
        raise NotImplementedError  # pragma: no cover - abstract

    def _query(self, pool: Pool, n: int, *, head: Head | None, rng: np.random.Generator) -> QueryResult:
        _import("small_text")
        from scipy.sparse import csr_matrix
        from small_text import SklearnDataset

        lab, unl = pool.labeled_indices, pool.unlabeled_indices
        if pool.multi_label:
            y_all = csr_matrix(np.where(pool.y == UNLABELED, 0, pool.y).astype(np.int64))
            y_lab = csr_matrix(pool.y[lab].astype(np.int64))
        else:
            y_all, y_lab = pool.y.copy(), pool.y[lab]
        dataset = SklearnDataset(pool.X, y_all, target_labels=np.arange(pool.n_classes))
        clf = _HeadClassifier(head)
        with _numpy_global_seed(_seed(rng)), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            idx = self.make(pool, n).query(clf, dataset, unl, lab, y_lab, n=n)
        return self._chosen(idx, pool, n)


@PEERS.register
class STLeastConfidence(SmallTextStrategy):
    name = "smalltext:least_confidence"
    description = "small-text LeastConfidence: lowest top-class probability."
    multi_label = False

    def make(self, pool: Pool, n: int) -> Any:
        return _import("small_text").LeastConfidence()


@PEERS.register
class STPredictionEntropy(SmallTextStrategy):
    name = "smalltext:prediction_entropy"
    description = "small-text PredictionEntropy: highest predictive entropy."
    multi_label = False

    def make(self, pool: Pool, n: int) -> Any:
        return _import("small_text").PredictionEntropy()


@PEERS.register
class STBreakingTies(SmallTextStrategy):
    name = "smalltext:breaking_ties"
    description = "small-text BreakingTies: smallest margin between the two top classes."
    multi_label = False

    def make(self, pool: Pool, n: int) -> Any:
        return _import("small_text").BreakingTies()


@PEERS.register
class STGreedyCoreset(SmallTextStrategy):
    name = "smalltext:greedy_coreset"
    description = "small-text GreedyCoreset (Euclidean, normalised embeddings)."
    needs_model = False

    def make(self, pool: Pool, n: int) -> Any:
        return _import("small_text").GreedyCoreset(distance_metric="euclidean", normalize=True)


@PEERS.register
class STLightweightCoreset(SmallTextStrategy):
    name = "smalltext:lightweight_coreset"
    description = "small-text LightweightCoreset: sampling by distance to the mean."
    needs_model = False

    def make(self, pool: Pool, n: int) -> Any:
        return _import("small_text").LightweightCoreset(normalize=True)


@PEERS.register
class STEmbeddingKMeans(SmallTextStrategy):
    name = "smalltext:embedding_kmeans"
    description = "small-text EmbeddingKMeans: items nearest the k-means centres of the unlabelled pool."
    needs_model = False

    def make(self, pool: Pool, n: int) -> Any:
        return _import("small_text").EmbeddingKMeans(normalize=True)


@PEERS.register
class STContrastive(SmallTextStrategy):
    name = "smalltext:contrastive_al"
    description = "small-text ContrastiveActiveLearning (CAL, k=10)."
    multi_label = False

    def make(self, pool: Pool, n: int) -> Any:
        return _import("small_text").ContrastiveActiveLearning(k=10, pbar=None)


@PEERS.register
class STDiscriminative(SmallTextStrategy):
    name = "smalltext:discriminative_al"
    description = "small-text DiscriminativeActiveLearning with a logistic-regression discriminator."
    multi_label = False
    slow = True

    def __init__(self, num_iterations: int = 10) -> None:
        self.num_iterations = num_iterations

    def make(self, pool: Pool, n: int) -> Any:
        st = _import("small_text")
        factory = st.SklearnClassifierFactory(plain_lr(), num_classes=2)
        return st.DiscriminativeActiveLearning(factory, min(self.num_iterations, n), pbar=None)


@PEERS.register
class STCvirs(SmallTextStrategy):
    name = "smalltext:cvirs"
    description = "small-text CategoryVectorInconsistencyAndRanking (multi-label)."
    single_label = False

    def make(self, pool: Pool, n: int) -> Any:
        return _import("small_text").CategoryVectorInconsistencyAndRanking(pbar=None)


# -- scikit-activeml ------------------------------------------------------------------


class SkactivemlStrategy(PeerStrategy):
    """Calls ``make(seed).query(X, y, **kwargs, batch_size=n)`` with NaN-free -1 missing labels."""

    library = "skactiveml"
    reference = "scikit-activeml 1.0.1 (Kottke et al., 2021)"
    uses_clf: ClassVar[bool] = True

    def make(self, pool: Pool, seed: int) -> Any:
        raise NotImplementedError  # pragma: no cover - abstract

    def kwargs(self, pool: Pool, y: np.ndarray, seed: int, head: Head | None) -> dict[str, Any]:
        """Extra query arguments; by default the head's model fitted on the labelled rows."""
        clf = self.classifier(pool, seed, estimator_like(head)).fit(pool.X, y)
        return {"clf": clf, "fit_clf": False}

    def classifier(self, pool: Pool, seed: int, estimator: Any) -> Any:
        from skactiveml.classifier import SklearnClassifier

        return SklearnClassifier(estimator, classes=np.arange(pool.n_classes),
                                 missing_label=UNLABELED, random_state=seed)

    def _query(self, pool: Pool, n: int, *, head: Head | None, rng: np.random.Generator) -> QueryResult:
        _import("skactiveml")
        seed = _seed(rng)
        if pool.multi_label:  # label-free strategies only: labelled rows get a dummy class
            y = np.where(pool.labeled_mask, 0, UNLABELED).astype(np.int64)
        else:
            y = pool.y
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            kw = self.kwargs(pool, y, seed, head) if self.uses_clf else {}
            refit = kw.get("fit_clf", kw.get("fit_estimator")) is False
            fit_seconds = time.perf_counter() - t0 if refit else 0.0
            idx = self.make(pool, seed).query(pool.X, y, **kw, batch_size=n)
        return self._chosen(idx, pool, n, fit_seconds=fit_seconds)


class _SkUncertainty(SkactivemlStrategy):
    method: ClassVar[str] = ""
    multi_label = False

    def make(self, pool: Pool, seed: int) -> Any:
        from skactiveml.pool import UncertaintySampling

        return UncertaintySampling(method=self.method, missing_label=UNLABELED, random_state=seed)


@PEERS.register
class SkMargin(_SkUncertainty):
    name = "skactiveml:uncertainty_margin"
    description = "scikit-activeml UncertaintySampling(method='margin_sampling')."
    method = "margin_sampling"


@PEERS.register
class SkEntropy(_SkUncertainty):
    name = "skactiveml:uncertainty_entropy"
    description = "scikit-activeml UncertaintySampling(method='entropy')."
    method = "entropy"


@PEERS.register
class SkQBC(SkactivemlStrategy):
    name = "skactiveml:qbc"
    description = "scikit-activeml QueryByCommittee (KL divergence) over bagged LR (5 members)."
    multi_label = False

    def __init__(self, n_estimators: int = 5) -> None:
        self.n_estimators = n_estimators

    def kwargs(self, pool: Pool, y: np.ndarray, seed: int, head: Head | None) -> dict[str, Any]:
        from sklearn.ensemble import BaggingClassifier

        bag = BaggingClassifier(estimator_like(head), n_estimators=self.n_estimators,
                                random_state=seed)
        return {"ensemble": self.classifier(pool, seed, bag), "fit_ensemble": True}

    def make(self, pool: Pool, seed: int) -> Any:
        from skactiveml.pool import QueryByCommittee

        return QueryByCommittee(method="KL_divergence", missing_label=UNLABELED, random_state=seed)


@PEERS.register
class SkEpistemic(SkactivemlStrategy):
    name = "skactiveml:epistemic_us"
    description = "scikit-activeml EpistemicUncertaintySampling with LR (binary only; very slow)."
    multi_label = False
    slow = True

    def make(self, pool: Pool, seed: int) -> Any:
        from skactiveml.pool import EpistemicUncertaintySampling

        return EpistemicUncertaintySampling(missing_label=UNLABELED, random_state=seed)

    def _query(self, pool: Pool, n: int, *, head: Head | None, rng: np.random.Generator) -> QueryResult:
        if pool.n_classes != 2:
            from labella.errors import DataError

            raise DataError(f"{self.name} supports two classes only; the pool has {pool.n_classes}")
        return super()._query(pool, n, head=head, rng=rng)


@PEERS.register
class SkTypiClust(SkactivemlStrategy):
    name = "skactiveml:typiclust"
    description = "scikit-activeml TypiClust (k-means with n_labelled + batch clusters)."
    needs_model = False
    uses_clf = False

    def make(self, pool: Pool, seed: int) -> Any:
        from skactiveml.pool import TypiClust

        return TypiClust(missing_label=UNLABELED, random_state=seed)


@PEERS.register
class SkBadge(SkactivemlStrategy):
    name = "skactiveml:badge"
    description = "scikit-activeml Badge (gradient embeddings of LR, k-means++ seeding)."
    multi_label = False

    def make(self, pool: Pool, seed: int) -> Any:
        from skactiveml.pool import Badge

        return Badge(missing_label=UNLABELED, random_state=seed)


@PEERS.register
class SkCoreSet(SkactivemlStrategy):
    name = "skactiveml:coreset"
    description = "scikit-activeml CoreSet (greedy k-centre, Euclidean)."
    needs_model = False
    uses_clf = False

    def make(self, pool: Pool, seed: int) -> Any:
        from skactiveml.pool import CoreSet

        return CoreSet(missing_label=UNLABELED, random_state=seed)


@PEERS.register
class SkProbAL(SkactivemlStrategy):
    name = "skactiveml:prob_al"
    description = ("scikit-activeml ProbabilisticAL (McPAL) with LR posteriors and an RBF "
                   "Parzen-window density (metric='rbf').")
    multi_label = False

    def make(self, pool: Pool, seed: int) -> Any:
        from skactiveml.pool import ProbabilisticAL

        return ProbabilisticAL(metric="rbf", missing_label=UNLABELED, random_state=seed)


@PEERS.register
class SkContrastive(SkactivemlStrategy):
    name = "skactiveml:contrastive_al"
    description = "scikit-activeml ContrastiveAL (KL to the nearest labelled neighbours)."
    multi_label = False

    def make(self, pool: Pool, seed: int) -> Any:
        from skactiveml.pool import ContrastiveAL

        return ContrastiveAL(missing_label=UNLABELED, random_state=seed)


@PEERS.register
class SkDiscriminative(SkactivemlStrategy):
    name = "skactiveml:discriminative_al"
    description = "scikit-activeml DiscriminativeAL (LR discriminator refitted after each pick)."
    needs_model = False
    slow = True

    def kwargs(self, pool: Pool, y: np.ndarray, seed: int, head: Head | None) -> dict[str, Any]:
        return {"discriminator": self.classifier(pool, seed, plain_lr())}

    def make(self, pool: Pool, seed: int) -> Any:
        from skactiveml.pool import DiscriminativeAL

        return DiscriminativeAL(missing_label=UNLABELED, random_state=seed)


@PEERS.register
class SkClue(SkactivemlStrategy):
    name = "skactiveml:clue"
    description = "scikit-activeml Clue (uncertainty-weighted k-means)."
    multi_label = False

    def kwargs(self, pool: Pool, y: np.ndarray, seed: int, head: Head | None) -> dict[str, Any]:
        clf = self.classifier(pool, seed, estimator_like(head)).fit(pool.X, y)
        return {"estimator": clf, "fit_estimator": False}

    def make(self, pool: Pool, seed: int) -> Any:
        from skactiveml.pool import Clue

        return Clue(cluster_algo_dict={"random_state": seed}, missing_label=UNLABELED,
                    random_state=seed)


@PEERS.register
class SkFalcun(SkactivemlStrategy):
    name = "skactiveml:falcun"
    description = "scikit-activeml Falcun (contrastive uncertainty in probability space)."
    multi_label = False

    def make(self, pool: Pool, seed: int) -> Any:
        from skactiveml.pool import Falcun

        return Falcun(missing_label=UNLABELED, random_state=seed)


def names(*, multi_label: bool | None = None, include_slow: bool = False,
          libraries: tuple[str, ...] = ("small_text", "skactiveml")) -> list[str]:
    """Registered peer names, filtered by task kind, speed and installed library."""
    out = []
    for info in PEERS:
        cls: Any = info.factory
        if cls.library not in libraries or not available(cls.library):
            continue
        if cls.slow and not include_slow:
            continue
        if multi_label is True and not info.multi_label:
            continue
        if multi_label is False and not info.single_label:
            continue
        out.append(info.name)
    return out
