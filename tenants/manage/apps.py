"""Applications (OAuth clients): register, change, rotate the secret, delete."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlmodel import Session

from identity.clients import (
    ClientError,
    ClientSpec,
    NewClient,
    delete_client,
    find_client,
    register_client,
    rotate_secret,
    update_client,
)
from identity.context import AppContext
from identity.models.client import Client
from identity.models.tenant import Tenant
from tenants import audit
from tenants.manage.errors import Invalid, Missing


def get_app(session: Session, tenant: Tenant, client_id: str) -> Client:
    """One of the tenant's apps (the portal's own first-party client is not one to manage)."""
    client = find_client(session, tenant.id, client_id)
    if client is None or client.first_party:
        raise Missing(f"no application {client_id!r}")
    return client


def create_app(
    session: Session, ctx: AppContext, tenant: Tenant, actor: audit.Actor, spec: ClientSpec, **details: Any
) -> NewClient:
    """``details``: more for the audit event (how a dynamic registration was allowed)."""
    fields = asdict(spec)
    for name in ("name", "redirect_uris", "public", "grant_types", "scopes"):
        fields.pop(name)
    try:
        new = register_client(
            session,
            tenant.id,
            ctx.hasher,
            name=spec.name,
            redirect_uris=spec.redirect_uris,
            public=spec.public,
            grant_types=spec.grant_types,
            scopes=spec.scopes,
            dev=not ctx.settings.is_prod,
            **fields,
        )
    except ClientError as error:
        raise Invalid(str(error), error.fields) from error
    audit.record(
        session,
        tenant.id,
        actor,
        "client.created",
        new.client.id,
        name=new.client.name,
        app_type=new.client.app_type,
        **details,
    )
    return new


def update_app(
    session: Session, ctx: AppContext, tenant: Tenant, actor: audit.Actor, client: Client, spec: ClientSpec
) -> Client:
    try:
        update_client(session, client, spec, dev=not ctx.settings.is_prod)
    except ClientError as error:
        session.expire(client)  # nothing of the refused edit stays on the row
        raise Invalid(str(error), error.fields) from error
    audit.record(session, tenant.id, actor, "client.updated", client.id, name=client.name)
    return client


def rotate_app_secret(
    session: Session, ctx: AppContext, tenant: Tenant, actor: audit.Actor, client: Client, grace_seconds: int
) -> str:
    try:
        secret = rotate_secret(session, client, ctx.hasher, grace_seconds=grace_seconds)
    except ClientError as error:
        raise Invalid(str(error), {"grace_seconds": [str(error)]}) from error
    audit.record(session, tenant.id, actor, "client.secret_rotated", client.id, grace_seconds=grace_seconds)
    return secret


def delete_app(session: Session, tenant: Tenant, actor: audit.Actor, client: Client) -> None:
    client_id, name = client.id, client.name
    delete_client(session, client)
    audit.record(session, tenant.id, actor, "client.deleted", client_id, name=name)
