"""Who is using the portal: the tenant's signed-in user (its hosted-login session) with a portal role.

Sign-in goes through the tenant's own authorization code flow (the portal is a first-party public
client with PKCE), so the portal trusts exactly what relying parties trust.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session
from starlette.requests import Request

from identity import browser as browser_cookies
from identity.browser import cookies
from identity.models.team import DEVELOPER, ROLE_RANK
from identity.models.tenant import Tenant
from identity.models.user import User
from tenants.audit import Actor
from tenants.members import role_of

RANK = ROLE_RANK


class NotSignedIn(Exception):
    """Send the browser to the portal's sign-in (then back to ``next``)."""

    def __init__(self, slug: str, next_path: str) -> None:
        super().__init__(slug)
        self.slug, self.next_path = slug, next_path


class NotFound(Exception):
    """An id that is not this tenant's (or no longer exists): 404, whatever the reason, so ids of other
    tenants cannot even be probed."""


class Forbidden(Exception):
    """Signed in, but without the portal role this needs (HTTP 403 page)."""

    def __init__(self, tenant: Tenant, message: str) -> None:
        super().__init__(message)
        # Plain values: the transaction rolls back before the page renders, expiring the row.
        self.tenant_name, self.slug, self.message = tenant.name, tenant.slug, message


@dataclass(frozen=True)
class Member:
    tenant: Tenant
    user: User
    role: str
    csrf_token: str
    ip: str

    @property
    def actor(self) -> Actor:
        return Actor(f"user:{self.user.id} {self.user.email}", self.ip, self.role, self.user.id)

    def can(self, role: str) -> bool:
        return RANK[self.role] >= RANK[role]


def csrf_token(request: Request) -> str:
    return cookies(request).csrf_token(cookies(request).browser_id(request) or "", "portal")


def require_member(
    session: Session, request: Request, tenant: Tenant, role: str = DEVELOPER, csrf: str | None = None
) -> Member:
    """The signed-in member with at least ``role``; on a POST, ``csrf`` must be this browser's token."""
    signed_in = browser_cookies.current_user(session, tenant, cookies(request).session_id(request))
    if signed_in is None:
        raise NotSignedIn(tenant.slug, request.url.path if request.method == "GET" else f"/t/{tenant.slug}/portal")
    member_role = role_of(session, tenant.id, signed_in.user.id)
    if member_role is None:
        raise Forbidden(tenant, "Your account is not a member of this organisation's developer team.")
    if RANK[member_role] < RANK[role]:
        raise Forbidden(tenant, f"This needs the {role} role; you are a {member_role}.")
    if request.method == "POST":
        browser_id = cookies(request).browser_id(request)
        if not cookies(request).check_csrf(browser_id, "portal", csrf):
            raise Forbidden(tenant, "The form expired or did not come from this portal. Reload the page and try again.")
    return Member(
        tenant, signed_in.user, member_role, csrf_token(request), request.client.host if request.client else ""
    )
