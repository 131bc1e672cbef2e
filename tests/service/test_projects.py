"""Project creation and settings validation."""

from __future__ import annotations

import pytest

from labella.errors import UnknownNameError
from labella.service import auth, projects
from labella.service.context import ServiceContext
from labella.service.errors import ConflictError, InvalidRequestError


@pytest.mark.parametrize(("kw", "message"), [
    ({"labels": ["only"]}, "at least 2 labels"),
    ({"labels": ["a", "a"]}, "unique"),
    ({"task": "audio"}, "task must be one of"),
    ({"featuriser": "tfidf"}, "featuriser for text projects must be one of"),
    ({"strategy": "nope"}, "unknown strategy"),
    ({"head": "nope"}, "unknown head"),
    ({"settings": {"batch_size": 0}}, "batch_size must be an integer"),
    ({"settings": {"exploration": 2}}, "exploration must be a number"),
    ({"settings": {"colour": "red"}}, "unknown setting"),
    ({"settings": {"cold_start": "margin"}}, "needs no model"),
    ({"name": " "}, "project name"),
])
def test_bad_project_definitions_say_what_is_wrong(ctx: ServiceContext, admin: auth.UserPublic,
                                                   kw: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"name": "p", "task": "text", "multi_label": False,
                               "labels": ["neg", "pos"], "featuriser": "hashing", **kw}
    with ctx.session() as s, pytest.raises(InvalidRequestError, match=message):
        projects.create_project(s, admin, **args)  # type: ignore[arg-type]


def test_create_update_and_unique_names(ctx: ServiceContext, admin: auth.UserPublic) -> None:
    with ctx.session() as s:
        p = projects.create_project(s, admin, name="tags", task="text", multi_label=True,
                                    labels=["a", "b", "c"], featuriser="hashing")
    assert p.strategy == "labella" and p.head == "tuned_logistic_regression"
    assert p.settings["batch_size"] == 10 and p.role == "admin"
    with ctx.session() as s, pytest.raises(ConflictError):
        projects.create_project(s, admin, name="tags", task="text", multi_label=False,
                                labels=["a", "b"], featuriser="hashing")
    with ctx.session() as s:
        q = projects.update_project(s, admin, p.id, strategy="entropy",
                                    settings={"exploration": 0.2, "cold_start": "kmeans_pp"})
    assert q.strategy == "entropy" and q.settings["exploration"] == 0.2
    with ctx.session() as s, pytest.raises(UnknownNameError):
        projects.update_project(s, admin, p.id, settings={"cold_start": "no_such_strategy"})
