"""The agreement summary from annotation rows (no database): undo, imports, multi-label."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from labella.service.agreement import load_answers, summarise

T0 = datetime(2026, 1, 1, 12, 0, 0)


def _t(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def test_undo_retracts_and_imports_are_left_out() -> None:
    rows = [(1, 10, "label", ["a"], _t(0)), (1, 11, "label", ["b"], _t(1)),
            (2, 10, "label", ["a"], _t(4)), (2, 11, "label", ["a"], _t(5)),
            (3, None, "label", ["b"], _t(6)),  # imported: no annotator
            (2, 11, "undo", None, _t(7)), (4, 10, "label", ["b"], _t(2000))]
    ans = load_answers(rows)
    assert set(ans.answers) == {(1, 10), (1, 11), (2, 10), (4, 10)}
    out = summarise(ans, ["a", "b"], multi_label=False, usernames={10: "x", 11: "y"})
    assert out["n_items_labelled"] == 3 and out["n_items_overlap"] == 1
    x = next(r for r in out["annotators"] if r["username"] == "x")
    assert x["labels"] == 3
    assert x["seconds_per_label"] == pytest.approx(4.0)  # the 1996 s gap is a break


def test_multilabel_alpha_per_label() -> None:
    rows = [(i, u, "label", v, _t(i)) for i, u, v in [
        (1, 10, ["a", "b"]), (1, 11, ["a"]), (2, 10, []), (2, 11, ["b"]),
        (3, 10, ["a"]), (3, 11, ["a"])]]
    out = summarise(load_answers(rows), ["a", "b"], multi_label=True, usernames={})
    per = {r["label"]: r for r in out["per_label"]}
    assert per["a"]["alpha"] == pytest.approx(1.0) and per["a"]["n_items"] == 3
    assert per["b"]["alpha"] < 0
    assert out["pairwise_kappa"] == []
    assert [r["labels"] for r in out["annotators"]] == [3, 3]


def test_no_answers_at_all() -> None:
    out = summarise(load_answers([]), ["a", "b"], multi_label=False, usernames={})
    assert out["alpha"] is None and out["alpha_n_items"] == 0 and out["annotators"] == []
