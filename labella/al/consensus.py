"""Consolidation: one training target per item from several annotators' answers.

Pure numpy. Ratings: ``(n_items, n_annotators)`` class indices with
:data:`~labella.al.types.UNLABELED` where an annotator did not answer (see
:mod:`labella.al.agreement`). Items without any answer get ``UNLABELED`` as
consensus and confidence 0.

* :func:`majority_vote`: the most frequent answer; ties broken by the model's
  probabilities when given (else the lowest class index); confidence = the
  winner's vote share.
* :func:`dawid_skene`: A. P. Dawid and A. M. Skene, *Maximum likelihood
  estimation of observer error-rates using the EM algorithm* (1979): one
  confusion matrix per annotator and class priors, fitted by EM from the
  majority vote; confidence = the posterior of the chosen class.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from labella.al.agreement import _check_2d
from labella.al.types import UNLABELED
from labella.errors import DataError

METHODS = ("majority", "dawid_skene")


@dataclass(frozen=True)
class Consensus:
    """``labels`` shape ``(n_items,)`` (``UNLABELED`` where no answer), ``confidence`` shape
    ``(n_items,)`` in [0, 1], ``n_answers`` shape ``(n_items,)``; ``posterior`` shape
    ``(n_items, n_classes)``; ``confusion`` (Dawid–Skene only) shape
    ``(n_annotators, n_classes, n_classes)``, row = true class, column = answer."""

    labels: np.ndarray
    confidence: np.ndarray
    n_answers: np.ndarray
    posterior: np.ndarray
    method: str
    confusion: np.ndarray | None = field(default=None, repr=False)

    @property
    def disputed(self) -> np.ndarray:
        """Items whose answers do not all agree (candidates for the review queue)."""
        return (self.n_answers >= 2) & (self.confidence < 1.0)


def _counts(r: np.ndarray, n_classes: int) -> np.ndarray:
    if r.size and r.max() >= n_classes:
        raise DataError(f"ratings hold class {int(r.max())}; n_classes is {n_classes}")
    counts = np.zeros((r.shape[0], n_classes))
    rows, cols = np.nonzero(r != UNLABELED)
    np.add.at(counts, (rows, r[rows, cols]), 1.0)
    return counts


def majority_vote(ratings: np.ndarray, n_classes: int, *, proba: np.ndarray | None = None) -> Consensus:
    """Majority vote; a tie goes to the tied class the model (``proba``, shape
    ``(n_items, n_classes)``) finds most probable, else to the lowest tied class."""
    r = _check_2d(ratings)
    counts = _counts(r, n_classes)
    n = counts.sum(axis=1)
    top = counts.max(axis=1, keepdims=True)
    tied = (counts == top) & (counts > 0)
    if proba is not None:
        p = np.asarray(proba, dtype=float)
        if p.shape != counts.shape:
            raise DataError(f"proba must have shape {counts.shape}; got {p.shape}")
        key = np.where(tied, p, -np.inf)
    else:
        key = np.where(tied, 0.0, -np.inf) - np.arange(n_classes) * 1e-9
    labels = np.where(n > 0, key.argmax(axis=1), UNLABELED).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(n[:, None] > 0, counts / np.maximum(n, 1)[:, None], 0.0)
    conf = np.where(n > 0, top[:, 0] / np.maximum(n, 1), 0.0)
    return Consensus(labels, conf, n.astype(np.int64), share, "majority")


def dawid_skene(
    ratings: np.ndarray, n_classes: int, *, max_iter: int = 100, tol: float = 1e-6,
    smoothing: float = 0.01,
) -> Consensus:
    """Dawid–Skene by EM, initialised from the vote shares; ``smoothing`` is a small
    pseudo-count on every confusion cell and prior (keeps log-likelihoods finite when an
    annotator never used a class)."""
    r = _check_2d(ratings)
    counts = _counts(r, n_classes)
    n = counts.sum(axis=1)
    answered = n > 0
    n_items, n_ann = r.shape
    # one-hot answers, shape (n_items, n_annotators, n_classes)
    onehot = np.zeros((n_items, n_ann, n_classes))
    ii, jj = np.nonzero(r != UNLABELED)
    onehot[ii, jj, r[ii, jj]] = 1.0
    T = np.where(answered[:, None], counts / np.maximum(n, 1)[:, None], 0.0)
    confusion = np.zeros((n_ann, n_classes, n_classes))
    prev = -np.inf
    for _ in range(max_iter):
        # M step
        prior = T[answered].sum(axis=0) + smoothing
        prior /= prior.sum()
        confusion = np.einsum("ik,ijl->jkl", T, onehot) + smoothing
        confusion /= confusion.sum(axis=2, keepdims=True)
        # E step
        log_t = np.log(prior)[None, :] + np.einsum("ijl,jkl->ik", onehot, np.log(confusion))
        top = log_t.max(axis=1, keepdims=True)
        T = np.exp(log_t - top)
        z = T.sum(axis=1, keepdims=True)
        T /= z
        T[~answered] = 0.0
        ll = float((np.log(z[:, 0]) + top[:, 0])[answered].sum())
        if abs(ll - prev) < tol * max(1.0, abs(ll)):
            break
        prev = ll
    labels = np.where(answered, T.argmax(axis=1), UNLABELED).astype(np.int64)
    conf = np.where(answered, T.max(axis=1), 0.0)
    return Consensus(labels, conf, n.astype(np.int64), T, "dawid_skene", confusion)


def consolidate(ratings: np.ndarray, n_classes: int, *, method: str = "majority",
                proba: np.ndarray | None = None) -> Consensus:
    """One entry point by method name (:data:`METHODS`)."""
    if method == "majority":
        return majority_vote(ratings, n_classes, proba=proba)
    if method == "dawid_skene":
        return dawid_skene(ratings, n_classes)
    raise DataError(f"unknown consolidation method {method!r}; expected one of {', '.join(METHODS)}")
