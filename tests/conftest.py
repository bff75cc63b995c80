"""Shared fixtures: a migrated database per test (SQLite file, or PostgreSQL when
IDENTITY_TEST_DATABASE_URL is set), the app built from settings, in-process and live HTTP clients."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy import text
from sqlmodel import SQLModel
from starlette.testclient import TestClient

import identity.models  # noqa: F401
from identity.app import create_app
from identity.context import AppContext
from identity.db import make_engine
from identity.http_protocol import SERVER_OPTIONS
from identity.migrate import upgrade
from identity.settings import Settings

PG_URL = os.environ.get("IDENTITY_TEST_DATABASE_URL", "")
PUBLIC_URL = "http://127.0.0.1:8000"


CHROMIUM = "/usr/bin/chromium"  # Debian's package (never a browser download)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",  # this machine has no network: no background calls to fail
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    no_pg = pytest.mark.skip(reason="needs PostgreSQL: set IDENTITY_TEST_DATABASE_URL (.ci/run does)")
    no_browser = pytest.mark.skip(reason=f"needs Debian chromium at {CHROMIUM} (scripts/test.sh installs it as root)")
    for item in items:
        if "postgres" in item.keywords and not PG_URL.startswith("postgresql"):
            item.add_marker(no_pg)
        if "browser" in item.keywords and not os.path.exists(CHROMIUM):
            item.add_marker(no_browser)


def worker_pg_url() -> str:
    """With pytest-xdist, each worker gets its own database (``test_gw0``, …) next to the given one."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return PG_URL
    base, _, name = PG_URL.rpartition("/")
    database = f"{name}_{worker}"
    engine = make_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": database}).first()
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{database}"'))
    engine.dispose()
    return f"{base}/{database}"


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """SQLite: one migrated file, copied per test. PostgreSQL: migrate once, truncate per test."""
    if PG_URL:
        url = worker_pg_url()
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
        upgrade(url)
        return url
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return str(path)


@pytest.fixture
def database_url(migrated_template: str, tmp_path: Path) -> Iterator[str]:
    if PG_URL:
        engine = make_engine(migrated_template)
        tables = ", ".join(t.name for t in SQLModel.metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} CASCADE"))
        engine.dispose()
        yield migrated_template
        return
    target = tmp_path / "identity.db"
    shutil.copy(migrated_template, target)
    yield f"sqlite:///{target}"


def make_settings(database_url: str, public_url: str = PUBLIC_URL, **overrides: object) -> Settings:
    # No in-process cache by default: tests change rows and look at once (tests/identity/test_cache.py
    # covers the cache itself).
    overrides.setdefault("cache_seconds", 0)
    # Token usage is flushed explicitly by the tests that look at it (no background writes mid-test).
    overrides.setdefault("usage_flush_seconds", 3600)
    return Settings(
        database_url=database_url, public_url=public_url, secret_key="test-secret-key-" + "x" * 32, **overrides
    )  # type: ignore[arg-type]


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
def app(settings: Settings):  # type: ignore[no-untyped-def]
    application = create_app(settings)
    yield application
    application.state.ctx.engine.dispose()


@pytest.fixture
def ctx(app) -> AppContext:  # type: ignore[no-untyped-def]
    context: AppContext = app.state.ctx
    return context


@pytest.fixture
def http(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app, base_url=PUBLIC_URL, follow_redirects=False) as client:
        yield client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    def __init__(self, app, url: str, server: uvicorn.Server) -> None:  # type: ignore[no-untyped-def]
        self.app, self.url, self.server = app, url, server

    @property
    def ctx(self) -> AppContext:
        return self.app.state.ctx  # type: ignore[no-any-return]


@pytest.fixture
def live_server(database_url: str) -> Iterator[LiveServer]:
    """The app on a real uvicorn, served as ``identity serve`` serves it, on a free loopback port, for
    third-party clients and the browser."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    application = create_app(make_settings(database_url, public_url=url))
    config = uvicorn.Config(
        application, host="127.0.0.1", port=port, log_level="warning", lifespan="on", **SERVER_OPTIONS
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("live server did not start")
        time.sleep(0.02)
    yield LiveServer(application, url, server)
    server.should_exit = True
    thread.join(timeout=5)
    application.state.ctx.engine.dispose()


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    """Headless Chromium for the browser and interop tests (one per test module)."""
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 - only the browser tests need it

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
