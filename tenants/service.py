"""Creating tenants (CLI now; sign-up and admin console later)."""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlmodel import Session, col

from identity.branding import is_hex_color
from identity.clients import list_clients, register_client
from identity.crypto import KeyEncryptor
from identity.db import tenant_query
from identity.keys import create_initial_keys
from identity.models.client import Client
from identity.models.tenant import (
    ALL_GRANT_TYPES,
    REFRESH_NEEDS,
    REFRESH_SOURCES,
    REGISTRATION_MODES,
    Tenant,
    TenantScope,
)
from identity.scopes import STANDARD_SCOPES, is_api_scope
from tenants.resolution import SLUG_PATTERN, find_tenant


class TenantError(ValueError):
    """A tenant we refuse to create, with a message fit to show."""


def create_tenant(session: Session, encryptor: KeyEncryptor, *, slug: str, name: str | None = None) -> Tenant:
    if not SLUG_PATTERN.fullmatch(slug):
        raise TenantError(
            f"invalid slug {slug!r}: 3-40 characters, lowercase letters, digits and hyphens, "
            "starting and ending with a letter or digit"
        )
    if find_tenant(session, slug) is not None:
        raise TenantError(f"tenant {slug!r} already exists")
    tenant = Tenant(slug=slug, name=(name or slug).strip() or slug)
    session.add(tenant)
    session.flush()
    create_initial_keys(session, tenant, encryptor)
    create_portal_client(session, tenant)
    return tenant


PORTAL_CALLBACK = "/portal/callback"


def create_portal_client(session: Session, tenant: Tenant) -> None:
    """The developer portal is a first-party app of the tenant: it signs members in with the tenant's own
    authorization code flow (public client, PKCE). Its redirect URI is relative to the issuer."""
    register_client(
        session,
        tenant.id,
        hasher=None,  # a public client has no secret to hash
        name="Developer portal",
        redirect_uris=[PORTAL_CALLBACK],
        public=True,
        grant_types=["authorization_code"],
        scopes=["openid", "profile", "email"],
        first_party=True,
    )


def define_scope(session: Session, tenant: Tenant, *, name: str, description: str) -> TenantScope:
    if not name or len(name) > 100 or any(ch.isspace() or ch in '"\\' for ch in name):
        raise TenantError(f"invalid scope name {name!r}")
    if name in STANDARD_SCOPES:
        raise TenantError(f"{name!r} is a standard OpenID Connect scope")
    scope = TenantScope(tenant_id=tenant.id, name=name, description=description.strip())
    session.merge(scope)
    session.flush()
    return scope


# -- tenant-defined scopes (the developer portal) --------------------------------------------------------

SCOPE_NAME_MAX = 100
SCOPE_DESCRIPTION_MAX = 300  # the column's length


class ScopeError(TenantError):
    """A scope change we refuse; ``fields`` says which form field is wrong and why."""

    def __init__(self, message: str, fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.fields = fields or {}


def _scope_token_ok(name: str) -> bool:
    # RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ): printable ASCII, no space, '"' or '\'.
    return all(ch == "\x21" or "\x23" <= ch <= "\x5b" or "\x5d" <= ch <= "\x7e" for ch in name)


def _has_control(text: str) -> bool:
    """Control characters (NUL, newlines…) belong in no name, description or URL (PostgreSQL refuses NUL)."""
    return any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in text)


def _description_problem(description: str) -> str | None:
    if _has_control(description):
        return "the description cannot contain control characters"
    if not description.strip():
        return "describe what the scope allows: the consent page shows this to users"
    if len(description.strip()) > SCOPE_DESCRIPTION_MAX:
        return f"description is too long ({SCOPE_DESCRIPTION_MAX} characters at most)"
    return None


def find_scope(session: Session, tenant_id: str, name: str) -> TenantScope | None:
    if not name or len(name) > 100 or _has_control(name):
        return None
    return session.exec(tenant_query(TenantScope, tenant_id).where(TenantScope.name == name)).first()


