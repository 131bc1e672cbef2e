"""When an item is in the disagreement queue, and the majority shown with it (pure rules)."""

from __future__ import annotations

import pytest

from labella.service.disagreements import ItemHistory, is_open, majority


def test_open_while_answers_differ_and_again_after_a_differing_later_answer() -> None:
    assert not is_open(ItemHistory({1: (10, ["a"], None)}))  # one answer
    assert not is_open(ItemHistory({1: (10, ["a"], None), 2: (11, ["a"], None)}))
    assert is_open(ItemHistory({1: (10, ["a"], None), 2: (11, ["b"], None)}))
    reviewed = ItemHistory({1: (10, ["a"], None), 2: (11, ["b"], None)}, review=(12, ["b"]))
    assert not is_open(reviewed)
    reviewed.answers[1] = (13, ["b"], None)  # a later answer agreeing with the review
    assert not is_open(reviewed)
    reviewed.answers[2] = (14, ["a"], None)  # a later one against it
    assert is_open(reviewed)


def test_majority_single_and_multi_label() -> None:
    assert majority([["b"], ["a"], ["b"]], ["a", "b"], False) == (["b"], pytest.approx(2 / 3))
    assert majority([["b"], ["a"]], ["a", "b"], False) == (["a"], 0.5)  # tie: first label
    got, share = majority([["x", "y"], ["x"], ["x", "z"]], ["x", "y", "z"], True)
    assert got == ["x"] and share == pytest.approx(1 / 3)
