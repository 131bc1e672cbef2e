"""What every page shares: templates, the signed-in user, static files (Plotly from its package)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates

from labella import __version__
from labella.errors import LabellaError
from labella.service import auth

HERE = Path(__file__).parent
TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))
STATIC = HERE / "static"


class SignInRequired(Exception):
    """The page needs a signed-in user; the app redirects to /login."""


def page_user(request: Request) -> auth.UserPublic:
    """The signed-in user of a page request (session cookie or bearer token)."""
    from labella.api.deps import current_user

    try:
        return current_user(request, request.app.state.ctx)
    except LabellaError as exc:
        raise SignInRequired() from exc


def render(request: Request, template: str, *, user: auth.UserPublic | None, status: int = 200,
           **context: Any) -> Any:
    return TEMPLATES.TemplateResponse(request, template, {"user": user, "version": __version__,
                                                          **context}, status_code=status)


def plotly_js() -> Path:
    """plotly.min.js as shipped inside the ``plotly`` Python package (no CDN, no network)."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
