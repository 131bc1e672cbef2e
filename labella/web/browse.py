"""The data browser: ``/projects/{id}/data``.

The page renders the filters (label, prediction, confidence range, annotator,
split, label source, difficulty, text, sort) with the values of its query string; ``static/browse.js``
pages through ``GET /api/projects/{id}/items`` with them, opens an item's
details and history, and relabels it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import Response

from labella.service import auth, projects
from labella.service.browse import UNLABELED
from labella.web import router
from labella.web.common import page_user, render
from labella.web.dashboard import project_or_404

PAGE_SIZE = 50
SORTS = (("id", "Import order"), ("confidence", "Least confident first"),
         ("-confidence", "Most confident first"))
SPLITS = (("pool", "pool"), ("evaluation", "held out"))
SOURCES = (("human", "people"), ("model", "accepted from the model"), ("import", "imported"))
DIFFICULTIES = ("easy", "medium", "hard")
FILTER_KEYS = ("label", "prediction", "min_confidence", "max_confidence", "annotator", "split",
               "source", "difficulty", "q", "region", "sort")


@dataclass(frozen=True)
class Filters:
    """The browser's filters as the query string gives them (strings, empty when unset)."""

    values: dict[str, str]

    @classmethod
    def of(cls, request: Request) -> Filters:
        q = request.query_params
        return cls({k: q.get(k, "") for k in FILTER_KEYS})


@router.get("/projects/{project_id:int}/data")
def browse_page(request: Request, project_id: int,
                user: Annotated[auth.UserPublic, Depends(page_user)]) -> Any:
    p = project_or_404(request, user, project_id)
    if isinstance(p, Response):
        return p
    with request.app.state.ctx.session() as s:
        members = [m.username for m in projects.list_members(s, user, project_id)]
    return render(request, "browse.html", user=user, project=p, active="data",
                  filters=Filters.of(request).values, members=members, unlabeled=UNLABELED,
                  sorts=SORTS, splits=SPLITS, sources=SOURCES, difficulties=DIFFICULTIES,
                  page_size=PAGE_SIZE)
