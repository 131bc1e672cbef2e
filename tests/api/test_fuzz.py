"""Schemathesis over the OpenAPI spec: every operation, valid and invalid input, both databases.

The server is real (uvicorn, SQLite and PostgreSQL) and holds a project with
items and jobs; requests carry a real API token. Each operation gets examples
aimed at the real project / item / job ids and examples with arbitrary ids, in
both of Schemathesis' modes (data the schema allows, and data it forbids). The
checks: no reply is a 5xx, every status and body is the one the spec documents
(errors included), and data the spec forbids is refused with a 4xx.

``LABELLA_FUZZ_EXAMPLES`` sets the examples per operation and mode (default 25,
which keeps a run near a minute per database); runs are derandomised so CI is
repeatable; raise it locally to search further.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import LiveServer, text_project, write_reviews

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("LABELLA_FUZZ_EXAMPLES", "25"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, negative_data_rejection]
MODES = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
MULTIPART_CHECKS = [c for c in CHECKS if c is not negative_data_rejection]
"""On the wire every multipart field is text, so a 'negated type' (a boolean file, an array
column name) arrives as a valid string; the upload route's own limits are tested in
test_bad_bodies.py."""


def _seed(server: LiveServer, tmp_path: Path) -> dict[str, Any]:
    """A project with imported items and finished jobs; the ids Schemathesis aims at."""
    admin = server.client("admin")
    p = text_project(admin, "fuzzed")
    write_reviews(tmp_path / "reviews.csv", 40)
    job = p.import_file(tmp_path / "reviews.csv").wait(120)
    item = p.next(n=1)[0]
    with server.ctx.session() as s:
        from labella.service import auth

        outsider = auth.get_user(s, username="outsider").id
    return {"project_id": p.id, "item_id": item.id, "job_id": job.id, "user_id": outsider,
            "username": "annotator"}


def test_no_operation_answers_5xx_or_off_spec(server: LiveServer, tmp_path: Path) -> None:
    real = _seed(server, tmp_path)
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    headers = {"Authorization": f"Bearer {server.tokens['admin']}"}
    failures: list[str] = []
    statuses: dict[int, int] = {}

    def fuzz(strategy: Any, checks: list[Any]) -> None:
        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=strategy)
        def run(case: schemathesis.Case) -> None:
            r = case.call_and_validate(base_url=server.url, headers=headers, checks=checks,
                                       timeout=60)
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1

        run()

    n_ops = 0
    for result in schema.get_all_operations():
        op = result.ok()
        n_ops += 1
        names = {p.name for p in op.path_parameters}
        aimed = {k: v for k, v in real.items() if k in names}
        multipart = "multipart/form-data" in str(op.definition.raw.get("requestBody", ""))
        for mode in MODES:
            for fixed in ([aimed, None] if aimed else [None]):
                try:
                    fuzz(op.as_strategy(mode, path_parameters=fixed),
                         MULTIPART_CHECKS if multipart else CHECKS)
                except Unsatisfiable:  # negative mode with nothing to negate (no parameters)
                    continue
                except (Exception, BaseExceptionGroup) as exc:  # collect all, then report
                    first = str(exc).strip().splitlines()[:12]
                    failures.append(f"{op.label} [{mode.name.lower()}"
                                    f"{', real ids' if fixed else ''}]:\n  " + "\n  ".join(first))
    print(f"{n_ops} operations, replies by status: {dict(sorted(statuses.items()))}")
    assert not failures, f"{len(failures)} failing operation runs:\n\n" + "\n\n".join(failures)
    assert n_ops >= 30
    assert sum(statuses.values()) >= 8 * n_ops  # it really sent requests
    assert {200, 404, 422} <= set(statuses)  # hits, misses and refusals
