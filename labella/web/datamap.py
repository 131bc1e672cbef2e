"""The data map: ``/projects/{id}/map``.

The page renders the frame (and says what to install when UMAP is missing);
``static/map.js`` starts the map job through ``/api/projects/{id}/map``, shows its
progress, draws the points with Plotly (``scattergl``), colours them, and acts on a
lasso selection: open the data browser on the region (``?region=x,y;...``, every item
inside it, drawn or not) or queue the selected unlabelled items for the signed-in user.
"""

from __future__ import annotations

import importlib.util
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import Response

from labella.api.security import MAP_POLICY
from labella.service import auth
from labella.service.datamap import MAX_POINTS
from labella.service.similar import MAX_BULK
from labella.web import router
from labella.web.common import page_user, render
from labella.web.dashboard import project_or_404

COLOUR_BY = (("label", "Label"), ("prediction", "Prediction"), ("confidence", "Confidence"),
             ("annotator", "Annotator"), ("split", "Split"))


@router.get("/projects/{project_id:int}/map")
def map_page(request: Request, project_id: int,
             user: Annotated[auth.UserPublic, Depends(page_user)]) -> Any:
    p = project_or_404(request, user, project_id)
    if isinstance(p, Response):
        return p
    try:
        has_umap = importlib.util.find_spec("umap") is not None
    except ValueError:  # an entry of None in sys.modules: blocked, as good as missing
        has_umap = False
    page = render(request, "map.html", user=user, project=p, active="map", has_umap=has_umap,
                  colour_by=COLOUR_BY, max_points=MAX_POINTS, max_queue=MAX_BULK)
    page.headers["Content-Security-Policy"] = MAP_POLICY  # WebGL traces need 'unsafe-eval'
    return page
