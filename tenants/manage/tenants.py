"""The platform's operations on tenants: create (with the owner's invitation), rename, suspend, resume,
delete; and the overview the admin console lists.

Platform actions are recorded in the platform tenant's audit log (target: the tenant's slug), so the
record of a deleted tenant outlives its rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete as sql_delete
from sqlalchemy import func, or_
from sqlmodel import Session, SQLModel, col, select

from identity.changes import announce, tenant_changed
from identity.clock import now
from identity.crypto import KeyEncryptor
from identity.keys import signing_algs
from identity.models.client import Client
from identity.models.interaction import BrowserSession
from identity.models.team import OWNER
from identity.models.tenant import ACTIVE, PLATFORM, PLATFORM_SLUG, SUSPENDED, Tenant, TenantScope, TokenUsage
from identity.models.user import User
from identity.users import email_problem
from tenants import audit
from tenants.manage.errors import Conflict, Invalid, Missing, NotAllowed
from tenants.members import NewInvitation, invite
from tenants.resolution import find_tenant
from tenants.service import create_tenant, define_scope
from tenants.signup import slug_problem

REASON_MAX = 500
NAME_MAX = 200
PLATFORM_SCOPES = {
    "admin:tenants": "Create, change, suspend and delete tenants",
    "admin:audit": "Read the platform-wide audit log",
}


def platform_tenant(session: Session, encryptor: KeyEncryptor) -> Tenant:
    """The platform's own tenant (created on first use): it issues the tokens of platform API clients."""
    tenant = session.exec(select(Tenant).where(Tenant.kind == PLATFORM)).first()
    if tenant is None:
        tenant = create_tenant(session, encryptor, slug=PLATFORM_SLUG, name="Platform")
        tenant.kind = PLATFORM
        tenant.allowed_grant_types = ["client_credentials"]
        session.add(tenant)
        session.flush()
    for name, description in PLATFORM_SCOPES.items():
        if session.get(TenantScope, (tenant.id, name)) is None:
            define_scope(session, tenant, name=name, description=description)
    return tenant


def get_customer_tenant(session: Session, slug: str) -> Tenant:
    tenant = find_tenant(session, slug)
    if tenant is None or tenant.is_platform:
        raise Missing(f"no tenant {slug!r}")
    return tenant


def _record(
    session: Session, encryptor: KeyEncryptor, actor: audit.Actor, action: str, slug: str, **details: object
) -> None:
    audit.record(session, platform_tenant(session, encryptor).id, actor, action, slug, **details)


@dataclass(frozen=True)
class CreatedTenant:
    tenant: Tenant
    invitation: NewInvitation | None  # the owner's, when an owner email was given


def create_customer_tenant(
    session: Session, encryptor: KeyEncryptor, actor: audit.Actor, *, slug: str, name: str, owner_email: str = ""
) -> CreatedTenant:
    errors: dict[str, list[str]] = {}
    slug, name, owner_email = slug.strip(), name.strip(), owner_email.strip()
    if problem := slug_problem(session, slug):
        errors["slug"] = [problem]
    if not name:
        errors["name"] = ["Enter the organisation's name."]
    elif len(name) > NAME_MAX or any(ord(ch) < 0x20 for ch in name):
        errors["name"] = [f"Use at most {NAME_MAX} printable characters."]
    if owner_email and (problem := email_problem(owner_email)):
        errors["owner_email"] = [problem]
    if errors:
        kind = Conflict if errors.get("slug") == ["This name is taken."] and len(errors) == 1 else Invalid
        raise kind("; ".join(m for ms in errors.values() for m in ms), errors)
    tenant = create_tenant(session, encryptor, slug=slug, name=name)
    invitation = None
    if owner_email:
        invitation = invite(session, tenant.id, email=owner_email, role=OWNER, invited_by=actor.label[:32])
    _record(session, encryptor, actor, "tenant.created", slug, name=name, owner_invited=owner_email or None)
    return CreatedTenant(tenant, invitation)


def rename_tenant(session: Session, encryptor: KeyEncryptor, actor: audit.Actor, tenant: Tenant, name: str) -> Tenant:
    name = name.strip()
    if not name or len(name) > NAME_MAX or any(ord(ch) < 0x20 for ch in name):
        raise Invalid(
            f"Enter the organisation's name (at most {NAME_MAX} printable characters).", {"name": ["invalid name"]}
        )
    if name != tenant.name:
        previous, tenant.name = tenant.name, name
        session.add(tenant)
        session.flush()
        _record(session, encryptor, actor, "tenant.renamed", tenant.slug, name=name, previous_name=previous)
    return tenant


def choose_access_token_alg(
    session: Session, encryptor: KeyEncryptor, actor: audit.Actor, tenant: Tenant, alg: str
) -> Tenant:
    """The algorithm the tenant's JWT access tokens are signed with: one it has a current key for."""
    if alg not in signing_algs(session, tenant):
        raise Invalid(f"tenant has no {alg} keys", {"access_token_alg": [f"tenant has no {alg} keys"]})
    if alg != tenant.access_token_alg:
        previous, tenant.access_token_alg = tenant.access_token_alg, alg
        session.add(tenant)
        session.flush()
        _record(session, encryptor, actor, "tenant.access_token_alg_changed", tenant.slug, alg=alg, previous=previous)
    return tenant


