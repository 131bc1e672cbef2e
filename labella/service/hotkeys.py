"""Keyboard keys of a project's labels.

A project may give labels their own key in ``settings.hotkeys`` (``{label: key}``): the digits
demo binds ``1`` to the label ``"1"``. Keys are single printable characters, one per label, no
two labels on the same key, and none of the keys the labelling view keeps for itself. Labels
named like a number key (``"1"``) get that key; the others get the free number keys (1-9, then 0): in label order when every
label gets one, else the most frequent labels first, so a 28-label project reaches its
common labels with one key and the rest by typing to filter (``/``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from labella.service.errors import InvalidRequestError

if TYPE_CHECKING:
    from labella.service.context import ServiceContext

NUMBER_KEYS = tuple("1234567890")
RESERVED = frozenset({"s", "S", "u", "U", "?", "/", " "})
"""Keys of the labelling view itself: skip, undo, shortcuts, filter, and space."""


def check_hotkeys(value: Any, labels: Sequence[str] | None = None) -> dict[str, str] | None:
    """``settings.hotkeys`` checked: a mapping of label name to one key, or ``None``.

    Args:
        labels: the project's labels; when given, every name must be one of them.
    """
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidRequestError("hotkeys must be an object of label name -> key")
    out: dict[str, str] = {}
    taken: dict[str, str] = {}
    for label, key in value.items():
        if not isinstance(key, str) or len(key) != 1 or not key.isprintable():
            raise InvalidRequestError(f"hotkeys: the key of {label!r} must be one printable "
                                      f"character; got {key!r}")
        if key in RESERVED:
            raise InvalidRequestError(f"hotkeys: {key!r} is kept for the labelling view "
                                      f"(skip S, undo U, ? shortcuts, / filter, space); "
                                      f"choose another key for {label!r}")
        folded = key.lower()
        if folded in taken:
            raise InvalidRequestError(f"hotkeys: {taken[folded]!r} and {label!r} both use the "
                                      f"key {key!r}; one key per label")
        if labels is not None and label not in labels:
            raise InvalidRequestError(f"hotkeys: {label!r} is not one of the project's labels")
        taken[folded] = str(label)
        out[str(label)] = key
    return out


def label_keys(labels: Sequence[str], hotkeys: Mapping[str, str] | None,
               counts: Mapping[str, int] | None = None) -> dict[str, str]:
    """Each label's key: its own hotkey, else a free number key (see the module's text);
    labels left without a key are not in the result."""
    keys = {lab: k for lab, k in (hotkeys or {}).items() if lab in labels}
    used = {k.lower() for k in keys.values()}
    for lab in labels:  # a label named like a number key ("1") gets that key
        if lab not in keys and lab in NUMBER_KEYS and lab not in used:
            keys[lab] = lab
            used.add(lab)
    free = [k for k in NUMBER_KEYS if k not in used]
    rest = [lab for lab in labels if lab not in keys]
    if len(rest) > len(free):  # not enough keys: the most frequent get them, 1 the most
        c = counts or {}
        order = {lab: i for i, lab in enumerate(labels)}
        rest = sorted(rest, key=lambda lab: (-c.get(lab, 0), order[lab]))[:len(free)]
    for lab, key in zip(rest, free, strict=False):
        keys[lab] = key
    return keys


def project_label_keys(ctx: ServiceContext, project_id: int, labels: Sequence[str],
                       hotkeys: Mapping[str, str] | None) -> dict[str, str]:
    """:func:`label_keys` with the project's label counts (from its loaded loop, if loaded;
    without counts the number keys go in label order)."""
    counts: dict[str, int] = {}
    st = ctx.loops.loaded(project_id)
    if st is not None and len(labels) > len(NUMBER_KEYS):
        y = np.asarray(st.y)
        names = list(st.label_names)
        if y.ndim == 2:  # multi-hot, -1 rows unlabelled
            done = y[(y >= 0).all(axis=1)]
            counts = {n: int(c) for n, c in zip(names, done.sum(axis=0), strict=True)}
        else:
            done = y[y >= 0]
            counts = {n: int(c) for n, c in zip(
                names, np.bincount(done, minlength=len(names)), strict=True)}
    return label_keys(labels, hotkeys, counts)
