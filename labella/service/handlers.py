"""Job handlers of the service, registered on a context's job registry."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from labella.jobs.runner import Handler, JobContext

if TYPE_CHECKING:
    from labella.service.context import ServiceContext

Runner = Callable[["ServiceContext", JobContext], dict[str, Any] | None]


def _bind(ctx: ServiceContext, fn: Runner) -> Handler:
    def handler(job: JobContext) -> dict[str, Any] | None:
        return fn(ctx, job)

    return handler


def register_handlers(ctx: ServiceContext) -> None:
    from labella.service.datamap import MAP_KIND, run_map
    from labella.service.featurising import run_featurise
    from labella.service.importing import run_import
    from labella.service.review import SCAN_KIND, run_scan
    from labella.service.training import run_retrain

    ctx.handlers.register("import", _bind(ctx, run_import), resumable=True)
    ctx.handlers.register("featurise", _bind(ctx, run_featurise), resumable=True)
    ctx.handlers.register("retrain", _bind(ctx, run_retrain), resumable=True)
    ctx.handlers.register(SCAN_KIND, _bind(ctx, run_scan), resumable=True)
    ctx.handlers.register(MAP_KIND, _bind(ctx, run_map), resumable=True)
