"""A corpus of hostile API requests: each gets a clear 4xx naming the field, on both databases.

NUL characters in every kind of string field, ids past what a database column
holds (2^31, 2^63) or below 1, overlong strings, deep and huge JSON, wrong types,
unknown labels. After the whole corpus the database holds exactly what it held
before (nothing half-written) and no reply shows a server path or a traceback.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from labella.config import REQUEST_LIMITS as LIMITS
from labella.store.annotations import Annotation
from labella.store.items import Item
from labella.store.jobs import Job
from labella.store.projects import Member, Project
from labella.store.users import User
from tests.api.conftest import LiveServer, text_project, write_reviews

NUL = "a\x00b"
BIG = 2**63
PG_BIG = 2**31


@dataclass(frozen=True)
class Bad:
    name: str
    method: str
    path: str  # {pid} and {iid} are filled in
    body: Any = None
    status: int = 422
    field: str | None = None  # the field the reply must name
    form: dict[str, str] | None = None


def _deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels):
        value = {"k": value}
    return value


NEW = {"name": "p", "task": "text", "labels": ["neg", "pos"], "featuriser": "hashing"}
ANN = "/api/projects/{pid}/annotations"

CORPUS = [
    # NUL characters, one string field after another
    Bad("nul in project name", "POST", "/api/projects", {**NEW, "name": NUL}, field="name"),
    Bad("nul in description", "POST", "/api/projects", {**NEW, "description": NUL},
        field="description"),
    Bad("nul in a label name", "POST", "/api/projects", {**NEW, "labels": ["neg", NUL]},
        field="labels"),
    Bad("nul in a settings key", "POST", "/api/projects", {**NEW, "settings": {NUL: 1}},
        field="settings"),
    Bad("nul in a new description", "PATCH", "/api/projects/{pid}", {"description": NUL},
        field="description"),
    Bad("nul in a new username", "POST", "/api/users", {"username": NUL}, field="username"),
    Bad("nul in a token username", "POST", "/api/auth/token",
        {"username": NUL, "password": "whatever!"}, field="username"),
    Bad("nul in a member name", "PUT", "/api/projects/{pid}/members", {"username": NUL},
        field="username"),
    Bad("nul in an import source", "POST", "/api/projects/{pid}/imports/source",
        {"source": "catalogue:digits", "text_column": NUL}, field="text_column"),
    Bad("nul in a request id", "POST", ANN, {"item_id": "{iid}", "label": "pos",
                                               "request_id": NUL}, field="request_id"),
    Bad("nul in a label", "POST", ANN, {"item_id": "{iid}", "label": NUL}, field="label"),
    Bad("nul in a meta value", "POST", ANN,
        {"item_id": "{iid}", "label": "pos", "meta": {"note": ["ok", NUL]}}, field="meta"),
    Bad("nul in a meta key", "POST", ANN, {"item_id": "{iid}", "label": "pos",
                                             "meta": {"x": {NUL: 1}}}, field="meta"),
    Bad("nul in a query filter", "GET", "/api/projects/{pid}/items?q=a%00b", field="q"),
    Bad("nul in a path username", "DELETE", "/api/projects/{pid}/members/a%00b", field="path"),
    Bad("nul in an upload field", "POST", "/api/projects/{pid}/imports",
        form={"text_column": NUL}, field="text_column"),
    # ids no database column holds, or that are not ids
    Bad("item id 2^63", "POST", ANN, {"item_id": BIG, "label": "pos"}, field="item_id"),
    Bad("item id 2^31", "POST", ANN, {"item_id": PG_BIG, "label": "pos"}, field="item_id"),
    Bad("negative item id", "POST", "/api/projects/{pid}/skip", {"item_id": -1},
        field="item_id"),
    Bad("item id as a string", "POST", ANN, {"item_id": "12", "label": "pos"}, field="item_id"),
    Bad("item id as true", "POST", "/api/projects/{pid}/undo", {"item_id": True},
        field="item_id"),
    Bad("project id 2^63 in the path", "GET", f"/api/projects/{BIG}", field="project_id"),
    Bad("project id 0 in the path", "GET", "/api/projects/0/metrics", field="project_id"),
    Bad("project id -5 in the path", "GET", "/api/projects/-5/next", field="project_id"),
    Bad("item id 2^31 in the path", "GET", f"/api/projects/{{pid}}/items/{PG_BIG}",
        field="item_id"),
    Bad("job id 2^63 in the path", "GET", f"/api/jobs/{BIG}", field="job_id"),
    Bad("user id 2^31 in the path", "PATCH", f"/api/users/{PG_BIG}", {"disabled": True},
        field="user_id"),
    Bad("offset 2^63", "GET", f"/api/projects/{{pid}}/items?offset={BIG}", field="offset"),
    Bad("page of a million", "GET", "/api/projects/{pid}/items?limit=1000000", field="limit"),
    Bad("next of a million", "GET", "/api/projects/{pid}/next?n=1000000", field="n"),
    Bad("confidence nan", "GET", "/api/projects/{pid}/items?min_confidence=nan",
        field="min_confidence"),
    # overlong strings and lists
    Bad("5 MB description", "POST", "/api/projects",
        {**NEW, "description": "x" * (LIMITS.max_description_chars + 1)}, field="description"),
    Bad("overlong project name", "POST", "/api/projects",
        {**NEW, "name": "n" * (LIMITS.max_name_chars + 1)}, field="name"),
    Bad("too many labels", "POST", "/api/projects",
        {**NEW, "labels": [f"l{i}" for i in range(LIMITS.max_labels + 1)]}, field="labels"),
    Bad("overlong label name", "POST", "/api/projects",
        {**NEW, "labels": ["a", "b" * (LIMITS.max_label_chars + 1)]}, field="labels"),
    Bad("overlong request id", "POST", ANN,
        {"item_id": "{iid}", "label": "pos", "request_id": "r" * 101}, field="request_id"),
    Bad("overlong username", "POST", "/api/users", {"username": "u" * 151}, field="username"),
    # deep and huge JSON
    Bad("meta 40 levels deep", "POST", ANN, {"item_id": "{iid}", "label": "pos",
                                               "meta": _deep(40)}, field="meta"),
    Bad("meta 100 kB", "POST", ANN, {"item_id": "{iid}", "label": "pos",
                                       "meta": {"blob": "x" * 100_000}}, field="meta"),
    Bad("body nested past the JSON parser", "POST", ANN, "DEEP", field="body"),
    Bad("20 MB meta", "POST", ANN, {"item_id": "{iid}", "label": "pos",
                                      "meta": {"blob": "x" * 20_000_000}}, status=413),
    Bad("20 MB streamed without a length", "POST", ANN, "STREAM", status=413),
    # wrong types and unknown names
    Bad("labels as a string", "POST", "/api/projects", {**NEW, "labels": "neg,pos"},
        field="labels"),
    Bad("unknown task", "POST", "/api/projects", {**NEW, "task": "video"}, field="task"),
    Bad("meta as a list", "POST", ANN, {"item_id": "{iid}", "label": "pos", "meta": [1]},
        field="meta"),
    Bad("unknown label", "POST", ANN, {"item_id": "{iid}", "label": "maybe"}, field="label"),
    Bad("unknown setting", "PATCH", "/api/projects/{pid}", {"settings": {"speed": 11}},
        field="setting"),
    Bad("batch size as text", "PATCH", "/api/projects/{pid}",
        {"settings": {"batch_size": "many"}}, field="batch_size"),
    Bad("not JSON at all", "POST", "/api/projects", "NOT_JSON", field="body"),
]


def _counts(server: LiveServer) -> dict[str, int]:
    with server.ctx.session() as s:
        return {m.__name__: s.scalar(select(func.count()).select_from(m)) or 0
                for m in (Project, Item, Annotation, Member, User, Job)}


def _send(http: Any, case: Bad, pid: int, iid: int) -> Any:
    path = case.path.format(pid=pid, iid=iid)
    if case.form is not None:
        return http.post(path, data=case.form, files={"file": ("rows.csv", b"text\nhello\n")})
    if case.body == "DEEP":
        content = (f'{{"item_id": {iid}, "label": "pos", "meta": ' + "[" * 5000
                   + "]" * 5000 + "}")
        return http.request(case.method, path, content=content,
                            headers={"content-type": "application/json"})
    if case.body == "STREAM":  # chunked: no Content-Length announces the size
        def chunks() -> Any:
            yield f'{{"item_id": {iid}, "label": "pos", "meta": {{"blob": "'.encode()
            for _ in range(20):
                yield b"x" * 1_000_000
            yield b'"}}'

        return http.request(case.method, path, content=chunks(),
                            headers={"content-type": "application/json"})
    if case.body == "NOT_JSON":
        return http.request(case.method, path, content=b"\xff\xfe{not json",
                            headers={"content-type": "application/json"})
    body = json.loads(json.dumps(case.body).replace('"{iid}"', str(iid)))
    return http.request(case.method, path, json=body)


def test_the_corpus_is_large_and_varied() -> None:
    assert len(CORPUS) >= 20
    assert len({c.name for c in CORPUS}) == len(CORPUS)


def test_hostile_bodies_get_a_clear_4xx_and_change_nothing(server: LiveServer,
                                                           tmp_path: Path) -> None:
    admin = server.client("admin")
    p = text_project(admin, "target")
    write_reviews(tmp_path / "reviews.csv", 20)
    p.import_file(tmp_path / "reviews.csv").wait(60)
    iid = p.next(n=1)[0].id
    before = _counts(server)
    secret_places = [str(server.settings.data_dir), str(tmp_path), "Traceback", 'File "']
    problems: list[str] = []
    with server.http("admin") as http:
        for case in CORPUS:
            r = _send(http, case, p.id, iid)
            text = r.text
            try:
                body = r.json()
            except ValueError:
                problems.append(f"{case.name}: not JSON: {text[:200]!r}")
                continue
            if r.status_code != case.status:
                problems.append(f"{case.name}: {r.status_code} (wanted {case.status}): "
                                f"{text[:300]}")
            elif set(body) - {"detail", "error", "fields"} or not isinstance(body["detail"], str):
                problems.append(f"{case.name}: not the documented error body: {text[:300]}")
            elif case.field and case.field not in body["detail"]:
                problems.append(f"{case.name}: the reply does not name {case.field!r}: "
                                f"{body['detail'][:300]}")
            leaked = [s for s in secret_places if s in text]
            if leaked:
                problems.append(f"{case.name}: the reply shows {leaked}")
    assert not problems, "\n".join(problems)
    after = _counts(server)
    # the upload case is refused before a job is made; nothing else may have landed either
    assert after == before
