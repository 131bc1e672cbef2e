"""Sentences for people: why the labelling view shows an item, and the stopping advice.

The API, the SDK and the web pages show these strings as they are, so the wording lives in
one place. Raw figures (scores, kappas) stay in the structured fields beside them for
scripts; the sentences use percentages and the names of the labels.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

AUDIT_PREFIX = "random (audit"
COLD_PREFIX = "random (cold start"
SECOND_PREFIX = "second opinion"
TORN_RATIO = 0.5
"""Two labels "tear" the model when the runner-up has at least this share of the top's probability."""


def pct(p: float) -> str:
    """A probability as people read it: ``48 %``; below 1 % and above 99 % one decimal."""
    v = 100.0 * float(p)
    if 0 < v < 1 or 99 < v < 100:
        return f"{v:.1f} %"
    return f"{v:.0f} %"


def top_labels(proba_row: np.ndarray, names: Sequence[str], *, multi_label: bool,
               k: int = 2) -> list[tuple[str, float]]:
    """The ``k`` labels that matter for the explanation: the most probable ones
    (single-label), or those the model is least sure about, closest to 50 % (multi-label)."""
    p = np.asarray(proba_row, dtype=np.float64)
    order = np.argsort(np.abs(p - 0.5), kind="stable") if multi_label else \
        np.argsort(-p, kind="stable")
    return [(names[i], float(p[i])) for i in order[:k]]


def why_item(strategy: str, *, top: Sequence[tuple[str, float]] | None, multi_label: bool,
             ranked_version: int, model_version: int) -> str:
    """Why this item is shown, in one sentence.

    Args:
        strategy: the reason the queue gives (a strategy name, or the random audit / cold
            start reasons).
        top: :func:`top_labels` under the current model, or ``None`` before the first model.
        ranked_version: the model version that ranked the queue the item came from.
        model_version: the current model version (the one the page's header shows, and the
            one ``top`` and the suggestion come from).
    """
    if strategy.startswith(AUDIT_PREFIX):
        text = ("picked at random, to check that active learning beats random sampling on "
                "this project")
    elif strategy.startswith(SECOND_PREFIX):
        text = strategy  # already a sentence: why another answer is worth more than a new item
    elif strategy.startswith(COLD_PREFIX) or not top:
        text = "picked at random"
    elif multi_label:
        unsure = [f"{name} ({pct(p)})" for name, p in top if 0.05 < p < 0.95]
        text = (f"the model is unsure about {_join(unsure)}" if unsure
                else f"picked by {_plain(strategy)}: the model is fairly sure of every label")
    else:
        (a, pa), (b, pb) = top[0], top[1] if len(top) > 1 else ("", 0.0)
        if b and pb >= TORN_RATIO * pa:
            text = f"the model is torn between {a} ({pct(pa)}) and {b} ({pct(pb)})"
        else:
            text = (f"picked by {_plain(strategy)} (for variety, not doubt): the model leans to "
                    f"{a} ({pct(pa)})")
    if not top or not model_version:
        text += " · cold start: no model yet, the first labels teach it"
    else:
        text += f" · model v{model_version}"
        if ranked_version and ranked_version != model_version:
            text += f" (queued under v{ranked_version})"
    return text


def _plain(strategy: str) -> str:
    return strategy.replace("_", " ")


def _join(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def change_rates(predictions: Sequence[np.ndarray]) -> list[float]:
    """For each pair of successive refits, the share of the stop set whose prediction
    changed (a multi-label item changes when any of its labels does)."""
    out = []
    for before, after in itertools.pairwise(predictions):
        a, b = np.asarray(before), np.asarray(after)
        diff = a != b
        if diff.ndim > 1:
            diff = diff.any(axis=1)
        out.append(float(diff.mean()) if diff.size else 0.0)
    return out


def stop_advice(stop: bool, criterion: str, details: dict[str, Any],
                rates: Sequence[float], *, rounds: int = 3) -> str:
    """The stopping advice for people, e.g. "stop soon: predictions changed on 0.4 % of
    items over the last 3 refits".

    Args:
        stop: whether a criterion fired; ``criterion`` and ``details`` as
            :func:`labella.al.stopping.recommend` gives them.
        rates: :func:`change_rates` of the stop set's predictions, oldest first.
    """
    recent = list(rates)[-rounds:]
    changed = (f"predictions changed on {pct(max(recent))} of items over the last "
               f"{len(recent)} refit{'s' if len(recent) != 1 else ''}") if recent else None
    if stop:
        if criterion == "budget":
            return f"stop: the label budget is spent ({details.get('labels_used')} of " \
                   f"{details.get('budget')} labels)"
        if criterion == "overall_uncertainty":
            return "stop soon: the model is confident about every item still unlabelled"
        if criterion == "plateau":
            return "stop soon: the learning curve has stopped rising"
        return f"stop soon: {changed}" if changed else "stop soon: the model has stopped changing"
    if not details:
        return "keep labelling: too few labels to judge yet"
    if changed:
        return f"keep labelling: {changed}"
    return "keep labelling: the model needs a few more refits before it can be judged"
