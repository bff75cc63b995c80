"""Portal: the developer team (members and roles, invitations) and accepting an invitation.

Owners and admins invite, re-role and remove developers and admins; only owners grant or take away the
owner role; developers see the team read-only. The last owner can be neither demoted nor removed.

There is no mail delivery: the inviter is shown the invitation link once, to pass on themselves. The
acceptance page needs no portal session: a new user chooses a name and password; an existing user of the
tenant confirms with their password (unless this browser is already signed in as them), because the
inviter has seen the link and must not be able to sign in as someone else with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from identity import browser as browser_cookies
from identity.browser import cookies
from identity.crypto import random_token
from identity.interaction.signin import PasswordSignIn
from identity.models.team import ADMIN, OWNER, PORTAL_ROLES, Invitation
from identity.models.tenant import Tenant
from identity.models.user import User
from identity.passwords import password_problem
from identity.users import UserError, find_user_by_email
from identity.web import app_context, in_transaction, redirect
from tenants import audit
from tenants.manage import team as manage
from tenants.manage.errors import Conflict, Invalid
from tenants.manage.users import NAME_MAX
from tenants.members import MemberError, accept_invitation, find_invitation, members, pending_invitations, role_of
from tenants.portal import forms
from tenants.portal.access import Member, require_member
from tenants.portal.web import plain_page, portal_page, refusals
from tenants.resolution import resolve_tenant

ROLE_HELP = {
    OWNER: "Everything an admin does, and grants or takes away the owner role.",
    ADMIN: "Manages users, the team (except owners) and applications.",
    "developer": "Creates and manages applications; sees the team.",
}
NOTICES = {
    "role": "Role changed.",
    "removed": "Member removed from the team. Their user account still exists (see Users).",
    "unchanged": "Nothing to change.",
}
BAD_PASSWORD = "The password is incorrect."
THROTTLED = "Too many failed attempts. Wait a few minutes, then try again."


# -- the team page ---------------------------------------------------------------------------------


def _team_page(
    request: Request,
    session: Session,
    member: Member,
    *,
    status: int = 200,
    error: str = "",
    invite_errors: dict[str, list[str]] | None = None,
    invite_values: dict[str, str] | None = None,
    invited: dict[str, str] | None = None,
) -> Response:
    grantable = [r for r in PORTAL_ROLES if manage.may_handle_role(member.actor, r)]
    rows = [
        {
            "membership": m,
            "user": u,
            "manageable": member.can(ADMIN) and manage.may_handle_role(member.actor, m.role),
            "is_self": u.id == member.user.id,
        }
        for m, u in members(session, member.tenant.id)
    ]
    context: dict[str, Any] = {
        "rows": rows,
        "invitations": pending_invitations(session, member.tenant.id),
        "grantable": grantable,
        "role_help": ROLE_HELP,
        "can_manage": member.can(ADMIN),
        "notice": NOTICES.get(request.query_params.get("notice", ""), "") if status < 400 and not invited else "",
        "error": error,
        "invite_errors": invite_errors or {},
        "invite_values": invite_values or {"email": "", "role": "developer"},
        "invited": invited,
        "is_prod": app_context(request).settings.is_prod,
    }
    return portal_page(request, member, "portal/team.html", context, section="team", status=status)


def _refused(_session: Session, response: Response) -> bool:
    return response.status_code < 400


async def team_page(request: Request) -> Response:
    slug = request.path_params["tenant"]

    def work(session: Session) -> Response:
        member = require_member(session, request, resolve_tenant(session, slug))
        return _team_page(request, session, member)

    return await in_transaction(request, work)


async def team_invite(request: Request) -> Response:
    slug = request.path_params["tenant"]
    form = await request.form()
    values = {"email": forms.text(form, "email", 400), "role": forms.text(form, "role", 40)}
    settings = app_context(request).settings

    def work(session: Session) -> Response:
        member = require_member(
            session, request, resolve_tenant(session, slug), ADMIN, csrf=forms.text(form, "csrf_token")
        )
        try:
            with refusals(member):
                new = manage.invite_member(
                    session,
                    member.tenant,
                    member.actor,
                    email=values["email"],
                    role=values["role"],
                    invited_by=member.user.id,
                )
        except (Invalid, Conflict) as error:
            errors = error.fields or {"email": [error.message]}
            return _team_page(request, session, member, status=400, invite_errors=errors, invite_values=values)
        link = f"{settings.public_url}/t/{slug}/portal/invitations/{new.token}"
        invited = {"email": new.invitation.email, "role": new.invitation.role, "link": link}
        return _team_page(request, session, member, invited=invited)

    return await in_transaction(request, work, keep=_refused)


async def team_change_role(request: Request) -> Response:
    slug, user_id = request.path_params["tenant"], request.path_params["user_id"]
    form = await request.form()
    new_role = forms.text(form, "role", 40)

    def work(session: Session) -> Response:
        member = require_member(
            session, request, resolve_tenant(session, slug), ADMIN, csrf=forms.text(form, "csrf_token")
        )
        try:
            with refusals(member):
                changed = manage.change_member_role(session, member.tenant, member.actor, user_id, new_role)
        except (Invalid, Conflict) as error:
            return _team_page(request, session, member, status=400, error=error.message)
        return redirect(f"/t/{slug}/portal/team?notice={'role' if changed else 'unchanged'}", 303)

    return await in_transaction(request, work, keep=_refused)


async def team_remove(request: Request) -> Response:
    slug, user_id = request.path_params["tenant"], request.path_params["user_id"]
    form = await request.form()

    def work(session: Session) -> Response:
        member = require_member(
            session, request, resolve_tenant(session, slug), ADMIN, csrf=forms.text(form, "csrf_token")
        )
        try:
            with refusals(member):
                user = manage.remove_team_member(session, member.tenant, member.actor, user_id)
        except (Invalid, Conflict) as error:
            return _team_page(request, session, member, status=400, error=error.message)
        if user.id == member.user.id:  # they left the team: the portal now tells them they are not a member
            return redirect(f"/t/{slug}/portal", 303)
        return redirect(f"/t/{slug}/portal/team?notice=removed", 303)

    return await in_transaction(request, work, keep=_refused)


# -- accepting an invitation (no portal session needed) --------------------------------------------


def _purpose(token: str) -> str:
    return "invitation:" + token


def _invitation_page(request: Request, tenant: Tenant, token: str, context: dict[str, Any], status: int) -> Response:
    """The page, with a CSRF token bound to this browser (a browser id is set if it has none yet)."""
    jar = cookies(request)
    browser_id, is_new = jar.ensure_browser_id(request)
    full = {
        "tenant_name": tenant.name,
        "base": f"/t/{tenant.slug}",
        "errors": {},
        "values": {},
        "error": "",
        "action": f"/t/{tenant.slug}/portal/invitations/{token}",
        "csrf_token": jar.csrf_token(browser_id, _purpose(token)),
        **context,
    }
    response = plain_page(request, "portal/invitation.html", full, status)
    if is_new:
        jar.set_browser_id(response, tenant, browser_id)
    return response


GONE = {
    "gone": True,
    "title": "This invitation can't be used",
    "message": "The link is not valid: it may have expired or already been used. Ask whoever invited you "
    "for a new one.",
}


@dataclass
class Step:
    """What one pass over the invitation decided. A page is rendered inside the transaction (a refusal
    rolls back, which expires every row it read)."""

    tenant: Tenant
    status: int = 200
    page: Response | None = None  # shown as is
    attempt: PasswordSignIn | None = None  # an existing user's password, to verify before accepting
    session_id: str | None = None  # accepted: this browser is now signed in


def _examine(
    session: Session, request: Request, slug: str, token: str
) -> tuple[Tenant, Invitation | None, User | None, bool]:
    """The tenant, the usable invitation (or None), the invited email's existing user, and whether this
    browser is already signed in as that user."""
    tenant = resolve_tenant(session, slug)
    invitation = find_invitation(session, tenant.id, token)
    if invitation is None:
        return tenant, None, None, False
    user = find_user_by_email(session, tenant.id, invitation.email)
    signed_in = browser_cookies.current_user(session, tenant, cookies(request).session_id(request))
    return tenant, invitation, user, signed_in is not None and user is not None and signed_in.user.id == user.id


def _view(invitation: Invitation, user: User | None, signed_in_as_user: bool, **extra: Any) -> dict[str, Any]:
    return {
        "invitation": invitation,
        "existing": user is not None,
        "needs_password": not signed_in_as_user,
        "role_help": ROLE_HELP.get(invitation.role, ""),
        **extra,
    }


def _blocked_for(session: Session, tenant: Tenant, invitation: Invitation, user: User | None) -> str:
    if user is not None and user.disabled:
        return "Your account is disabled. Ask an administrator of this organisation to enable it."
    if user is not None and role_of(session, tenant.id, user.id) is not None:
        return "You are already on this organisation's developer team. Sign in to the developer portal."
    return ""


async def invitation_page(request: Request) -> Response:
    slug, token = request.path_params["tenant"], request.path_params["token"]

    def work(session: Session) -> Response:
        tenant, invitation, user, signed_in_as_user = _examine(session, request, slug, token)
        if invitation is None:
            return _invitation_page(request, tenant, token, GONE, 404)
        blocked = _blocked_for(session, tenant, invitation, user)
        context = _view(invitation, user, signed_in_as_user, error=blocked, blocked=bool(blocked))
        return _invitation_page(request, tenant, token, context, 200)

    return await in_transaction(request, work)


async def invitation_accept(request: Request) -> Response:
    slug, token = request.path_params["tenant"], request.path_params["token"]
    ctx = app_context(request)
    form = await request.form()
    jar = cookies(request)
    csrf_ok = jar.check_csrf(jar.browser_id(request), _purpose(token), forms.text(form, "csrf_token"))
    name, password = forms.text(form, "name", 400), forms.secret(form, "password")
    ip = request.client.host if request.client else ""

    def shown(tenant: Tenant, status: int, context: dict[str, Any]) -> Step:
        return Step(tenant, status, _invitation_page(request, tenant, token, context, status))

    def check(session: Session) -> Step:
        """Everything but the password hash: the link, CSRF, the new user's fields, the throttle."""
        tenant, invitation, user, signed_in_as_user = _examine(session, request, slug, token)
        if invitation is None:
            return shown(tenant, 404, GONE)
        if not csrf_ok:
            return shown(
                tenant,
                403,
                _view(
                    invitation,
                    user,
                    signed_in_as_user,
                    values={"name": name},
                    error="The form expired. Please submit it again.",
                ),
            )
        if blocked := _blocked_for(session, tenant, invitation, user):
            return shown(tenant, 400, _view(invitation, user, signed_in_as_user, error=blocked, blocked=True))
        if user is None:
            errors: dict[str, list[str]] = {}
            if not name:
                errors["name"] = ["Enter your name."]
            elif len(name) > NAME_MAX:
                errors["name"] = [f"Name must be at most {NAME_MAX} characters."]
            if problem := password_problem(password):
                errors["password"] = [problem]
            if errors:
                return shown(tenant, 400, _view(invitation, user, False, values={"name": name}, errors=errors))
            return Step(tenant)
        if signed_in_as_user:
            return Step(tenant)
        # An existing account signs in to accept: the hosted login's sequence, throttle and audit.
        attempt = PasswordSignIn(
            ctx.settings, invitation.email, password, ip, "login.failed", audit_details={"invitation": invitation.id}
        )
        if not attempt.check(session, tenant.id, user):
            return shown(tenant, 429, _view(invitation, user, False, errors={"password": [THROTTLED]}))
        return Step(tenant, attempt=attempt)

    first = await in_transaction(request, check)
    if first.page is not None:
        return first.page
    if first.attempt is not None:
        await first.attempt.verify(request.app.state.passwords)

    def complete(session: Session) -> Step:
        tenant, invitation, user, signed_in_as_user = _examine(session, request, slug, token)
        if invitation is None:
            return shown(tenant, 404, GONE)
        if blocked := _blocked_for(session, tenant, invitation, user):
            return shown(tenant, 400, _view(invitation, user, signed_in_as_user, error=blocked, blocked=True))
        if user is not None and not signed_in_as_user:
            if first.attempt is None or not first.attempt.complete(session, tenant.id, user):
                return shown(tenant, 401, _view(invitation, user, False, errors={"password": [BAD_PASSWORD]}))
        new_account = user is None
        try:
            joined = accept_invitation(
                session, tenant.id, invitation, password=password if new_account else None, name=name
            )
        except MemberError:  # another acceptance of this link won
            return shown(tenant, 404, GONE)
        except UserError as error:  # rolled back below: the invitation stays usable
            return shown(tenant, 400, {**GONE, "message": str(error)})
        audit.record(
            session,
            tenant.id,
            audit.Actor(f"user:{joined.id} {joined.email}", ip),
            "member.joined",
            joined.id,
            email=joined.email,
            role=invitation.role,
            invitation=invitation.id,
            new_account=new_account,
        )
        previous = jar.session_id(request)
        return Step(tenant, session_id=browser_cookies.start_session(session, tenant, joined, previous))

    step = await in_transaction(request, complete, keep=lambda _s, result: result.status < 400 or result.status == 401)
    if step.session_id is None:
        assert step.page is not None
        return step.page
    response = redirect(f"/t/{slug}/portal", 303)
    jar.set_session(response, step.tenant, step.session_id)
    if jar.browser_id(request) is None:
        jar.set_browser_id(response, step.tenant, random_token(24))
    return response


routes = [
    Route("/portal/team", team_page, methods=["GET"]),
    Route("/portal/team/invite", team_invite, methods=["POST"]),
    Route("/portal/team/{user_id}/role", team_change_role, methods=["POST"]),
    Route("/portal/team/{user_id}/remove", team_remove, methods=["POST"]),
    Route("/portal/invitations/{token}", invitation_page, methods=["GET"]),
    Route("/portal/invitations/{token}", invitation_accept, methods=["POST"]),
]
