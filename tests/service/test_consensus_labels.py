"""An item's current label from several annotators' answers (labella.service.labels.fold)."""

from __future__ import annotations

import numpy as np
import pytest

from labella.service.labels import Row, fold

NAMES = ["neg", "pos", "mixed"]


class History:
    """Annotation rows in id order, as the database gives them."""

    def __init__(self) -> None:
        self.rows: list[Row] = []

    def add(self, item: int, user: int | None, action: str, value: str | list[str] | None = None,
            source: str = "human") -> History:
        v = [value] if isinstance(value, str) else value
        self.rows.append((len(self.rows) + 1, item, user, action, v, None, source))
        return self


def test_a_single_answer_is_the_label_as_before_teams() -> None:
    h = History().add(1, 7, "label", "pos").add(1, 7, "label", "neg").add(2, None, "label", "pos",
                                                                           source="import")
    got = fold(h.rows, label_names=NAMES)
    assert got[1].labels == ["neg"] and got[1].n_answers == 1 and got[1].confidence == 1.0
    assert got[1].user_id == 7 and got[1].annotation_id == 2
    assert got[2].labels == ["pos"] and got[2].annotators == (None,)


def test_majority_wins_and_its_share_is_the_confidence() -> None:
    h = History().add(1, 1, "label", "pos").add(1, 2, "label", "pos").add(1, 3, "label", "neg")
    got = fold(h.rows, label_names=NAMES)[1]
    assert got.labels == ["pos"] and got.n_answers == 3
    assert got.confidence == pytest.approx(2 / 3)
    assert sorted(got.annotators) == [1, 2, 3]  # type: ignore[type-var]
    # the latest answer (neg) is no longer what counts, as it was with one label per item
    h.add(1, 2, "undo")  # the second "pos" is retracted: a tie of one against one
    tie = fold(h.rows, label_names=NAMES)[1]
    assert tie.n_answers == 2 and tie.confidence == pytest.approx(0.5)
    assert tie.labels == ["neg"]  # no model: the first tied label in the project's order


def test_a_tie_goes_to_the_class_the_model_finds_most_probable() -> None:
    h = History().add(1, 1, "label", "neg").add(1, 2, "label", "pos")
    h.add(2, 1, "label", "pos").add(2, 2, "label", "mixed")
    asked: list[list[int]] = []

    def proba_for(ids: object) -> dict[int, np.ndarray]:
        asked.append(list(ids))  # type: ignore[call-overload]
        return {1: np.array([0.2, 0.7, 0.1]), 2: np.array([0.1, 0.3, 0.6])}

    got = fold(h.rows, label_names=NAMES, proba_for=proba_for)
    assert got[1].labels == ["pos"] and got[2].labels == ["mixed"]
    assert asked == [[1, 2]]
    # the model's favourite among all classes does not matter, only among the tied ones
    h.add(3, 1, "label", "neg").add(3, 2, "label", "pos")
    got = fold(h.rows, label_names=NAMES,
               proba_for=lambda ids: {3: np.array([0.3, 0.2, 0.5])})
    assert got[3].labels == ["neg"]


def test_a_review_row_wins_over_the_annotators() -> None:
    h = History().add(1, 1, "label", "pos").add(1, 2, "label", "pos")
    h.add(1, 9, "label", "neg", source="review")
    got = fold(h.rows, label_names=NAMES)[1]
    assert got.labels == ["neg"] and got.reviewed and got.user_id == 9
    assert got.n_answers == 2 and got.confidence == 1.0
    h.add(1, 9, "undo")  # the reviewer takes it back: the consensus counts again
    assert fold(h.rows, label_names=NAMES)[1].labels == ["pos"]


def test_multi_label_votes_on_each_label_alone() -> None:
    h = History().add(1, 1, "label", ["neg", "mixed"]).add(1, 2, "label", ["mixed"])
    h.add(1, 3, "label", ["pos", "mixed"])
    got = fold(h.rows, label_names=NAMES, multi_label=True)[1]
    assert got.labels == ["mixed"] and got.n_answers == 3
    assert got.confidence == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)


def test_dawid_skene_trusts_whom_the_answers_show_to_be_right() -> None:
    """Two annotators always answer the opposite of three good ones; on the items where
    they outvote one good annotator the majority is wrong and Dawid–Skene is not."""
    names = ["neg", "pos"]
    truth = np.random.default_rng(0).integers(0, 2, 40).tolist()
    h = History()
    for i, t in enumerate(truth):
        for user in (1, 2, 3, 4, 5) if i < 30 else (1, 4, 5):
            h.add(i + 1, user, "label", names[t if user <= 3 else 1 - t])
    vote = fold(h.rows, label_names=names)
    ds = fold(h.rows, label_names=names, method="dawid_skene")
    wrong = {i + 1 for i, t in enumerate(truth) if vote[i + 1].labels != [names[t]]}
    assert wrong == set(range(31, 41))
    assert all(ds[i + 1].labels == [names[t]] for i, t in enumerate(truth))
    assert all(ds[i].confidence > 0.99 for i in ds)
    assert vote[35].confidence == pytest.approx(2 / 3)


def test_with_one_answer_asked_for_the_latest_answer_counts_as_before() -> None:
    h = History().add(1, 1, "label", "pos").add(1, 2, "label", "pos").add(1, 3, "label", "neg")
    got = fold(h.rows, label_names=NAMES, method="latest")[1]
    assert got.labels == ["neg"] and got.user_id == 3 and got.n_answers == 3
    assert got.confidence == pytest.approx(1 / 3)  # the share of answers equal to it
