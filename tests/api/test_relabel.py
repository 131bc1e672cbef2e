"""Relabel vs new through the SDK on both databases: with the ``relabel`` setting
``activelab`` the queue asks another annotator for a second opinion on labelled items
whose answers disagree or the model doubts, never the annotator who answered them."""

from __future__ import annotations

from pathlib import Path

import pytest

from labella.client import LabellaClientError
from labella.service.loop import RELABEL_REASON
from tests.api.conftest import LiveServer
from tests.api.test_overlap import _team


def _flip(label: str) -> str:
    return "neg" if label == "pos" else "pos"


def test_a_second_opinion_goes_to_another_annotator_only_with_the_mode_on(
        server: LiveServer, tmp_path: Path) -> None:
    # every item labelled: whether a second opinion beats a new label does not hang on the
    # model here (tests/service/test_relabel.py checks that choice), only who gets it
    p, truth, (a, b) = _team(server, tmp_path, 30, 2, labels_per_item=3, overlap_share=0.0)
    assert p.data["settings"]["relabel"] == "off"
    with pytest.raises(LabellaClientError) as err:
        p.update(settings={"relabel": "always"})
    assert err.value.status == 422 and "relabel must be one of off, activelab" in err.value.detail
    by_a: dict[int, str] = {}
    for _ in range(3):
        for it in a.next(n=10):
            by_a[it.id] = it.text
            a.annotate(it.id, label=truth[it.text])
    wrong = list(by_a)[:4]
    for item_id in wrong:  # a's mistakes
        a.annotate(item_id, label=_flip(truth[by_a[item_id]]))
    by_b = wrong[:2] + list(by_a)[4:10]
    for item_id in by_b:  # b disagrees with a on two (disputed), agrees on six
        b.annotate(item_id, label=truth[by_a[item_id]])
    assert server.ctx.loops.wait_idle(p.id, 30)
    off = b.next(n=10)
    assert not off  # mode off: one answer each is enough

    p.update(settings={"relabel": "activelab"})
    assert server.ctx.loops.wait_idle(p.id, 30)
    with server.ctx.loops.current(p.id) as st:
        candidates = set(st.index.ids(list(st.relabel)).tolist())
    assert len(by_a) == 30 and candidates == set(by_a)  # all have fewer than 3 answers
    got = b.next(n=10)
    second = [it.id for it in got if it.reason.strategy == RELABEL_REASON]
    assert second and set(second) <= set(by_a) - set(by_b)  # a's items, never b's own
    assert len(second) == 10
    assert all(it.reason.score is not None and it.explanation.startswith("second opinion")
               for it in got if it.id in second)
    assert not {it.id for it in a.next(n=10)} & set(by_a)  # never back to the one who answered
    b.annotate(second[0], label=truth[by_a[second[0]]])
    assert p.item(second[0])["n_answers"] == 2
    assert second[0] not in {it.id for it in b.next(n=10)}  # b answered it now
