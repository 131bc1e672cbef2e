"""The web application factory: ``create_app(settings)``.

The app owns one :class:`~labella.service.context.ServiceContext`: started
with the app (the local job worker and the loop's refitter run in the same
process) and closed with it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from labella import __version__
from labella.api import errors
from labella.api.routes import router
from labella.api.routes_accounts import router as accounts_router
from labella.api.routes_map import router as map_router
from labella.api.routes_review import router as review_router
from labella.api.routes_search import router as search_router
from labella.api.routes_teams import router as teams_router
from labella.api.security import LoginThrottle, SecurityHeaders
from labella.api.sessions import SessionCookies, load_secret
from labella.api.validation import RequestGuard
from labella.config import Settings
from labella.service.context import ServiceContext
from labella.web import install as install_web


def create_app(settings: Settings, *, ctx: ServiceContext | None = None,
               start: bool = True, recover_all: bool = False) -> FastAPI:
    """A FastAPI app serving ``settings``' data directory.

    Args:
        ctx: use this context instead of opening one (tests share one with the caller).
        start: start the context's background threads with the app.
        recover_all: at start, requeue or fail every job left running (after a crash); only
            for a server that is the sole job runner of its database.
    """
    own = ctx is None
    context = ctx or ServiceContext(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if start:
            context.start(recover_all=recover_all)
        try:
            yield
        finally:
            if own:
                context.close()

    app = FastAPI(title="Labella", version=__version__, lifespan=lifespan,
                  description="Active-learning labelling: label the items that teach the model "
                              "most. Authenticate with `Authorization: Bearer <token>`. Every "
                              "error reply is `{\"detail\": str, \"error\": ClassName}`, with "
                              "`fields` (one entry per bad field) on a 422.")
    app.state.ctx = context
    app.state.cookies = SessionCookies(settings, load_secret(settings.data_dir))
    app.state.login_throttle = LoginThrottle(settings)
    app.add_middleware(RequestGuard)
    app.add_middleware(SecurityHeaders)  # outermost: every reply, errors included
    errors.install(app)
    app.include_router(router)
    app.include_router(review_router)
    app.include_router(map_router)
    app.include_router(search_router)
    app.include_router(teams_router)
    app.include_router(accounts_router)
    install_web(app)
    return app
