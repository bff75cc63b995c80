"""The portal team: memberships (owner, admin, developer) and invitations."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, func, select

from identity.clock import now
from identity.crypto import random_token, sha256_hex
from identity.db import tenant_query, tenant_update
from identity.models.team import OWNER, PORTAL_ROLES, Invitation, Membership
from identity.models.user import User
from identity.users import UserError, create_user, find_user_by_email, normalize_email

INVITATION_TTL = 7 * 86400


class MemberError(ValueError):
    """A team change we refuse, with a message fit to show."""


def role_of(session: Session, tenant_id: str, user_id: str) -> str | None:
    row = session.exec(tenant_query(Membership, tenant_id).where(Membership.user_id == user_id)).first()
    return row.role if row else None


def add_member(session: Session, tenant_id: str, user: User, role: str) -> Membership:
    _check_role(role)
    membership = session.exec(tenant_query(Membership, tenant_id).where(Membership.user_id == user.id)).first()
    if membership is None:
        membership = Membership(tenant_id=tenant_id, user_id=user.id, role=role)
    membership.role = role
    session.add(membership)
    session.flush()
    return membership


def _check_role(role: str) -> None:
    if role not in PORTAL_ROLES:
        raise MemberError(f"unknown role {role!r}")


def _owners(session: Session, tenant_id: str) -> int:
    query = (
        select(func.count()).select_from(Membership).where(Membership.tenant_id == tenant_id, Membership.role == OWNER)
    )
    return int(session.exec(query).one())


def change_role(session: Session, tenant_id: str, user_id: str, role: str) -> Membership:
    _check_role(role)
    membership = session.exec(tenant_query(Membership, tenant_id).where(Membership.user_id == user_id)).first()
    if membership is None:
        raise MemberError("no such member")
    if membership.role == OWNER and role != OWNER and _owners(session, tenant_id) <= 1:
        raise MemberError("the last owner cannot be demoted: make someone else owner first")
    membership.role = role
    session.add(membership)
    session.flush()
    return membership


def remove_member(session: Session, tenant_id: str, user_id: str) -> None:
    membership = session.exec(tenant_query(Membership, tenant_id).where(Membership.user_id == user_id)).first()
    if membership is None:
        raise MemberError("no such member")
    if membership.role == OWNER and _owners(session, tenant_id) <= 1:
        raise MemberError("the last owner cannot be removed")
    session.delete(membership)
    session.flush()


def members(session: Session, tenant_id: str) -> list[tuple[Membership, User]]:
    query = (
        select(Membership, User)
        .join(User, (col(User.tenant_id) == col(Membership.tenant_id)) & (col(User.id) == col(Membership.user_id)))
        .where(Membership.tenant_id == tenant_id)
        .order_by(col(User.email))
    )
    return [(m, u) for m, u in session.exec(query).all()]


@dataclass(frozen=True)
class NewInvitation:
    invitation: Invitation
    token: str  # goes in the link only; its hash is stored


def invite(session: Session, tenant_id: str, *, email: str, role: str, invited_by: str) -> NewInvitation:
    _check_role(role)
    email = email.strip()
    if "@" not in email or len(email) > 320:
        raise MemberError(f"{email!r} is not a valid email address")
    token = random_token(32)
    invitation = Invitation(
        tenant_id=tenant_id,
        email=email,
        role=role,
        token_hash=sha256_hex(token),
        invited_by=invited_by,
        expires_at=now() + INVITATION_TTL,
    )
    session.add(invitation)
    session.flush()
    return NewInvitation(invitation, token)


def pending_invitations(session: Session, tenant_id: str) -> list[Invitation]:
    query = tenant_query(Invitation, tenant_id).where(
        col(Invitation.accepted_at).is_(None), col(Invitation.expires_at) > now()
    )
    return list(session.exec(query.order_by(col(Invitation.created_at).desc())).all())


def find_invitation(session: Session, tenant_id: str, token: str) -> Invitation | None:
    invitation = session.exec(
        tenant_query(Invitation, tenant_id).where(Invitation.token_hash == sha256_hex(token))
    ).first()
    if invitation is None or invitation.accepted_at is not None or invitation.expires_at < now():
        return None
    return invitation


def accept_invitation(
    session: Session, tenant_id: str, invitation: Invitation, *, password: str | None, name: str = ""
) -> User:
    """The invited email joins the team; a new user sets a password, an existing one keeps theirs.

    The invitation is claimed with one conditional UPDATE first, so of two concurrent acceptances
    exactly one joins; the other gets ``MemberError``."""
    claimed = session.exec(
        tenant_update(Invitation, tenant_id)
        .where(
            col(Invitation.id) == invitation.id,
            col(Invitation.accepted_at).is_(None),
        )
        .values(accepted_at=now())
    )
    if claimed.rowcount != 1:
        raise MemberError("this invitation was already used")
    user = find_user_by_email(session, tenant_id, invitation.email)
    if user is None:
        if not password:
            raise UserError("choose a password")
        user = create_user(session, tenant_id, email=invitation.email, password=password, name=name)
    add_member(session, tenant_id, user, invitation.role)
    return user


def is_invited_email(invitation: Invitation, email: str) -> bool:
    return normalize_email(invitation.email) == normalize_email(email)
