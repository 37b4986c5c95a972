"""Builds the one ASGI application: core routes, the shared login, every dialect."""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from crucible import shared_login
from crucible.core.http import STANDARD_MESSAGES, ErrorFormats
from crucible.core.services import Services, build_services
from crucible.dialects import bender, bonsai, morpheo, polyaxon, streamingbandit
from crucible.settings import Settings

log = logging.getLogger(__name__)


async def _run_hooks(hooks: list) -> None:  # type: ignore[type-arg]
    for hook in hooks:
        result = hook()
        if inspect.isawaitable(result):
            await result


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    settings = settings or Settings()
    services = services or build_services(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await _run_hooks(services.startup_hooks)
        services.scheduler.start()
        try:
            yield
        finally:
            await services.scheduler.stop()
            await _run_hooks(list(reversed(services.shutdown_hooks)))

    app = FastAPI(
        title="Crucible",
        version="0.1.0",
        description="One self-hosted server for experiments that learn from feedback.",
        redirect_slashes=False,
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.services = services
    error_formats = ErrorFormats([])
    app.state.error_formats = error_formats

    @app.exception_handler(StarletteHTTPException)
    async def routing_error(request: Request, error: StarletteHTTPException) -> Response:
        message = STANDARD_MESSAGES.get(error.status_code, str(error.detail))
        return error_formats.respond(request, error.status_code, message)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, error: Exception) -> Response:
        log.exception("unhandled error", extra={"path": request.url.path, "method": request.method})
        return error_formats.respond(request, 500, "Internal server error.")

    @app.get("/healthz", tags=["core"])
    def healthz() -> JSONResponse:
        with services.db.read() as session:
            session.connection().exec_driver_sql("SELECT 1")
        return JSONResponse({"status": "ok"})

    shared_login.install(app, services)
    bender.install(app, services, error_formats)
    morpheo.install(app, services, error_formats)
    streamingbandit.install(app, services, error_formats)
    polyaxon.install(app, services, error_formats)
    bonsai.install(app, services, error_formats)
    return app
