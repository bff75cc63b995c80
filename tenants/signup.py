"""Self-service sign-up: a company gets its tenant (issuer, keys, portal) and its owner account at once."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from identity.crypto import KeyEncryptor
from identity.models.team import OWNER
from identity.models.tenant import Tenant
from identity.models.user import User
from identity.passwords import password_problem
from identity.users import UserError, create_user
from tenants import audit
from tenants.members import add_member
from tenants.resolution import SLUG_PATTERN, find_tenant
from tenants.service import TenantError, create_tenant

RESERVED_SLUGS = {
    "admin",
    "api",
    "www",
    "static",
    "signup",
    "login",
    "portal",
    "auth",
    "oauth",
    "help",
    "status",
    "platform",
}


class SignupError(ValueError):
    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(fields.values()))
        self.fields = fields


def slug_problem(session: Session, slug: str) -> str | None:
    """Why this slug cannot be had, or None when it is free."""
    if not SLUG_PATTERN.fullmatch(slug):
        return "3–40 lowercase letters, digits or hyphens; start and end with a letter or digit."
    if slug in RESERVED_SLUGS:
        return "This name is reserved."
    if find_tenant(session, slug) is not None:
        return "This name is taken."
    return None


@dataclass(frozen=True)
class NewTenant:
    tenant: Tenant
    owner: User


def sign_up(
    session: Session, encryptor: KeyEncryptor, *, org_name: str, slug: str, email: str, password: str, ip: str = ""
) -> NewTenant:
    """All or nothing: the caller's transaction rolls back every row if any step is refused."""
    errors: dict[str, str] = {}
    org_name = org_name.strip()
    if not org_name:
        errors["org_name"] = "Enter your organisation's name."
    elif len(org_name) > 200:
        errors["org_name"] = "Use at most 200 characters."
    problem = slug_problem(session, slug)
    if problem:
        errors["slug"] = problem
    problem = password_problem(password)
    if problem:
        errors["password"] = problem
    if "@" not in email or len(email.strip()) > 320:
        errors["email"] = "Enter a valid email address."
    if errors:
        raise SignupError(errors)
    try:
        tenant = create_tenant(session, encryptor, slug=slug, name=org_name)
        owner = create_user(session, tenant.id, email=email, password=password, name="")
    except (TenantError, UserError) as error:
        raise SignupError({"form": str(error)}) from error
    add_member(session, tenant.id, owner, OWNER)
    audit.record(session, tenant.id, audit.Actor(f"user:{owner.id} {owner.email}", ip), "tenant.created", tenant.slug)
    return NewTenant(tenant, owner)
