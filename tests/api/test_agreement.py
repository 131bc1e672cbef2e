"""Agreement between annotators through the API and the SDK, on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest

from labella.client import LabellaClientError
from tests.api.conftest import LiveServer, text_project, write_reviews

A = ["neg", "neg", "pos", "pos", "neg", "pos"]
B = ["neg", "pos", "pos", "pos", "neg", "neg"]


def test_two_annotators_agreement_matches_hand_computed_figures(server: LiveServer,
                                                                tmp_path: Path) -> None:
    admin = server.client()
    p = text_project(admin, "team")
    write_reviews(tmp_path / "r.csv", 40)
    assert p.import_file(tmp_path / "r.csv").wait(60).status == "succeeded"
    server.add_user("ann1")
    server.add_user("ann2")
    p.add_member("ann1")
    p.add_member("ann2")
    p1 = server.client("ann1").project(p.id)
    p2 = server.client("ann2").project(p.id)
    items = [it.id for it in p1.next(n=6)]
    for item_id, a, b in zip(items, A, B, strict=True):
        p1.annotate(item_id, label=a)
        p2.annotate(item_id, label=b)
    extra = p2.next(n=1)[0].id  # one answer only: not an overlap item
    p2.annotate(extra, label="pos")

    got = p.agreement()
    assert got["n_items_labelled"] == 7 and got["n_items_overlap"] == 6
    assert got["n_annotators"] == 2
    # coincidences: 4 neg-neg, 4 pos-pos, 2 + 2 disagreeing over n = 12 pairable answers:
    # D_o = 4/12, D_e = (144 - 36 - 36) / (12 * 11) -> alpha = 1 - (1/3) / (6/11) = 7/18
    assert got["alpha"] == pytest.approx(7 / 18) and got["alpha_n_items"] == 6
    # p_o = 4/6, p_e = 0.5 -> kappa = 1/3 on the 6 shared items
    (pair,) = got["pairwise_kappa"]
    assert sorted(pair["annotators"]) == ["ann1", "ann2"]
    assert pair["kappa"] == pytest.approx(1 / 3) and pair["n_items"] == 6
    table = {r["username"]: r for r in got["annotators"]}
    assert table["ann1"]["labels"] == 6 and table["ann2"]["labels"] == 7
    # ties go to the lowest class (neg): each annotator loses one of the two disputes
    assert table["ann1"]["agreement_with_consensus"] == pytest.approx(5 / 6)
    assert table["ann2"]["agreement_with_consensus"] == pytest.approx(5 / 6)
    assert table["ann1"]["agreement_n_items"] == 6
    assert table["ann2"]["seconds_per_label"] is None or table["ann2"]["seconds_per_label"] >= 0
    assert {r["label"] for r in got["per_label"]} == {"neg", "pos"}

    p2.undo(items[1])  # ann2 retracts the answer that disagreed on item 2
    after = p1.agreement()  # an annotator may read it too
    assert after["n_items_overlap"] == 5
    assert after["pairwise_kappa"][0]["n_items"] == 5

    with pytest.raises(LabellaClientError) as err:
        server.client("outsider").project(p.id).agreement()
    assert err.value.status == 404
