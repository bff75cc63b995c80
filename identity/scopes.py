"""Scopes: the OpenID Connect standard ones and the claims each releases, plus tenant-defined scopes."""

from __future__ import annotations

from sqlmodel import Session

from identity.db import tenant_query
from identity.i18n import N_
from identity.models.tenant import TenantScope
from identity.profile import PHONE, PROFILE

OPENID = "openid"
OFFLINE_ACCESS = "offline_access"

# scope -> (what the consent page says, translated there; the claims it releases)
STANDARD_SCOPES: dict[str, tuple[str, tuple[str, ...]]] = {
    "openid": (N_("Sign you in with your account"), ("sub",)),
    "profile": (N_("See your name and profile"), ("name", *PROFILE, "updated_at")),
    "email": (N_("See your email address"), ("email", "email_verified")),
    "address": (N_("See your postal address"), ("address",)),
    "phone": (N_("See your phone number"), PHONE),
    "offline_access": (N_("Stay signed in to the app when you are not using it"), ()),
}

# The management API's scopes (tenants/api). Only machine-to-machine apps (client_credentials) may hold
# them, and a token that carries them is for the API alone: its audience is the API, not the issuer.
TENANT_API_SCOPES: dict[str, str] = {
    "manage:clients": "Manage the organisation's applications and their secrets",
    "manage:users": "Manage the organisation's users",
    "manage:members": "Manage the developer team",
    "manage:scopes": "Manage the organisation's own scopes",
    "read:audit": "Read the organisation's audit log",
}
# The platform API's scopes exist only in the platform tenant (tenants.manage.tenants.PLATFORM_SCOPES);
# the prefix is reserved in every other tenant.
PLATFORM_API_PREFIX = "admin:"


def is_api_scope(scope: str) -> bool:
    return scope in TENANT_API_SCOPES or scope.startswith(PLATFORM_API_PREFIX)


def token_audience(issuer: str, public_url: str, scopes: list[str]) -> str:
    """The one audience of a token with these scopes: the issuer (OIDC, the tenant's own APIs), the
    tenant's management API, or the platform API. Raises ValueError for scopes of more than one."""
    audiences = {
        f"{issuer}/api" if s in TENANT_API_SCOPES else f"{public_url}/api/admin" if is_api_scope(s) else issuer
        for s in scopes
    }
    if len(audiences) > 1:
        raise ValueError("Management API scopes must be requested on their own, without other scopes.")
    return audiences.pop() if audiences else issuer


# Scopes the user may not untick on the consent page: without them the request is meaningless.
REQUIRED_ON_CONSENT = {OPENID}

CLAIMS_SUPPORTED = sorted(
    {"iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "azp", "sid", "acr", "amr"}
    | {claim for _, claims in STANDARD_SCOPES.values() for claim in claims}
)


def split(scope: str | None) -> list[str]:
    """Scopes in request order, without duplicates."""
    seen: dict[str, None] = {}
    for item in (scope or "").split():
        seen.setdefault(item, None)
    return list(seen)


def join(scopes: list[str] | set[str]) -> str:
    return " ".join(scopes if isinstance(scopes, list) else sorted(scopes))


def tenant_scopes(session: Session, tenant_id: str) -> dict[str, str]:
    """name -> description for the tenant's own scopes."""
    rows = session.exec(tenant_query(TenantScope, tenant_id)).all()
    return {row.name: row.description for row in rows}


def known_scopes(session: Session, tenant_id: str) -> dict[str, str]:
    described = {name: text for name, (text, _) in STANDARD_SCOPES.items()}
    described.update(TENANT_API_SCOPES)
    described.update(tenant_scopes(session, tenant_id))
    return described
