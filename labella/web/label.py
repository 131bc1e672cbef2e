"""The keyboard-first labelling view: ``/projects/{id}/label``.

The page renders the frame (labels, shortcuts, progress as of the request);
``static/label.js`` does the rest against the REST API: a prefetched queue of
items, label-and-advance on one key press, and an outbox of answers kept in
``localStorage`` until the server acknowledges them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from labella.service import auth, projects
from labella.service.hotkeys import project_label_keys
from labella.web import router
from labella.web.common import page_user, render

MAX_KEYED_LABELS = 10
"""Number keys 1-9 and 0; labels may also carry their own key (``settings.hotkeys``, see
:mod:`labella.service.hotkeys`); every label can be reached by typing to filter (``/``)."""


@dataclass(frozen=True)
class LabelPage:
    """What ``label.html`` and ``label.js`` need about the project and the caller."""

    project_id: int
    name: str
    task: str
    multi_label: bool
    labels: list[str]
    n_pool: int
    n_labeled: int
    model_version: int
    username: str
    keys: dict[str, str]
    """Each label's key (labels without one are reached by the filter)."""

    def config(self) -> dict[str, Any]:
        """The JSON the JS module reads at start (embedded in the page, never executed)."""
        return {"project_id": self.project_id, "task": self.task,
                "multi_label": self.multi_label, "labels": self.labels,
                "n_pool": self.n_pool, "n_labeled": self.n_labeled,
                "model_version": self.model_version, "user": self.username, "keys": self.keys}


@router.get("/projects/{project_id}/label")
def label_page(request: Request, project_id: int,
               user: Annotated[auth.UserPublic, Depends(page_user)]) -> Any:
    ctx = request.app.state.ctx
    with ctx.session() as s:
        p = projects.get_project(s, user, project_id)
    keys = project_label_keys(ctx, p.id, list(p.labels), p.settings.get("hotkeys"))
    view = LabelPage(p.id, p.name, p.task, p.multi_label, list(p.labels), p.n_pool,
                     p.n_labeled, p.model_version, user.username, keys)
    return render(request, "label.html", user=user, view=view, keyed=MAX_KEYED_LABELS)
