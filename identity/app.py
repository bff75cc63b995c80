"""The app factory: ``create_app(settings)`` builds everything; nothing happens at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from identity.browser import Cookies
from identity.context import AppContext
from identity.errors import HANDLERS
from identity.logging import configure_logging
from identity.routes import root_routes, tenant_routes
from identity.settings import Settings
from identity.templating import STATIC_DIR, make_templates
from tenants.portal.routes import portal_routes, signup_routes
from tenants.portal.web import HANDLERS as PORTAL_HANDLERS


async def health(_request: object) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    configure_logging(settings)
    ctx = AppContext.build(settings, engine)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        if engine is None:  # an engine handed in (tests) belongs to the caller
            ctx.engine.dispose()

    app = Starlette(
        routes=[
            Route("/healthz", health),
            *root_routes,
            *signup_routes,
            Mount("/t/{tenant}", routes=[*tenant_routes, *portal_routes]),
            Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
        ],
        exception_handlers={**HANDLERS, **PORTAL_HANDLERS},  # type: ignore[arg-type]
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    app.state.templates = make_templates()
    app.state.cookies = Cookies(settings)
    app.state.password_limiter = anyio.CapacityLimiter(settings.password_hash_concurrency)
    return app
