"""Relabel or label new? ActiveLab scores (Goh, Mueller et al., *ActiveLab: Active
Learning with Re-Labeling by Multiple Annotators*, 2022; CROWDLAB weights).

One score per item, lower = a label there is worth more, comparable across
already-labelled items (whose consensus may be uncertain: a second opinion) and
unlabelled items (a new label):

* labelled item i: the CROWDLAB consensus quality ``q_i`` (the posterior
  probability of its consensus label, combining the model's probabilities with
  each answer weighted by its annotator's estimated quality), averaged with the
  uninformative ``1 / K`` with weights ``(sum of its annotators' weights + model
  weight, mean annotator weight)``: more answers = more trust in ``q_i``;
* unlabelled item: the model's top probability averaged with ``1 / K`` with
  weights ``(model weight, mean annotator weight)``.

Weights follow CROWDLAB: an annotator's weight is ``1 - error / baseline`` where
error is how often they disagree with the other annotators on shared items and
baseline the error of always answering the most common consensus class; the
model's weight is the same with its disagreement with the consensus, times the
square root of the mean number of answers. Like cleanlab, the model's probabilities
are first temperature-scaled (:func:`fit_temperature`) to the answers they must
stand next to. Pure numpy; indices are row positions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labella.al.agreement import _check_2d
from labella.al.consensus import majority_vote
from labella.al.types import UNLABELED
from labella.errors import DataError

FLOOR = 1e-6


@dataclass(frozen=True)
class ActiveLabScores:
    """``labeled`` shape ``(n_labeled,)``, ``unlabeled`` shape ``(n_unlabeled,)``: lower =
    more worth a label; ``consensus`` shape ``(n_labeled,)``; the weights used."""

    labeled: np.ndarray
    unlabeled: np.ndarray
    consensus: np.ndarray
    model_weight: float
    annotator_weight: np.ndarray


TEMPERATURES = tuple(float(t) for t in np.geomspace(0.25, 16.0, 25))


def scale(proba: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities re-softmaxed at ``temperature`` (> 1 flattens, < 1 sharpens)."""
    logp = np.log(np.clip(proba, FLOOR, None)) / temperature
    e = np.exp(logp - logp.max(axis=1, keepdims=True))
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def fit_temperature(ratings: np.ndarray, proba: np.ndarray) -> float:
    """The temperature (from :data:`TEMPERATURES`) under which the model's probabilities
    best match each item's share of answers (least mean soft cross-entropy, as cleanlab)."""
    r = _check_2d(ratings)
    n = (r != UNLABELED).sum(axis=1)
    if not n.any():
        return 1.0
    k = proba.shape[1]
    shares = np.zeros((len(r), k))
    rows, cols = np.nonzero(r != UNLABELED)
    np.add.at(shares, (rows, r[rows, cols]), 1.0)
    shares = shares[n > 0] / n[n > 0, None]
    ce = [-(shares * np.log(np.clip(scale(proba[n > 0], t), FLOOR, None))).sum(axis=1).mean()
          for t in TEMPERATURES]
    return TEMPERATURES[int(np.argmin(ce))]


def _annotator_agreement(r: np.ndarray) -> np.ndarray:
    """Per annotator: the share of other annotators' answers on their items that equal
    theirs (items with >= 2 answers); NaN for an annotator who shares no item."""
    n_ann = r.shape[1]
    out = np.full(n_ann, np.nan)
    has = r != UNLABELED
    multi = has.sum(axis=1) >= 2
    for j in range(n_ann):
        rows = multi & has[:, j]
        if not rows.any():
            continue
        sub, mine = r[rows], r[rows, j]
        others = np.delete(sub, j, axis=1)
        valid = others != UNLABELED
        out[j] = float(((others == mine[:, None]) & valid).sum() / valid.sum())
    return out


def activelab_scores(
    ratings: np.ndarray, proba_labeled: np.ndarray, proba_unlabeled: np.ndarray | None = None,
    *, calibrate: bool = True,
) -> ActiveLabScores:
    """Scores for labelled items (``ratings`` shape ``(n_labeled, n_annotators)``, every row
    with at least one answer; ``proba_labeled`` their model probabilities, shape
    ``(n_labeled, K)``) and unlabelled items (``proba_unlabeled`` shape ``(n_unlabeled, K)``).
    ``calibrate``: temperature-scale both first when some item has two answers.
    """
    r = _check_2d(ratings)
    p = np.asarray(proba_labeled, dtype=float)
    if p.ndim != 2 or p.shape[0] != r.shape[0]:
        raise DataError(f"proba_labeled must have shape ({r.shape[0]}, K); got {p.shape}")
    k = p.shape[1]
    n_answers = (r != UNLABELED).sum(axis=1)
    if (n_answers == 0).any():
        raise DataError(f"{int((n_answers == 0).sum())} labelled row(s) hold no answer")
    pu = np.zeros((0, k)) if proba_unlabeled is None else np.asarray(proba_unlabeled, dtype=float)
    if pu.ndim != 2 or pu.shape[1] != k:
        raise DataError(f"proba_unlabeled must have shape (n, {k}); got {pu.shape}")
    if calibrate and (n_answers >= 2).any():
        t = fit_temperature(r, p)
        p = scale(p, t)
        pu = scale(pu, t) if len(pu) else pu
    cons = majority_vote(r, k, proba=p)
    c = cons.labels
    multi = n_answers >= 2
    if not multi.any():  # one answer per item: no annotator statistics yet
        quality = p[np.arange(len(c)), c]
        w_model, w_ann = 1.0, np.ones(r.shape[1])
    else:
        sub = c[multi]
        baseline = max(float(np.mean(sub != np.bincount(sub, minlength=k).argmax())), FLOOR)
        agree = _annotator_agreement(r)
        agree = np.where(np.isnan(agree), np.nanmean(agree), agree)
        w_ann = np.clip(1.0 - (1.0 - agree) / baseline, FLOOR, None)
        model_err = float(np.mean(p[multi].argmax(axis=1) != sub))
        w_model = max(1.0 - model_err / baseline, FLOOR) * float(np.sqrt(n_answers.mean()))
        # likelihood that an answer equals the consensus, and of each other class
        agree_rows = [(r[i][r[i] != UNLABELED] == c[i]).mean() for i in np.flatnonzero(multi)]
        p_cons = float(np.mean(agree_rows))
        p_other = (1.0 - p_cons) / max(k - 1, 1)
        post = w_model * p
        for j in range(r.shape[1]):
            has = r[:, j] != UNLABELED
            vote = np.full((int(has.sum()), k), p_other)
            vote[np.arange(int(has.sum())), r[has, j]] = p_cons
            post[has] += w_ann[j] * vote
        post /= post.sum(axis=1, keepdims=True)
        quality = post[np.arange(len(c)), c]
    w_mean = float(np.mean(w_ann))
    has = r != UNLABELED
    w_item = (has * w_ann[None, :]).sum(axis=1) + w_model
    labeled = (w_item * quality + w_mean / k) / (w_item + w_mean)
    unlabeled = (w_model * pu.max(axis=1, initial=0.0) + w_mean / k) / (w_model + w_mean) \
        if len(pu) else np.zeros(0)
    return ActiveLabScores(labeled, unlabeled, c, float(w_model), w_ann)
