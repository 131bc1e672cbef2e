"""A project's home, the dashboard: ``/projects/{id}``.

The page renders the frame and the project's facts; ``static/dashboard.js``
fills in the numbers, charts (``static/charts.js``, Plotly) and jobs from the
REST API and refreshes them every few seconds. :func:`project_or_404` is the
member check every project page shares.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response

from labella.service import auth, projects
from labella.service.errors import NotFoundError
from labella.service.projects import ProjectPublic
from labella.web import router
from labella.web.common import TEMPLATES, page_user, render

_NOT_FOUND = """{% extends "base.html" %}
{% block title %}Not found · Labella{% endblock %}
{% block main %}<section class="narrow"><h1>Not found</h1>
<p>There is no project {{ project_id }}, or you are not one of its members.</p>
<p><a href="/">Back to your projects</a></p></section>{% endblock %}"""


def project_or_404(request: Request, user: auth.UserPublic, project_id: int
                   ) -> ProjectPublic | Response:
    """The project as the caller may see it, or a 404 page when they are not a member
    (the service does not reveal whether the project exists)."""
    ctx = request.app.state.ctx
    try:
        with ctx.session() as s:
            return projects.get_project(s, user, project_id)
    except NotFoundError:
        html = TEMPLATES.env.from_string(_NOT_FOUND).render(
            request=request, user=user, project_id=project_id)
        return HTMLResponse(html, status_code=404)


@router.get("/projects/{project_id:int}")
def dashboard_page(request: Request, project_id: int,
                   user: Annotated[auth.UserPublic, Depends(page_user)]) -> Any:
    p = project_or_404(request, user, project_id)
    if isinstance(p, Response):
        return p
    return render(request, "dashboard.html", user=user, project=p, active="dashboard")
