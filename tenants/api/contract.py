"""The management API's contract: what each request may carry and what each response holds.

These models are the one place the API's shapes and limits are written. Requests are validated by them
(strictly: a string is a string, an unknown member is refused), responses are built from them, and the
OpenAPI document is generated from them (``tenants.api.openapi``). The limits are the services' own
constants, so the document, this validation and the rules behind the portal cannot disagree; the
services still check what a schema cannot say (an https redirect URI, a taken slug).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, create_model

from identity import clients
from identity import profile as standard_claims
from identity.models.team import PORTAL_ROLES
from identity.models.tenant import REGISTRATION_MODES
from identity.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from identity.users import EMAIL_MAX
from tenants.manage import tenants as tenant_rules
from tenants.manage.users import NAME_MAX as USER_NAME_MAX
from tenants.resolution import SLUG_PATTERN
from tenants.service import SCOPE_DESCRIPTION_MAX, SCOPE_NAME_MAX

NO_NUL = r"^[^\x00]*$"  # PostgreSQL stores no NUL
ONE_LINE = r"^[^\x00-\x1f\x7f]*$"  # names, addresses, filters: no control characters at all
SCOPE_TOKEN = r"^[\x21\x23-\x5b\x5d-\x7e]+$"  # RFC 6749 §3.3


def text(most: int, *, least: int = 0, pattern: str = NO_NUL) -> Any:
    return Annotated[str, StringConstraints(min_length=least, max_length=most, pattern=pattern)]


def line(most: int, *, least: int = 0) -> Any:
    return text(most, least=least, pattern=ONE_LINE)


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def absent() -> Any:
    """An optional member of a change: leaving it out keeps the value, and ``None`` here only means "not
    given" (it is not validated, so an explicit ``null`` is still refused where the type has no null)."""
    return Field(default=None, json_schema_extra=_no_default)


