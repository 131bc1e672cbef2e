"""The read-only auto-accept preview: difficulty bands and a threshold with its precision."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from labella.service import auth, auto_accept, labelling
from labella.service.context import ServiceContext
from labella.service.errors import InvalidRequestError
from labella.service.importing import start_import
from tests.service.conftest import reviews, wait_jobs, write_csv


def test_preview(ctx: ServiceContext, admin: auth.UserPublic, make_text_project,  # type: ignore[no-untyped-def]
                 tmp_path: Path) -> None:
    p = make_text_project(strategy="margin")
    data = reviews(400, seed=9)
    rows = [{"text": t, "label": lab if i >= 240 else "", "split": "test" if i >= 240 else "train"}
            for i, (t, lab) in enumerate(data)]
    start_import(ctx, admin, p.id, str(write_csv(tmp_path / "r.csv", rows)))
    wait_jobs(ctx, p.id)
    truth = dict(data)
    with pytest.raises(InvalidRequestError, match="no model yet"):
        auto_accept.preview(ctx, admin, p.id, label="pos")
    for _ in range(4):
        for it in labelling.next_items(ctx, admin, p.id, 10):
            labelling.annotate(ctx, admin, p.id, it.id, labels=truth[it.text or ""])
        assert ctx.loops.wait_idle(p.id, timeout=60)
    pv = auto_accept.preview(ctx, admin, p.id, label="pos", target=0.8)
    assert sum(pv.difficulty.values()) == 240 - 40
    assert pv.n_evaluation == 160
    assert pv.threshold is not None and pv.low is not None and pv.precision is not None
    assert pv.precision >= pv.low >= 0.8 and pv.n_measured >= 10
    # the items it would accept: suggestions of "pos" at or above the threshold
    st = ctx.loops.state(p.id)
    unl = np.flatnonzero(np.asarray(st.y) < 0)
    q = st.calibrator.apply(st.proba[unl]) if st.calibrator else st.proba[unl]
    sel = (q.argmax(1) == st.label_names.index("pos")) & (q.max(1) >= pv.threshold)
    assert int(sel.sum()) == pv.n_would_accept
    ids = st.index.ids(unl[sel]).tolist()
    with ctx.read_session() as s:
        from labella.store.items import Item

        texts = [s.get(Item, i).text for i in ids]  # type: ignore[union-attr]
    if texts:
        assert np.mean([truth[t or ""] == "pos" for t in texts]) >= 0.8
    with pytest.raises(InvalidRequestError, match="unknown label"):
        auto_accept.preview(ctx, admin, p.id, label="maybe")
    with pytest.raises(InvalidRequestError, match="target precision"):
        auto_accept.preview(ctx, admin, p.id, label="pos", target=1.0)
