"""``identity serve``: migrate (dev), provision the demo tenant (dev), run uvicorn."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time

import uvicorn
from sqlmodel import Session

from identity.clients import register_client
from identity.context import AppContext
from identity.crypto import random_token
from identity.db import session_scope, tenant_delete
from identity.http_protocol import SERVER_OPTIONS
from identity.logging import configure_logging, uvicorn_log_config
from identity.metrics_server import metrics_served
from identity.migrate import upgrade
from identity.models.team import OWNER
from identity.password_service import SOCKET_ENV, PasswordService
from identity.passwords import hash_password
from identity.users import create_user, find_user_by_email
from tenants.members import add_member
from tenants.resolution import find_tenant
from tenants.service import create_tenant

log = logging.getLogger("identity.serve")

DEMO_SLUG = "demo"
DEMO_EMAIL = "demo@example.com"
DEMO_CLIENT_NAME = "Demo app"
DEMO_REDIRECTS = ["http://127.0.0.1:8080/callback", "https://oauth.pstmn.io/v1/callback"]


def provision_demo(ctx: AppContext) -> dict[str, str]:
    """Dev only: a demo tenant, client and user. Fresh credentials every start (they are only printed)."""
    with session_scope(ctx.sessions) as session:
        tenant = find_tenant(session, DEMO_SLUG) or create_tenant(
            session, ctx.encryptor, slug=DEMO_SLUG, name="Demo Company"
        )
        client = _demo_client(session, ctx, tenant.id)
        password = random_token(9)
        user = find_user_by_email(session, tenant.id, DEMO_EMAIL)
        if user is None:
            user = create_user(session, tenant.id, email=DEMO_EMAIL, password=password, name="Demo User")
        else:
            user.password_hash = hash_password(password)
            session.add(user)
        add_member(session, tenant.id, user, OWNER)  # the demo user may also open the developer portal
        issuer = ctx.settings.issuer(tenant.slug)
        return {
            "issuer": issuer,
            "discovery": f"{issuer}/.well-known/openid-configuration",
            "portal": f"{issuer}/portal",
            "client_id": client[0],
            "client_secret": client[1],
            "redirect_uri": DEMO_REDIRECTS[0],
            "user_email": DEMO_EMAIL,
            "user_password": password,
        }


def _demo_client(session: Session, ctx: AppContext, tenant_id: str) -> tuple[str, str]:
    from sqlmodel import col  # noqa: PLC0415

    from identity.models.client import Client  # noqa: PLC0415

    # Recreated each start, so its secret can be printed (secrets are never stored in the clear).
    session.exec(tenant_delete(Client, tenant_id).where(col(Client.name) == DEMO_CLIENT_NAME))
    new = register_client(
        session,
        tenant_id,
        ctx.hasher,
        name=DEMO_CLIENT_NAME,
        redirect_uris=DEMO_REDIRECTS,
        grant_types=["authorization_code", "refresh_token", "client_credentials"],
        scopes=["openid", "profile", "email", "offline_access"],
        dev=True,
    )
    return new.client.id, new.client_secret or ""


def _start_password_service(processes: int) -> PasswordService | None:
    """The server's password queue; without it (no writable temporary directory, say) each worker verifies
    in its own threads, as a single worker does."""
    try:
        service = PasswordService(processes)
        service.start()
    except (OSError, RuntimeError) as error:
        log.warning("no password service (%s); each worker verifies passwords itself", error)
        return None
    os.environ[SOCKET_ENV] = service.socket_path  # the workers' settings read it
    return service


def _exit_cleanly(_signum: int, _frame: object) -> None:
    """SIGTERM is how an orchestrator asks us to stop. uvicorn shuts down gracefully, then raises the signal
    again under the handler it found (this one): the shutdown is done by then, so exit 0, not "killed"."""
    raise SystemExit(0)


def serve(ctx: AppContext, *, host: str, port: int, workers: int, as_json: bool) -> None:
    settings = ctx.settings
    configure_logging(settings)  # this process's own lines (the workers configure theirs)
    if not settings.is_prod:
        upgrade(settings.database_url)
        demo = provision_demo(ctx)
        if as_json:
            print(json.dumps({"demo": demo}))
        else:
            print(
                "\nDemo tenant ready (dev mode only; credentials change at every start):\n"
                f"  discovery:     {demo['discovery']}\n"
                f"  client_id:     {demo['client_id']}\n"
                f"  client_secret: {demo['client_secret']}\n"
                f"  redirect_uri:  {demo['redirect_uri']}\n"
                f"  user:          {demo['user_email']} / {demo['user_password']}\n"
                f"  portal:        {demo['portal']} (the demo user is its owner)\n"
                f"  sign-up:       {settings.public_url}/signup\n"
                f"  admin console: {settings.public_url}/admin (create an admin: identity admin create --email E "
                "--password-stdin)\n"
                f"  API:           {settings.public_url}/api/openapi.json\n",
                flush=True,
            )
    ctx.engine.dispose()
    os.environ.setdefault("IDENTITY_ENV", settings.env)
    # Several workers share one password queue (identity.password_service); one worker needs none.
    passwords = _start_password_service(settings.password_hash_concurrency) if workers > 1 else None
    signal.signal(signal.SIGTERM, _exit_cleanly)
    try:
        with metrics_served(settings, host):
            uvicorn.run(
                "identity.app:create_app",
                factory=True,
                host=host,
                port=port,
                workers=workers,
                proxy_headers=True,
                log_level="info",
                log_config=uvicorn_log_config(settings),
                timeout_graceful_shutdown=settings.shutdown_grace_seconds,
                **SERVER_OPTIONS,
            )
    except SystemExit as stop:
        if stop.code not in (0, None):
            raise
    finally:
        if passwords is not None:
            passwords.stop()
    _abandon_stuck_threads()


def _abandon_stuck_threads(within: float = 1.0) -> None:
    """A request that outlived the grace leaves its thread behind (blocked on the database, say), and the
    interpreter would wait for it at exit: exit at once instead. Otherwise exit normally (atexit runs)."""
    deadline = time.monotonic() + within
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                logging.shutdown()
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(0)
