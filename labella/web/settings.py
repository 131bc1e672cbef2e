"""Project settings, members and export: ``/projects/{id}/settings``.

The page renders the current strategy, head and loop settings with the
choices and their descriptions (shared with the wizard), the members and the
export formats; ``static/settings.js`` saves through ``PATCH /api/projects/{id}``
(showing the API's validation errors next to the fields), manages members and
downloads exports. Project admins see the controls; annotators see the values.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import Response

from labella.export import FORMATS
from labella.service import auth, projects
from labella.web import router
from labella.web.common import page_user, render
from labella.web.dashboard import project_or_404
from labella.web.wizard import model_choices


@router.get("/projects/{project_id:int}/settings")
def settings_page(request: Request, project_id: int,
                  user: Annotated[auth.UserPublic, Depends(page_user)]) -> Any:
    p = project_or_404(request, user, project_id)
    if isinstance(p, Response):
        return p
    with request.app.state.ctx.session() as s:
        members = projects.list_members(s, user, project_id)
    return render(request, "settings.html", user=user, project=p, active="settings",
                  members=members, choices=model_choices(), exports=list(FORMATS.values()),
                  is_admin=p.role == "admin")
