"""The app factory: ``create_app(settings)`` builds everything; nothing happens at import time."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from identity.browser import Cookies
from identity.context import AppContext
from identity.errors import HANDLERS
from identity.fastlane import FastLane, lanes_of
from identity.invalidation import Listener
from identity.logging import configure_logging
from identity.logout_delivery import Wakeup, deliver_forever
from identity.metrics import process_exiting, publish_forever
from identity.observe import Observed
from identity.password_service import PasswordVerifier
from identity.readiness import Readiness, ready
from identity.routes import root_routes, tenant_routes
from identity.settings import Settings
from identity.templating import STATIC_DIR, make_templates
from tenants.admin.routes import admin_routes
from tenants.admin.web import HANDLERS as ADMIN_HANDLERS
from tenants.api.routes import root_api_routes, tenant_api_routes
from tenants.portal.routes import portal_routes, signup_routes
from tenants.portal.web import HANDLERS as PORTAL_HANDLERS

log = logging.getLogger("identity.app")

SHUTDOWN_CLEANUP_SECONDS = 3.0  # the lifespan's own cleanup, after uvicorn's grace for requests in flight


async def health(_request: object) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def _flush_usage(ctx: AppContext) -> None:
    try:
        ctx.usage.flush(ctx.sessions)
    except Exception:  # the database is away: the counts wait for the next flush
        log.warning("could not store token usage counts", exc_info=True)


async def _flush_usage_forever(ctx: AppContext) -> None:
    while True:
        await anyio.sleep(ctx.settings.usage_flush_seconds)
        await anyio.to_thread.run_sync(_flush_usage, ctx)


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    configure_logging(settings)
    ctx = AppContext.build(settings, engine)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # Other processes' changes reach this one's caches through PostgreSQL (SQLite: one process).
        listener = Listener(ctx.engine, ctx.directory) if ctx.engine.dialect.name == "postgresql" else None
        if listener is not None:
            await anyio.to_thread.run_sync(listener.start)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_flush_usage_forever, ctx)
            tasks.start_soon(deliver_forever, ctx, _app.state.logout_wakeup)
            tasks.start_soon(publish_forever, ctx.engine)
            # Everything built at startup (modules, templates, the app) stays for the process's life: moved
            # out of the collector's generations, full collections no longer walk it (shorter pauses, p99).
            gc.freeze()
            yield
            tasks.cancel_scope.cancel()
        # Bounded: with the database away the last flush would wait for its connect timeout; the process
        # must still exit within its grace period (what it could not store is lost, as in a crash).
        with anyio.move_on_after(SHUTDOWN_CLEANUP_SECONDS):
            await anyio.to_thread.run_sync(_flush_usage, ctx, abandon_on_cancel=True)
            if listener is not None:
                await anyio.to_thread.run_sync(listener.stop, abandon_on_cancel=True)
        if engine is None:  # an engine handed in (tests) belongs to the caller
            ctx.engine.dispose()
        process_exiting()

    app = Starlette(
        routes=[
            Route("/healthz", health),
            Route("/readyz", ready),
            *root_routes,
            *signup_routes,
            *root_api_routes,
            Mount("/admin", routes=admin_routes),
            Mount("/t/{tenant}", routes=[*tenant_routes, *portal_routes, *tenant_api_routes]),
            Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
        ],
        # Observed first: it sees every request, the fast lane's answers included.
        middleware=[Middleware(Observed, settings=settings), Middleware(FastLane, lanes=lanes_of(tenant_routes))],
        exception_handlers={**HANDLERS, **PORTAL_HANDLERS, **ADMIN_HANDLERS},
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    app.state.readiness = Readiness(ctx)
    app.state.templates = make_templates()
    app.state.cookies = Cookies(settings)
    app.state.logout_wakeup = Wakeup()  # identity.web.logout_queued sets it
    app.state.passwords = PasswordVerifier(settings.password_hash_concurrency, settings.password_socket)
    return app
