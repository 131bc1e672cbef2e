"""The label-error review mode of the labelling view: ``/projects/{id}/review``.

The page renders the frame; ``static/review.js`` starts a scan, lists the suspected
errors (current label and the model's alternative) one at a time, and answers each with
the label-error API (keep the label, take the model's, or pick another).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from labella.service import auth, projects
from labella.web import router
from labella.web.common import page_user, render
from labella.web.label import MAX_KEYED_LABELS


@router.get("/projects/{project_id}/review")
def review_page(request: Request, project_id: int,
                user: Annotated[auth.UserPublic, Depends(page_user)]) -> Any:
    ctx = request.app.state.ctx
    with ctx.session() as s:
        p = projects.get_project(s, user, project_id)
    config = {"project_id": p.id, "multi_label": p.multi_label, "labels": list(p.labels)}
    return render(request, "review.html", user=user, project=p, config=config,
                  keyed=MAX_KEYED_LABELS)
