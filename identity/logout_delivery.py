"""Delivering back-channel logout tokens (OIDC Back-Channel Logout 1.0 §2.5) from the outbox.

Each replica runs ``deliver_forever``: woken when a logout commits, and every few seconds anyway (another
replica's logouts, retries). A due row is leased with one conditional ``UPDATE`` before it is sent, so two
replicas never send it at the same time. The token is signed at each attempt (a retry never carries an
expired one), POSTed as ``logout_token`` with a short timeout and no redirects followed; 200 or 204 is
delivered, anything else is retried with backoff, and after ``MAX_ATTEMPTS`` the row is ``failed``.

In prod a URI that resolves to a private, loopback or link-local address is refused
(``identity.outbound``), so a registered client cannot make the provider call into its own network.
"""

from __future__ import annotations

import asyncio
import logging

import anyio
import httpx
from sqlmodel import Session, col, select

from identity.clock import now
from identity.context import AppContext
from identity.db import across_tenants, tenant_update
from identity.models.grant import LogoutDelivery
from identity.models.tenant import Tenant
from identity.outbound import address_problem
from identity.tokens import Signer

log = logging.getLogger("identity.logout")

MAX_ATTEMPTS = 6
BACKOFF = (5, 30, 120, 600, 1800)  # seconds before attempts 2, 3, …: about 43 minutes in all
LEASE_SECONDS = 60  # a leased row another replica may take over if its sender died
TIMEOUT_SECONDS = 5.0
POLL_SECONDS = 5.0
BATCH = 20


class Wakeup:
    """Set by a request whose transaction queued a delivery, so it goes now rather than at the next poll.
    Each running sender registers its own event (a lifespan may run on another loop: tests do that)."""

    def __init__(self) -> None:
        self._waiting: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    def set(self) -> None:
        for loop, event in list(self._waiting):
            loop.call_soon_threadsafe(event.set)

    async def wait(self, timeout: float) -> None:
        entry = (asyncio.get_running_loop(), asyncio.Event())
        self._waiting.add(entry)
        try:
            with anyio.move_on_after(timeout):
                await entry[1].wait()
        finally:
            self._waiting.discard(entry)


def lease_due(session: Session, limit: int = BATCH) -> list[LogoutDelivery]:
    """Due pending rows of every tenant, each leased to this process (another replica's lease is respected)."""
    t = now()
    due = session.exec(
        across_tenants(  # one outbox for the whole platform; each row is then changed by its tenant's key
            select(LogoutDelivery)
            .where(col(LogoutDelivery.status) == "pending", col(LogoutDelivery.next_attempt_at) <= t)
            .order_by(col(LogoutDelivery.next_attempt_at))
            .limit(limit)
        )
    ).all()
    leased = []
    for row in due:
        taken = session.exec(
            tenant_update(LogoutDelivery, row.tenant_id)
            .where(
                col(LogoutDelivery.id) == row.id,
                col(LogoutDelivery.status) == "pending",
                col(LogoutDelivery.next_attempt_at) == row.next_attempt_at,
            )
            .values(next_attempt_at=t + LEASE_SECONDS)
        )
        if taken.rowcount:
            leased.append((row.tenant_id, row.id))
    session.commit()
    return [session.get_one(LogoutDelivery, key) for key in leased]


def record(session: Session, row: LogoutDelivery, error: str | None) -> None:
    """The attempt's outcome: delivered, retried later, or failed for good."""
    row.attempts += 1
    if error is None:
        row.status, row.delivered_at, row.last_error = "delivered", now(), ""
    elif row.attempts >= MAX_ATTEMPTS:
        row.status, row.last_error = "failed", error[:500]
    else:
        row.next_attempt_at, row.last_error = now() + BACKOFF[row.attempts - 1], error[:500]
    session.add(row)


def send(client: httpx.Client, uri: str, token: str) -> str | None:
    """POST the logout token (§2.5); None when the RP accepted it, else why not."""
    try:
        response = client.post(uri, data={"logout_token": token})
    except httpx.HTTPError as error:
        return f"{type(error).__name__}: {error}"[:500]
    if response.status_code in {200, 204}:
        return None
    return f"HTTP {response.status_code}"


def deliver_due(ctx: AppContext) -> int:
    """One round: lease, sign, send and record what is due; returns how many were attempted."""
    with ctx.sessions() as session:
        keys = [(row.tenant_id, row.id) for row in lease_due(session)]
    if not keys:
        return 0
    with httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False) as http:
        for key in keys:
            with ctx.sessions() as session:
                row = session.get(LogoutDelivery, key)
                if row is None:  # its client was deleted meanwhile
                    continue
                error = _attempt(ctx, session, http, row)
                record(session, row, error)
                session.commit()
            if error:
                log.info("back-channel logout not delivered", extra={"uri": row.uri, "error": error})
    return len(keys)


def _attempt(ctx: AppContext, session: Session, http: httpx.Client, row: LogoutDelivery) -> str | None:
    tenant = session.get(Tenant, row.tenant_id)
    if tenant is None:
        return "the tenant was deleted"
    problem = address_problem(row.uri, prod=ctx.settings.is_prod)
    if problem is not None:
        return problem
    ring = ctx.keys.get(session, tenant)
    signer = Signer(ctx.settings.issuer(tenant.slug), ring, tenant.access_token_alg, tenant.id_token_alg)
    return send(http, row.uri, signer.logout_token(client_id=row.client_id, subject=row.user_id, sid=row.sid))


async def deliver_forever(ctx: AppContext, wakeup: Wakeup) -> None:
    while True:
        try:
            await anyio.to_thread.run_sync(deliver_due, ctx)
        except Exception:  # the database is away: try again at the next round
            log.warning("back-channel logout delivery round failed", exc_info=True)
        await wakeup.wait(POLL_SECONDS)
