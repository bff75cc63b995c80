"""The tenant's own scopes: define, describe, delete (refused while an app may request the scope)."""

from __future__ import annotations

from sqlmodel import Session

from identity.models.tenant import Tenant, TenantScope
from tenants import audit
from tenants.manage.errors import Conflict, Invalid, Missing
from tenants.service import ScopeError, create_scope, delete_scope, describe_scope, find_scope


def get_scope(session: Session, tenant: Tenant, name: str) -> TenantScope:
    scope = find_scope(session, tenant.id, name)
    if scope is None:
        raise Missing(f"no scope {name!r}")
    return scope


def define_scope(session: Session, tenant: Tenant, actor: audit.Actor, *, name: str, description: str) -> TenantScope:
    try:
        scope = create_scope(session, tenant, name=name, description=description)
    except ScopeError as error:
        kind = Conflict if "already exists" in str(error) else Invalid
        raise kind(str(error), error.fields) from error
    audit.record(session, tenant.id, actor, "scope.created", scope.name, description=scope.description)
    return scope


def redescribe_scope(
    session: Session, tenant: Tenant, actor: audit.Actor, scope: TenantScope, description: str
) -> TenantScope:
    previous = scope.description
    try:
        describe_scope(session, tenant, scope.name, description)
    except ScopeError as error:
        session.expire(scope)
        raise Invalid(str(error), error.fields or {"description": [str(error)]}) from error
    if scope.description != previous:
        audit.record(
            session,
            tenant.id,
            actor,
            "scope.updated",
            scope.name,
            description=scope.description,
            previous_description=previous,
        )
    return scope


def remove_scope(session: Session, tenant: Tenant, actor: audit.Actor, scope: TenantScope) -> None:
    name, description = scope.name, scope.description
    try:
        delete_scope(session, tenant, name)
    except ScopeError as error:
        raise Conflict(str(error), {"name": [str(error)]}) from error
    audit.record(session, tenant.id, actor, "scope.deleted", name, description=description)
