"""Plain functions that create real rows through the services (no fixtures files, no mocks)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlmodel import Session

from identity.clients import register_client
from identity.context import AppContext
from identity.db import session_scope, spanning_tenants
from identity.models.client import Client
from identity.models.tenant import Tenant
from identity.models.user import User
from identity.users import create_user
from tenants.service import create_tenant, define_scope

PASSWORD = "correct horse battery"
REDIRECT_URI = "https://app.example.com/callback"


@dataclass
class AppCredentials:
    client: Client
    client_id: str
    client_secret: str | None


@contextmanager
def inspect_db(ctx: AppContext) -> Iterator[Session]:
    """A session for a test to look at what is stored, in any tenant (the product's own queries must name
    their tenant; a test's inspection need not)."""
    with session_scope(ctx.sessions) as session:
        yield spanning_tenants(session)


def make_tenant(ctx: AppContext, slug: str = "acme", name: str = "Acme Corp", **settings: object) -> Tenant:
    with session_scope(ctx.sessions) as session:
        tenant = create_tenant(session, ctx.encryptor, slug=slug, name=name)
        for key, value in settings.items():
            setattr(tenant, key, value)
        session.add(tenant)
        return tenant


def make_client(
    ctx: AppContext,
    tenant: Tenant,
    *,
    name: str = "Acme Web",
    redirect_uris: list[str] | None = None,
    public: bool = False,
    grant_types: list[str] | None = None,
    scopes: list[str] | None = None,
    **metadata: object,
) -> AppCredentials:
    with session_scope(ctx.sessions) as session:
        new = register_client(
            session,
            tenant.id,
            ctx.hasher,
            name=name,
            redirect_uris=[REDIRECT_URI] if redirect_uris is None else redirect_uris,
            public=public,
            grant_types=grant_types,
            scopes=scopes,
            dev=True,
            **metadata,
        )
        return AppCredentials(new.client, new.client.id, new.client_secret)


def make_user(
    ctx: AppContext, tenant: Tenant, email: str = "alice@example.com", password: str = PASSWORD, name: str = "Alice"
) -> User:
    with session_scope(ctx.sessions) as session:
        return create_user(session, tenant.id, email=email, password=password, name=name)


def make_scope(ctx: AppContext, tenant: Tenant, name: str, description: str) -> None:
    with session_scope(ctx.sessions) as session:
        define_scope(session, tenant, name=name, description=description)
