"""The disagreement review queue: ``/projects/{id}/disagreements`` (reviewers and admins).

The page renders the frame; ``static/disagreements.js`` lists the items whose annotators
disagree, one at a time with every annotator's answer and the majority vote, and sets the
final label with the resolve API (Enter takes the majority, a number key picks a label).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import Response

from labella.service import auth
from labella.web import router
from labella.web.common import page_user, render
from labella.web.dashboard import project_or_404
from labella.web.label import MAX_KEYED_LABELS


@router.get("/projects/{project_id}/disagreements")
def disagreements_page(request: Request, project_id: int,
                       user: Annotated[auth.UserPublic, Depends(page_user)]) -> Any:
    p = project_or_404(request, user, project_id)
    if isinstance(p, Response):
        return p
    config = {"project_id": p.id, "multi_label": p.multi_label, "labels": list(p.labels)}
    return render(request, "disagreements.html", user=user, project=p, config=config,
                  keyed=MAX_KEYED_LABELS)
