"""Server-rendered pages (Jinja2) with small vanilla JS modules; charts with Plotly.

Pages render the frame and the data they need; the JS modules in ``static/``
talk to the REST API (``/api``) with the session cookie. Every module in this
package adds its routes to :data:`router` through :func:`include`.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from labella.web.common import STATIC, SignInRequired, plotly_js

router = APIRouter(include_in_schema=False)


@router.get("/static/plotly.min.js")
def plotly() -> FileResponse:
    return FileResponse(plotly_js(), media_type="text/javascript",
                        headers={"Cache-Control": "public, max-age=604800"})


@router.get("/favicon.ico")
def favicon() -> FileResponse:
    return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")


def install(app: FastAPI) -> None:
    """Mount the pages, the static files and the sign-in redirect on ``app``."""
    from labella.web import pages  # noqa: F401  (registers the page routes)

    async def to_login(request: Request, exc: Exception) -> Response:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)

    app.add_exception_handler(SignInRequired, to_login)
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