class Body(BaseModel):
    """A JSON request body: exact types, no unknown members."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Query(BaseModel):
    """Query-string parameters: text converted to the declared types; unknown parameters are ignored."""

    model_config = ConfigDict(extra="ignore")


class Out(BaseModel):
    """A response body."""

    model_config = ConfigDict(extra="forbid")


# -- shared pieces ----------------------------------------------------------------------------------------

Uri = text(clients.URI_MAX, least=1)
Uris = Annotated[list[Uri], Field(max_length=clients.URIS_MAX)]
LogoutUri = Annotated[
    str,
    Field(
        max_length=clients.URI_MAX,
        description="OIDC Back- or Front-Channel Logout URI: https (http on loopback); empty: not notified",
    ),
]
ScopeNames = Annotated[list[line(clients.URI_MAX, least=1)], Field(max_length=clients.URIS_MAX)]
AccessTokenTtl = Annotated[int, Field(ge=clients.TTL_MIN, le=clients.ACCESS_TOKEN_TTL_MAX)]
RefreshTokenTtl = Annotated[int, Field(ge=clients.TTL_MIN, le=clients.REFRESH_TOKEN_TTL_MAX)]
RefreshTokenGrace = Annotated[
    int,
    Field(
        ge=0,
        le=clients.REFRESH_GRACE_MAX,
        description="Seconds after a rotation in which the previous refresh token, presented again, gets the same "
        "response instead of revoking the family (a lost response); 0: off",
    ),
]
AppType = Literal[tuple(clients.APP_TYPES)]  # the services' own lists (Literal of a tuple: its members)
GrantType = Literal[tuple(clients.SUPPORTED_GRANT_TYPES)]
AuthMethod = Literal[tuple(clients.AUTH_METHODS)]
JwksUri = text(clients.URI_MAX, pattern=ONE_LINE)
Jwks = Annotated[
    dict[str, Any],
    Field(
        description="private_key_jwt: the client's JWK Set (public RSA, P-256 or Ed25519 signing keys only)",
        json_schema_extra={"maxProperties": 20},
    ),
]
Role = Literal[tuple(PORTAL_ROLES)]
Email = line(EMAIL_MAX, least=1)
Password = text(MAX_PASSWORD_LENGTH, least=MIN_PASSWORD_LENGTH)


class Paging(Query):
    limit: int = Field(default=25, ge=1, le=100)
    offset: int = Field(default=0, ge=0, le=10**9)


# -- applications -----------------------------------------------------------------------------------------


class ClientCreate(Body):
    name: line(clients.NAME_MAX, least=1)
    app_type: AppType = "web"
    description: text(clients.DESCRIPTION_MAX) = ""
    logo_url: line(clients.LOGO_URL_MAX) = ""
    redirect_uris: Uris = []
    post_logout_redirect_uris: Uris = []
    backchannel_logout_uri: LogoutUri = ""
    frontchannel_logout_uri: LogoutUri = ""
    scopes: ScopeNames | None = Field(default=None, description="Default: openid profile email offline_access")
    grant_types: list[GrantType] | None = Field(default=None, description="Default: by app_type")
    access_token_ttl: AccessTokenTtl | None = Field(default=None, description="Seconds; null: the tenant's")
    refresh_token_ttl: RefreshTokenTtl | None = Field(default=None, description="Seconds; null: the tenant's")
    refresh_token_grace: RefreshTokenGrace = 0
    require_pushed_authorization_requests: bool = Field(
        default=False, description="RFC 9126: refuse authorization requests that were not pushed to /par"
    )
    token_endpoint_auth_method: AuthMethod | None = Field(
        default=None, description="Default: none for public apps, else client_secret_basic (either secret method works)"
    )
    jwks: Jwks | None = None
    jwks_uri: JwksUri = Field(default="", description="private_key_jwt: where the client serves its JWK Set (https)")
    dpop_bound_access_tokens: bool = Field(
        default=False, description="RFC 9449 §5.2: refuse token requests without a DPoP proof"
    )
    require_dpop_nonce: bool = Field(default=False, description="RFC 9449 §8: DPoP proofs must carry our nonce")


class ClientUpdate(Body):
    name: line(clients.NAME_MAX, least=1) = absent()
    description: text(clients.DESCRIPTION_MAX) = absent()
    logo_url: line(clients.LOGO_URL_MAX) = absent()
    redirect_uris: Uris = absent()
    post_logout_redirect_uris: Uris = absent()
    backchannel_logout_uri: LogoutUri = absent()
    frontchannel_logout_uri: LogoutUri = absent()
    scopes: ScopeNames = absent()
    access_token_ttl: AccessTokenTtl | None = absent()
    refresh_token_ttl: RefreshTokenTtl | None = absent()
    refresh_token_grace: RefreshTokenGrace = absent()
    require_pushed_authorization_requests: bool = absent()
    token_endpoint_auth_method: AuthMethod = absent()
    jwks: Jwks | None = absent()
    jwks_uri: JwksUri = absent()
    dpop_bound_access_tokens: bool = absent()
    require_dpop_nonce: bool = absent()


class SecretRotation(Body):
    grace_seconds: int = Field(
        default=0, ge=0, le=clients.SECRET_GRACE_MAX, description="How long the previous secret keeps working"
    )


class Client(Out):
    client_id: str
    name: str
    app_type: AppType
    public: bool
    description: str
    logo_url: str
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    backchannel_logout_uri: str
    frontchannel_logout_uri: str
    grant_types: list[str]
    scopes: list[str]
    require_pkce: bool
    access_token_ttl: int | None
    refresh_token_ttl: int | None
    refresh_token_grace: int
    require_pushed_authorization_requests: bool
    token_endpoint_auth_method: AuthMethod
    jwks: dict[str, Any] | None
    jwks_uri: str
    dpop_bound_access_tokens: bool
    require_dpop_nonce: bool
    previous_secret_expires_at: int | None
    registered_dynamically: bool = Field(description="Registered itself at {issuer}/clients (RFC 7591)")
    created_at: int


class ClientWithSecret(Client):
    client_secret: str | None = Field(description="Shown once; null for a public or private_key_jwt client")


# -- settings -------------------------------------------------------------------------------------------

RegistrationMode = Literal[tuple(REGISTRATION_MODES)]


class SettingsUpdate(Body):
    dynamic_registration: RegistrationMode = Field(
        default=None,
        description="RFC 7591 at {issuer}/clients: off, open to anyone, or token (an initial access token "
        "made in the portal is required)",
        json_schema_extra=_no_default,
    )


class Settings(Out):
    dynamic_registration: RegistrationMode


# -- users ----------------------------------------------------------------------------------------------


class UserQuery(Paging):
    q: line(200) = Field(default="", description="A substring of the email or the name")


class UserCreate(Body):
    email: Email
    password: Password
    name: line(USER_NAME_MAX) = ""


class Address(Body):
    """OIDC Core §5.1.1. Given as a whole: parts left out are removed."""

    formatted: text(standard_claims.ADDRESS_LINE_MAX) = absent()
    street_address: text(standard_claims.ADDRESS_LINE_MAX) = absent()
    locality: line(standard_claims.ADDRESS_LINE_MAX) = absent()
    region: line(standard_claims.ADDRESS_LINE_MAX) = absent()
    postal_code: line(standard_claims.ADDRESS_LINE_MAX) = absent()
    country: line(standard_claims.ADDRESS_LINE_MAX) = absent()


class StandardClaims(Body):
    """OIDC Core §5.1 claims to change; each given member is set, and an empty string (or an empty address)
    removes the claim. Released by the scopes ``profile``, ``address`` and ``phone``."""

    given_name: line(standard_claims.TEXT_MAX) = absent()
    family_name: line(standard_claims.TEXT_MAX) = absent()
    middle_name: line(standard_claims.TEXT_MAX) = absent()
    nickname: line(standard_claims.TEXT_MAX) = absent()
    preferred_username: line(standard_claims.TEXT_MAX) = absent()
    gender: line(standard_claims.TEXT_MAX) = absent()
    profile: line(standard_claims.URL_MAX) = Field(default=None, description="https URL", json_schema_extra=_no_default)
    picture: line(standard_claims.URL_MAX) = Field(default=None, description="https URL", json_schema_extra=_no_default)
    website: line(standard_claims.URL_MAX) = Field(default=None, description="https URL", json_schema_extra=_no_default)
    birthdate: line(10) = Field(
        default=None, description="YYYY-MM-DD, YYYY, or 0000-MM-DD", json_schema_extra=_no_default
    )
    zoneinfo: line(64) = Field(
        default=None, description="IANA time zone, e.g. Europe/Paris", json_schema_extra=_no_default
    )
    locale: line(35) = Field(default=None, description="BCP 47 language tag, e.g. fr-CA", json_schema_extra=_no_default)
    phone_number: line(32) = Field(default=None, description="E.164, e.g. +14155552671", json_schema_extra=_no_default)
    phone_number_verified: bool = Field(
        default=None, description="Reset to false when the number changes", json_schema_extra=_no_default
    )
    address: Address = absent()


class UserUpdate(Body):
    """Each member given is one change (and one audit event)."""

    name: line(USER_NAME_MAX) = absent()
    disabled: bool = absent()
    password: Password = absent()
    email_verified: bool = Field(
        default=None,
        description="Whether the email address counts as verified (your attestation; audited)",
        json_schema_extra=_no_default,
    )
    claims: StandardClaims = absent()


class User(Out):
    id: str
    email: str
    email_verified: bool
    name: str
    claims: dict[str, Any] = Field(description="The standard claims (OIDC Core §5.1) the user has a value for")
    disabled: bool
    portal_role: Role | None
    created_at: int
    updated_at: int


class Consent(Out):
    client_id: str
    client_name: str
    scopes: list[str]
    updated_at: int


class ConsentList(Out):
    items: list[Consent]
    total: int


# -- the team -------------------------------------------------------------------------------------------


class MemberInvite(Body):
    email: Email
    role: Role


class MemberUpdate(Body):
    role: Role


class Member(Out):
    user_id: str
    email: str
    name: str
    role: Role


class Invitation(Out):
    id: str
    email: str
    role: Role
    expires_at: int
    invitation_url: str


# -- scopes ---------------------------------------------------------------------------------------------

ScopeDescription = line(SCOPE_DESCRIPTION_MAX, least=1)


class ScopeCreate(Body):
    name: Annotated[str, StringConstraints(max_length=SCOPE_NAME_MAX, pattern=SCOPE_TOKEN)]
    description: ScopeDescription


class ScopeUpdate(Body):
    description: ScopeDescription


class Scope(Out):
    name: str
    description: str


# -- audit events ---------------------------------------------------------------------------------------


class AuditQuery(Paging):
    action: line(80) = Field(default="", description="A prefix of the action, e.g. client.")
    actor: line(200) = Field(default="", description="A substring of the actor")


class PlatformAuditQuery(AuditQuery):
    tenant: line(40) = Field(default="", description="A tenant's slug")


class AuditEvent(Out):
    id: str
    time: int
    actor: str
    action: str
    target: str
    ip: str
    details: dict[str, Any]


class PlatformAuditEvent(AuditEvent):
    tenant: str


# -- tenants --------------------------------------------------------------------------------------------


class TenantQuery(Paging):
    q: line(200) = Field(default="", description="A substring of the slug or the name")
    status: Literal["", "active", "suspended"] = ""


class TenantCreate(Body):
    slug: Annotated[str, StringConstraints(pattern=SLUG_PATTERN.pattern)]
    name: line(tenant_rules.NAME_MAX, least=1)
    owner_email: line(EMAIL_MAX) = Field(default="", description="Invites this person as the tenant's owner")


class TenantUpdate(Body):
    name: line(tenant_rules.NAME_MAX, least=1)


class Suspension(Body):
    reason: line(tenant_rules.REASON_MAX) = ""


class TenantCounts(Out):
    users: int
    apps: int
    active_sessions: int
    tokens_24h: int


class Tenant(Out):
    id: str
    slug: str
    name: str
    status: Literal["active", "suspended"]
    status_reason: str
    issuer: str
    created_at: int
    counts: TenantCounts


class TenantCreated(Tenant):
    owner_invitation_url: str | None = Field(default=None, description="When an owner was invited")


# -- errors and pages -----------------------------------------------------------------------------------


class Problem(Out):
    """RFC 9457 problem details; ``errors`` names each refused member of the request."""

    type: str
    title: str
    status: int
    detail: str
    errors: dict[str, list[str]] | None = None


def page_of(item: type[Out]) -> type[Out]:
    """``{Item}Page``: one page of a collection, and where it is in the whole."""
    return create_model(
        f"{item.__name__}Page",
        __base__=Out,
        items=(list[item], ...),
        total=(int, ...),
        limit=(int, ...),
        offset=(int, ...),
    )


PAGES: dict[type[Out], type[Out]] = {
    item: page_of(item) for item in (Client, User, Member, Scope, AuditEvent, PlatformAuditEvent, Tenant)
}
