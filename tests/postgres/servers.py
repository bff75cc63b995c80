"""``identity serve`` as a subprocess on the test's PostgreSQL database, each named in pg_stat_activity by
its own ``application_name`` (so a test can find, and kill, exactly that server's sessions), and an HTTP
client that talks to one of them while the URLs say the one public address (as behind a load balancer)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass

import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url

from identity.settings import Settings
from tests.conftest import PUBLIC_URL, free_port


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    name: str  # its sessions' application_name (the listener's carries it too)
    metrics_port: int

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, timeout: float = 15) -> httpx.Client:
        return httpx.Client(base_url=PUBLIC_URL, transport=ToPort(self.port), timeout=timeout)


def start(settings: Settings, name: str, *, database_port: int | None = None, **env: str) -> Server:
    """A dev-mode server (it migrates and provisions the demo tenant as it starts); returns once it answers."""
    url = make_url(settings.database_url).update_query_dict({"application_name": name})
    if database_port is not None:  # through a proxy the test controls
        url = url.set(host="127.0.0.1", port=database_port)
    port, metrics_port = free_port(), free_port()
    environ = {
        **os.environ,
        "IDENTITY_DATABASE_URL": url.render_as_string(hide_password=False),
        "IDENTITY_SECRET_KEY": settings.secret_key,  # the test's keys sign and decrypt on every server
        "IDENTITY_PUBLIC_URL": PUBLIC_URL,
        "IDENTITY_USAGE_FLUSH_SECONDS": "3600",
        "IDENTITY_METRICS_PORT": str(metrics_port),  # its own: servers side by side never share one
        **{f"IDENTITY_{key.upper()}": value for key, value in env.items()},
    }
    workers = environ.pop("IDENTITY_WORKERS", "1")
    command = [sys.executable, "-m", "identity.cli", "serve", "--port", str(port), "--workers", workers]
    server = Server(subprocess.Popen(command, env=environ, stdout=subprocess.DEVNULL), port, name, metrics_port)
    wait_up(server)
    return server


def wait_up(server: Server, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        assert server.process.poll() is None, "server exited"
        try:
            if httpx.get(server.base + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("server did not come up")


def stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


class ToPort(httpx.HTTPTransport):
    """Every request of this client goes to one server, whatever host and port its URL names."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self.port = port

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(port=self.port)
        return super().handle_request(request)


def poll(check, within: float, interval: float = 0.1):  # type: ignore[no-untyped-def]
    """``check()`` until it returns something truthy (returned), or fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s: {check}")
        time.sleep(interval)


def has_session(ctx, name: str, condition: str) -> bool:  # type: ignore[no-untyped-def]
    """Does the server named ``name`` have a database session matching ``condition`` (SQL on pg_stat_activity)?"""
    query = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        f" AND application_name = :name AND {condition}"
    )
    with ctx.engine.connect() as conn:
        return bool(conn.execute(text(query), {"name": name}).scalar())
