"""20 annotators label while an admin changes settings twice a second and imports files:
no item labelled twice, no acknowledged label lost, no 5xx, one ``n_labeled`` everywhere,
and no settings request waits for a model.

A shorter run of ``benchmarks/load_reliability.py`` (which runs for minutes against a
``labella serve`` process); here the server runs in this process, on SQLite and on
PostgreSQL.
"""

from __future__ import annotations

import pytest

from benchmarks.load_reliability import check, drive, setup
from tests.api.conftest import LiveServer

pytestmark = pytest.mark.slow


def test_twenty_annotators_while_settings_change_and_files_import(server: LiveServer) -> None:
    admin = server.tokens["admin"]
    pid, truth, tokens = setup(server.url, admin, annotators=20, items=3000)
    rep = drive(server.url, admin, tokens, pid, truth, seconds=25, settings_every=0.5,
                import_every=5, import_rows=50)
    out = check(server.url, admin, server.settings.resolved_database_url, pid, rep)
    assert out["acked_labels"] > 200, out  # the annotators did work
    assert out["imports"] >= 3 and out["settings_requests"] >= 20, out
    assert out["items_labelled_twice"] == 0, out
    assert out["acked_missing"] == 0, out
    assert out["responses_5xx"] == 0 and out["requests_without_reply"] == 0, out
    assert out["n_labeled_metrics"] == out["n_labeled_project"] == out["n_labeled_database"], out
    assert out["next_serves_labelled"] == 0, out
    # a settings change is taken in place: it never waits for a refit (which takes seconds
    # here under load); a generous bound, as this machine is shared
    assert out["settings_max_s"] < 5.0, out