def create_scope(session: Session, tenant: Tenant, *, name: str, description: str) -> TenantScope:
    """A new tenant scope (never overwrites one: ``define_scope`` is the CLI's create-or-update)."""
    errors: dict[str, list[str]] = {}
    name = name.strip()
    if not name:
        errors["name"] = ["name is required"]
    elif len(name) > SCOPE_NAME_MAX:
        errors["name"] = [f"name is too long ({SCOPE_NAME_MAX} characters at most)"]
    elif not _scope_token_ok(name):
        errors["name"] = ["use printable ASCII without spaces, quotes or backslashes (RFC 6749), e.g. orders:read"]
    elif name in STANDARD_SCOPES:
        errors["name"] = [f"{name!r} is a standard OpenID Connect scope"]
    elif is_api_scope(name):
        errors["name"] = [f"{name!r} is reserved for the management API"]
    elif find_scope(session, tenant.id, name) is not None:
        errors["name"] = [f"a scope named {name!r} already exists"]
    problem = _description_problem(description)
    if problem:
        errors["description"] = [problem]
    if errors:
        raise ScopeError("; ".join(m for messages in errors.values() for m in messages), errors)
    return define_scope(session, tenant, name=name, description=description)


def describe_scope(session: Session, tenant: Tenant, name: str, description: str) -> TenantScope:
    """Change what the consent page says about one of the tenant's scopes."""
    scope = find_scope(session, tenant.id, name)
    if scope is None:
        raise ScopeError(f"no scope named {name!r}")
    problem = _description_problem(description)
    if problem:
        raise ScopeError(problem, {"description": [problem]})
    scope.description = description.strip()
    session.add(scope)
    session.flush()
    return scope


def apps_using_scope(session: Session, tenant_id: str, name: str) -> list[Client]:
    """The tenant's apps that list ``name`` among their allowed scopes (a JSON list: filtered here)."""
    rows = session.exec(tenant_query(Client, tenant_id).order_by(col(Client.name))).all()
    return [client for client in rows if name in (client.scopes or [])]


def delete_scope(session: Session, tenant: Tenant, name: str) -> None:
    """Delete one of the tenant's scopes; refused while an app may still request it."""
    scope = find_scope(session, tenant.id, name)
    if scope is None:
        raise ScopeError(f"no scope named {name!r}")
    users = apps_using_scope(session, tenant.id, name)
    if users:
        listed = ", ".join(client.name for client in users)
        raise ScopeError(f"{name!r} is still allowed for {listed}: remove it from those apps first")
    session.delete(scope)
    session.flush()


# -- branding and settings (the developer portal) ----------------------------------------------------------

# field -> (least, most) for the numeric settings
SETTING_RANGES: dict[str, tuple[int, int]] = {
    "access_token_ttl": (60, 86400),
    "id_token_ttl": (60, 86400),
    "refresh_token_ttl": (300, 365 * 86400),
    "audit_retention_days": (30, 3650),
}
SETTING_FIELDS = (
    "name",
    "logo_url",
    "primary_color",
    "signup_open",
    "access_token_ttl",
    "id_token_ttl",
    "refresh_token_ttl",
    "refresh_without_offline_access",
    "audit_retention_days",
    "allowed_grant_types",
    "dynamic_registration",
)


def settings_of(tenant: Tenant) -> dict[str, object]:
    """The portal-editable settings of a tenant (none is secret: fit for the audit log)."""
    return {name: getattr(tenant, name) for name in SETTING_FIELDS}


