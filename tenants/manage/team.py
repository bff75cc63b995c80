"""The portal team: invite, change a member's role, remove a member.

Rules: only an owner grants, changes or removes the owner role; the last owner stays (tenants.members)."""

from __future__ import annotations

from sqlmodel import Session

from identity.models.team import OWNER, PORTAL_ROLES, ROLE_RANK
from identity.models.tenant import Tenant
from identity.models.user import User
from identity.users import email_problem, find_user_by_email, get_user
from tenants import audit
from tenants.manage.errors import Conflict, Invalid, ManageError, Missing, NotAllowed
from tenants.members import MemberError, NewInvitation, change_role, invite, remove_member, role_of

OWNER_ONLY = "Only an owner can grant or take away the owner role."
CHOOSE_ROLE = "Choose a role: owner, admin or developer."


def _check_role(role: str) -> None:
    if role not in PORTAL_ROLES:
        raise Invalid(CHOOSE_ROLE, {"role": [CHOOSE_ROLE]})


def may_handle_role(actor: audit.Actor, role: str) -> bool:
    """Whether the actor may grant, change or remove ``role``: only an owner handles the owner role (the
    portal also asks, to offer only what the member may do)."""
    return role != OWNER or ROLE_RANK.get(actor.role, 0) >= ROLE_RANK[OWNER]


def _owner_only(actor: audit.Actor) -> None:
    if not may_handle_role(actor, OWNER):
        raise NotAllowed(OWNER_ONLY)


def get_member(session: Session, tenant: Tenant, user_id: str) -> tuple[User, str]:
    """A member of this tenant's team and their role (a non-member, or another tenant's id, is missing)."""
    user = get_user(session, tenant.id, user_id) if user_id and len(user_id) <= 64 else None
    role = role_of(session, tenant.id, user_id) if user is not None else None
    if user is None or role is None:
        raise Missing(f"no team member {user_id!r}")
    return user, role


def _invitee_problem(session: Session, tenant: Tenant, email: str) -> str | None:
    existing = find_user_by_email(session, tenant.id, email)
    if existing is not None and role_of(session, tenant.id, existing.id) is not None:
        return f"{existing.email} is already on the team: change their role instead."
    if existing is not None and existing.disabled:
        return f"{existing.email} is disabled: enable the user first."
    return None


def invite_member(
    session: Session, tenant: Tenant, actor: audit.Actor, *, email: str, role: str, invited_by: str
) -> NewInvitation:
    """Refused as a whole, naming every field at fault (a bad role and a bad address are both reported);
    ``Conflict`` when the only problem is who the address belongs to (already on the team, disabled)."""
    errors: dict[str, list[str]] = {}
    kind: type[ManageError] = Conflict
    if role not in PORTAL_ROLES:
        errors["role"], kind = [CHOOSE_ROLE], Invalid
    elif role == OWNER:
        _owner_only(actor)
    if problem := email_problem(email):
        errors["email"], kind = [problem], Invalid
    elif problem := _invitee_problem(session, tenant, email):
        errors["email"] = [problem]
    if errors:
        raise kind("; ".join(m for ms in errors.values() for m in ms), errors)
    try:
        new = invite(session, tenant.id, email=email, role=role, invited_by=invited_by)
    except MemberError as error:
        raise Invalid(str(error), {"email": [str(error)]}) from error
    audit.record(session, tenant.id, actor, "member.invited", new.invitation.id, email=new.invitation.email, role=role)
    return new


def change_member_role(session: Session, tenant: Tenant, actor: audit.Actor, user_id: str, new_role: str) -> bool:
    """Whether the role changed (asking for the role they have is no change and no event)."""
    user, old_role = get_member(session, tenant, user_id)
    _check_role(new_role)
    if OWNER in (old_role, new_role):
        _owner_only(actor)
    if new_role == old_role:
        return False
    try:
        change_role(session, tenant.id, user.id, new_role)
    except MemberError as error:
        raise Conflict(f"{user.email}: {error}.") from error
    audit.record(
        session,
        tenant.id,
        actor,
        "member.role_changed",
        user.id,
        email=user.email,
        old_role=old_role,
        new_role=new_role,
    )
    return True


def remove_team_member(session: Session, tenant: Tenant, actor: audit.Actor, user_id: str) -> User:
    user, role = get_member(session, tenant, user_id)
    if role == OWNER:
        _owner_only(actor)
    try:
        remove_member(session, tenant.id, user.id)
    except MemberError as error:
        raise Conflict(f"{user.email}: {error}.") from error
    audit.record(session, tenant.id, actor, "member.removed", user.id, email=user.email, role=role)
    return user
