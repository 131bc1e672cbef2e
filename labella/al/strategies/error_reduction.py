"""Expected error reduction (Roy & McCallum 2001), on subsamples so it stays usable.

For a candidate ``x`` and each label ``y`` it might get, a clone of the head is
refitted on the labelled rows plus ``(x, y)`` and its expected loss on an
evaluation sample of the unlabelled pool is measured; the candidate's score is
the current expected loss minus the ``p(y|x)``-weighted expected loss after
labelling it. Exact EER refits ``|U| * C`` models; here:

* candidates are the ``n_candidates`` unlabelled items with the smallest
  margin under the current head (the usual pre-filter: an item the head is sure
  of barely moves it), or ``max(n_candidates, n)`` when a batch asks for more;
* the loss is measured on ``n_eval`` unlabelled items drawn at random with ``rng``;
* only the ``max_labels`` most probable labels of each candidate are tried,
  their probabilities renormalised (the rest carry little weight).

The batch is the top ``n`` candidates by score (each scored as if labelled
alone). Indices are pool row positions. Single-label only: a multi-label item
has ``2^L`` possible label sets.
"""

from __future__ import annotations

import numpy as np
from sklearn import config_context
from sklearn.base import clone as sk_clone
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from labella.al import scores as sc
from labella.al.heads import Head, SklearnHead
from labella.al.select import result, top_k
from labella.al.strategies.base import Strategy
from labella.al.strategies.registry import register
from labella.al.types import Pool, QueryResult

LOSSES = ("log", "zero_one")


def expected_loss(proba: np.ndarray, loss: str) -> float:
    """The model's expected loss on unlabelled items under its own beliefs.

    ``log``: mean entropy of the predictive distribution (expected log-loss);
    ``zero_one``: mean of ``1 - max_c p(c|x)`` (expected 0/1 loss).

    Args:
        proba: class probabilities, shape ``(n, C)``.
    """
    if loss == "log":
        return float(sc.entropy(proba).mean())
    if loss == "zero_one":
        return float(sc.least_confidence(proba).mean())
    raise ValueError(f"unknown loss {loss!r}; known: {', '.join(LOSSES)}")


def _refit_proba(head: Head, X: np.ndarray, y: np.ndarray, X_eval: np.ndarray) -> np.ndarray:
    """Probabilities on ``X_eval`` of ``head`` refitted on ``(X, y)``.

    A fitted logistic-regression :class:`SklearnHead` is refitted warm-started
    from its own coefficients (same optimum, about half the L-BFGS
    iterations) when the new label is a class it already knows; any other head
    is cloned and fitted from scratch. ``head`` itself is never modified.
    """
    model = getattr(head, "model_", None)
    if isinstance(head, SklearnHead) and isinstance(model, LogisticRegression) and y[-1] in model.classes_:
        est = sk_clone(model).set_params(warm_start=True)
        est.coef_, est.intercept_ = model.coef_.copy(), model.intercept_.copy()
        est.fit(X, y)
        out = np.zeros((len(X_eval), head.n_classes))
        out[:, est.classes_] = est.predict_proba(X_eval)
        return out
    return head.clone().fit(X, y).predict_proba(X_eval)


def error_reduction_scores(
    head: Head,
    X_lab: np.ndarray,
    y_lab: np.ndarray,
    X_cand: np.ndarray,
    proba_cand: np.ndarray,
    X_eval: np.ndarray,
    *,
    loss: str = "log",
    max_labels: int = 3,
) -> np.ndarray:
    """Expected loss reduction per candidate, shape ``(m,)`` (higher = more wanted).

    Args:
        head: the head fitted on ``(X_lab, y_lab)``; clones of it are refitted, it is not touched.
        X_lab, y_lab: the labelled rows, ``(k, d)`` and ``(k,)``.
        X_cand: candidate rows ``(m, d)`` with current probabilities ``proba_cand`` ``(m, C)``.
        X_eval: rows the loss is measured on, ``(e, d)``.
    """
    if max_labels < 1:
        raise ValueError(f"max_labels must be >= 1; got {max_labels}")
    base = expected_loss(head.predict_proba(X_eval), loss)
    X_plus = np.vstack([X_lab, X_cand[:1]])
    y_plus = np.append(y_lab, y_lab[:1])
    out = np.empty(len(X_cand))
    # Hundreds of small fits on rows already validated by the head's own fit:
    # BLAS threads only contend, and per-call checks cost as much as the fit.
    with threadpool_limits(1), config_context(assume_finite=True, skip_parameter_validation=True):
        for i, (x, p) in enumerate(zip(X_cand, proba_cand, strict=True)):
            X_plus[-1] = x
            labels = np.argsort(-p, kind="stable")[:max_labels]
            weights = p[labels] / max(float(p[labels].sum()), 1e-12)
            after = 0.0
            for y, w in zip(labels, weights, strict=True):
                y_plus[-1] = y
                after += w * expected_loss(_refit_proba(head, X_plus, y_plus, X_eval), loss)
            out[i] = base - after
    return out


@register
class ExpectedErrorReduction(Strategy):
    """Expected error reduction on subsamples (see the module docstring).

    Args:
        n_candidates: how many of the most uncertain (smallest-margin) items to score.
        n_eval: size of the random unlabelled sample the loss is measured on.
        loss: ``"log"`` (expected log-loss) or ``"zero_one"``.
        max_labels: labels tried per candidate (the most probable ones).
    """

    name = "expected_error_reduction"
    description = "Items whose label is expected to lower the model's loss on the rest of the pool most."
    reference = (
        "Roy & McCallum, 'Toward optimal active learning through sampling estimation of error "
        "reduction', ICML 2001"
    )
    multi_label = False

    def __init__(self, n_candidates: int = 100, n_eval: int = 500, loss: str = "log", max_labels: int = 3) -> None:
        self.n_candidates = n_candidates
        self.n_eval = n_eval
        self.loss = loss
        self.max_labels = max_labels

    def _query(self, pool: Pool, n: int, *, head: Head | None, rng: np.random.Generator) -> QueryResult:
        assert head is not None  # guaranteed by Strategy.query
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; known: {', '.join(LOSSES)}")
        unl = pool.unlabeled_indices
        proba = head.predict_proba(pool.X[unl])
        n_cand = min(len(unl), max(self.n_candidates, n))
        pos, _ = top_k(sc.margin(proba), np.arange(len(unl)), n_cand, rng=rng)
        eval_idx = rng.choice(unl, size=min(self.n_eval, len(unl)), replace=False)
        X_lab, y_lab = pool.labeled_data()
        s = error_reduction_scores(
            head, X_lab, y_lab, pool.X[unl[pos]], proba[pos], pool.X[eval_idx],
            loss=self.loss, max_labels=self.max_labels,
        )
        idx, chosen = top_k(s, unl[pos], n, rng=rng)
        return result(idx, chosen, self.name, **self.get_params())