def _grant_types_problem(session: Session, tenant: Tenant, grants: list[str]) -> str | None:
    """Why this set of allowed grant types is refused: unknown, empty, refresh without code, or still
    used by an app (naming the apps: the tenant should change those apps first)."""
    if not grants:
        return "allow at least one grant type"
    unknown = [g for g in grants if g not in ALL_GRANT_TYPES]
    if unknown:
        return f"unknown grant type {unknown[0]!r}"
    if "refresh_token" in grants and not set(REFRESH_SOURCES) & set(grants):
        return REFRESH_NEEDS
    for grant in ALL_GRANT_TYPES:
        if grant in grants:
            continue
        users = sorted(c.name for c in list_clients(session, tenant.id) if grant in c.grant_types)
        if users:
            return f"{grant} is still used by: {', '.join(users)}"
    return None


def _logo_problem(url: str) -> str | None:
    if not url:
        return None
    if len(url) > 500:
        return "the logo URL is too long (500 characters at most)"
    if any(ch.isspace() for ch in url) or _has_control(url) or not url.startswith("https://"):
        return "the logo URL must be an https:// URL"
    try:
        host = urlsplit(url).hostname
    except ValueError:
        host = None
    return None if host else "the logo URL must name a host, e.g. https://example.com/logo.png"


def update_settings(
    session: Session,
    tenant: Tenant,
    *,
    name: str,
    logo_url: str,
    primary_color: str,
    signup_open: bool,
    access_token_ttl: int | str | None,
    id_token_ttl: int | str | None,
    refresh_token_ttl: int | str | None,
    refresh_without_offline_access: bool,
    audit_retention_days: int | str | None,
    allowed_grant_types: list[str] | None = None,
    dynamic_registration: str | None = None,
) -> dict[str, list[str]]:
    """Validate every setting together; apply them all only when there is no problem. Returns the problems
    per field (empty when saved). Numbers may arrive as text from a form: anything but a whole number is
    reported on its field."""
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    name, logo_url, primary_color = name.strip(), logo_url.strip(), primary_color.strip()
    if not name:
        add("name", "the display name is required")
    elif _has_control(name):
        add("name", "the display name cannot contain control characters")
    elif len(name) > 200:
        add("name", "the display name is too long (200 characters at most)")
    problem = _logo_problem(logo_url)
    if problem:
        add("logo_url", problem)
    if not is_hex_color(primary_color):
        add("primary_color", "the colour must be a hex code like #4f46e5")
    numbers: dict[str, int] = {}
    raw_numbers = {
        "access_token_ttl": access_token_ttl,
        "id_token_ttl": id_token_ttl,
        "refresh_token_ttl": refresh_token_ttl,
        "audit_retention_days": audit_retention_days,
    }
    for field, raw in raw_numbers.items():
        least, most = SETTING_RANGES[field]
        unit = "days" if field == "audit_retention_days" else "seconds"
        if raw is None or raw == "":
            add(field, "this is required")
        elif isinstance(raw, bool) or not isinstance(raw, int):
            add(field, f"enter a whole number of {unit}")
        elif not least <= raw <= most:
            add(field, f"must be between {least} and {most} {unit}")
        else:
            numbers[field] = raw
    grants = list(tenant.allowed_grant_types) if allowed_grant_types is None else list(allowed_grant_types)
    problem = _grant_types_problem(session, tenant, grants)
    if problem:
        add("allowed_grant_types", problem)
    registration = tenant.dynamic_registration if dynamic_registration is None else dynamic_registration
    if registration not in REGISTRATION_MODES:
        add("dynamic_registration", f"choose one of {', '.join(REGISTRATION_MODES)}")
    if errors:
        return errors
    tenant.dynamic_registration = registration
    tenant.allowed_grant_types = [g for g in ALL_GRANT_TYPES if g in grants]
    tenant.name, tenant.logo_url, tenant.primary_color = name, logo_url, primary_color.lower()
    tenant.signup_open = bool(signup_open)
    tenant.refresh_without_offline_access = bool(refresh_without_offline_access)
    for field, value in numbers.items():
        setattr(tenant, field, value)
    session.add(tenant)
    session.flush()
    return {}
