"""Second-opinion candidates (the ``relabel`` setting ``activelab``): which labelled items
ActiveLab finds worth another answer more than a new label, and the loop state asking for
it. Pure: a hand-built state and answers, no database."""

from __future__ import annotations

from typing import Any

import numpy as np

from labella.al.pipelines import pipeline_for
from labella.service.poolmap import PoolIndex
from labella.service.relabel import relabel_candidates
from labella.service.state import DEFAULT_SETTINGS, ProjectState, Ranked
from labella.tasks import get_task

NAMES = ["neg", "pos"]
AGREE, DISPUTED, REVIEWED, SINGLE = range(0, 10), range(10, 14), range(14, 16), range(16, 20)
N = 40  # rows 20.. are unlabelled


def _state(**settings: Any) -> tuple[ProjectState, dict[tuple[int, int], list[str]]]:
    """Item ids 100 + row. Two annotators (users 1 and 2) agree on AGREE and disagree on
    DISPUTED and REVIEWED (a reviewer decided those); user 1 alone answered SINGLE. The
    model is sure of the agreed and single answers, torn on the disputed items, and fairly
    unsure of the unlabelled ones."""
    task = get_task("text", False)
    truth = [NAMES[r % 2] for r in range(N)]
    answers: dict[tuple[int, int], list[str]] = {}
    for r in (*AGREE, *SINGLE):
        answers[(100 + r, 1)] = [truth[r]]
    for r in AGREE:
        answers[(100 + r, 2)] = [truth[r]]
    for r in (*DISPUTED, *REVIEWED):
        answers[(100 + r, 1)], answers[(100 + r, 2)] = ["neg"], ["pos"]
    y = task.to_target([truth[r] if r < 20 else None for r in range(N)], NAMES)
    proba = np.empty((N, 2))
    for r in range(N):
        sure = 0.55 if r in DISPUTED or r in REVIEWED else 0.95 if r < 20 else 0.7
        proba[r] = [sure, 1 - sure] if truth[r] == "neg" else [1 - sure, sure]
    st = ProjectState(
        project_id=1, task=task, label_names=NAMES, featuriser_key="hashing",
        pipeline=pipeline_for("labella"), settings={**DEFAULT_SETTINGS, **settings},
        index=PoolIndex(np.arange(100, 100 + N)), X=np.zeros((N, 2)), y=y,
        eval_index=PoolIndex([]), X_eval=np.zeros((0, 2)), y_eval=task.to_target([], NAMES),
        proba=proba, ranked=Ranked(np.arange(20, N), np.zeros(N - 20), "margin", 1))
    for (item_id, user), _v in answers.items():
        row = item_id - 100
        st.answers[row] = (*st.answers.get(row, ()), user)
    st.closed.update(REVIEWED)
    return st, answers


def test_disputed_items_are_candidates_agreed_and_reviewed_ones_are_not() -> None:
    st, answers = _state(relabel="activelab", labels_per_item=3)
    got = relabel_candidates(st, answers)
    assert set(DISPUTED) <= set(got)
    assert not set(got) & {*AGREE, *REVIEWED, *SINGLE}
    assert list(got.values()) == sorted(got.values())  # most worth a second opinion first


def test_the_state_asks_the_candidates_for_one_more_answer_up_to_the_cap() -> None:
    st, answers = _state(relabel="activelab", labels_per_item=3)
    st.update_pending()
    assert not st.pending  # one answer per item: nothing pending without candidates
    st.set_relabel(relabel_candidates(st, answers))
    assert set(st.pending) == set(DISPUTED)
    assert st.can_share(10, 3, now=0.0) and not st.can_share(10, 1, now=0.0)
    st.set_relabel({})
    assert not st.pending


def test_no_candidates_when_the_mode_is_off_or_items_have_their_answers() -> None:
    st, answers = _state()  # relabel off
    assert relabel_candidates(st, answers) == {}
    st, answers = _state(relabel="activelab", labels_per_item=1)  # cap 2: they have two
    assert not set(relabel_candidates(st, answers)) & set(DISPUTED)