def _not_platform(tenant: Tenant) -> None:
    if tenant.is_platform:
        raise NotAllowed("the platform tenant cannot be suspended or deleted")


def suspend_tenant(
    session: Session, encryptor: KeyEncryptor, actor: audit.Actor, tenant: Tenant, reason: str = ""
) -> bool:
    """Every endpoint of the tenant refuses from now on, and its issued tokens stop validating at userinfo
    and introspection. Whether it changed (suspending a suspended tenant is no change and no event)."""
    _not_platform(tenant)
    reason = reason.strip()
    if len(reason) > REASON_MAX or any(ord(ch) < 0x20 for ch in reason):
        raise Invalid(f"The reason must be at most {REASON_MAX} printable characters.", {"reason": ["too long"]})
    if tenant.status == SUSPENDED:
        return False
    tenant.status, tenant.status_reason = SUSPENDED, reason
    session.add(tenant)
    session.flush()
    _record(session, encryptor, actor, "tenant.suspended", tenant.slug, reason=reason)
    return True


def resume_tenant(session: Session, encryptor: KeyEncryptor, actor: audit.Actor, tenant: Tenant) -> bool:
    _not_platform(tenant)
    if tenant.status == ACTIVE:
        return False
    tenant.status, tenant.status_reason = ACTIVE, ""
    session.add(tenant)
    session.flush()
    _record(session, encryptor, actor, "tenant.resumed", tenant.slug)
    return True


def tenant_tables() -> list[type[SQLModel]]:
    """Every table whose rows belong to a tenant (they carry ``tenant_id``), children before parents."""
    tables = [t for t in reversed(SQLModel.metadata.sorted_tables) if "tenant_id" in t.c]
    return tables  # type: ignore[return-value]


def delete_tenant(session: Session, encryptor: KeyEncryptor, actor: audit.Actor, tenant: Tenant) -> None:
    """Irreversible: every row of the tenant goes, in this one transaction. Rows are deleted table by
    table (children first) rather than left to ON DELETE CASCADE, so the result does not depend on the
    database enforcing foreign keys."""
    _not_platform(tenant)
    slug, name, tenant_id = tenant.slug, tenant.name, tenant.id
    session.expunge(tenant)
    for table in tenant_tables():
        session.execute(sql_delete(table).where(table.c.tenant_id == tenant_id))
    session.execute(sql_delete(Tenant).where(col(Tenant.id) == tenant_id))
    announce(session, tenant_changed(tenant_id, slug))  # its cached tenant, clients and grants, everywhere
    _record(session, encryptor, actor, "tenant.deleted", slug, name=name, id=tenant_id)


# -- the admin console's overview -----------------------------------------------------------------------


@dataclass(frozen=True)
class TenantRow:
    tenant: Tenant
    users: int
    apps: int
    active_sessions: int
    tokens_24h: int


def _counts(session: Session, model: type[SQLModel], tenant_ids: list[str], *where: object) -> dict[str, int]:
    tenant_id = model.tenant_id  # type: ignore[attr-defined]
    query = select(tenant_id, func.count()).where(col(tenant_id).in_(tenant_ids), *where).group_by(tenant_id)
    return {tid: int(n) for tid, n in session.exec(query).all()}  # type: ignore[call-overload]


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def list_tenants(
    session: Session, *, q: str = "", status: str = "", offset: int = 0, limit: int = 25
) -> tuple[list[TenantRow], int]:
    """Customer tenants by slug, filtered by a search in slug or name and by status, with their counts."""
    where = [Tenant.kind != PLATFORM]
    if q.strip():
        pattern = _like(q.strip().lower())
        where.append(or_(col(Tenant.slug).like(pattern, escape="\\"), col(Tenant.name).ilike(pattern, escape="\\")))
    if status in (ACTIVE, SUSPENDED):
        where.append(Tenant.status == status)
    total = int(session.exec(select(func.count()).select_from(Tenant).where(*where)).one())
    tenants = list(session.exec(select(Tenant).where(*where).order_by(col(Tenant.slug)).offset(offset).limit(limit)))
    return rows_for(session, tenants), total


def rows_for(session: Session, tenants: list[Tenant]) -> list[TenantRow]:
    """The tenants with their counts: five grouped queries, whatever the number of tenants."""
    ids = [t.id for t in tenants]
    t = now()
    users = _counts(session, User, ids)
    apps = _counts(session, Client, ids, col(Client.first_party).is_(False))
    sessions = _counts(
        session, BrowserSession, ids, col(BrowserSession.revoked_at).is_(None), col(BrowserSession.expires_at) > t
    )
    usage_query = (
        select(TokenUsage.tenant_id, func.sum(TokenUsage.issued))
        .where(col(TokenUsage.tenant_id).in_(ids), col(TokenUsage.hour) > t - 86400)
        .group_by(TokenUsage.tenant_id)
    )
    tokens = {tid: int(n or 0) for tid, n in session.exec(usage_query).all()}
    return [
        TenantRow(x, users.get(x.id, 0), apps.get(x.id, 0), sessions.get(x.id, 0), tokens.get(x.id, 0)) for x in tenants
    ]
