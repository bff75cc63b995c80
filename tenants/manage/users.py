"""End users of a tenant: create, change, disable and enable, reset the password, delete.

Rules: an actor cannot change an account whose portal role outranks its own (an admin, or an API client,
cannot touch an owner's account), and nobody disables or deletes their own account."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from identity import profile
from identity.clock import now
from identity.models.team import ROLE_RANK as RANK
from identity.models.tenant import Tenant
from identity.models.user import User
from identity.passwords import password_problem
from identity.sessions import Ended, end_all_sessions, tell_clients_user_left
from identity.users import (
    Revoked,
    UserError,
    create_user,
    delete_user,
    email_problem,
    get_user,
    reset_password,
    set_disabled,
)
from tenants import audit
from tenants.manage.errors import Conflict, Invalid, Missing, NotAllowed
from tenants.members import role_of

NAME_MAX = 200


def get_end_user(session: Session, tenant: Tenant, user_id: str) -> User:
    user = get_user(session, tenant.id, user_id) if user_id and len(user_id) <= 64 else None
    if user is None:
        raise Missing(f"no user {user_id!r}")
    return user


def guard(session: Session, tenant: Tenant, actor: audit.Actor, user: User) -> str | None:
    """The user's portal role; refused when it outranks the actor's."""
    role = role_of(session, tenant.id, user.id)
    if role is not None and RANK[role] > RANK.get(actor.role, 0):
        raise NotAllowed(f"{user.email} is an {role} of the developer portal: only an owner can change their account.")
    return role


def _name_problem(name: str) -> str | None:
    if len(name) > NAME_MAX:
        return f"Name must be at most {NAME_MAX} characters."
    if any(ord(ch) < 0x20 for ch in name):
        return "Name cannot contain control characters."
    return None


def create_end_user(
    session: Session, tenant: Tenant, actor: audit.Actor, *, email: str, password: str, name: str = ""
) -> User:
    errors: dict[str, list[str]] = {}
    if problem := email_problem(email):
        errors["email"] = [problem]
    if problem := _name_problem(name):
        errors["name"] = [problem]
    if not password:
        errors["password"] = ["Choose a password for the user."]
    elif problem := password_problem(password):
        errors["password"] = [problem]
    if errors:
        raise Invalid("; ".join(m for ms in errors.values() for m in ms), errors)
    try:
        with session.begin_nested():  # a concurrent insert of the same email fails this savepoint only
            user = create_user(session, tenant.id, email=email, password=password, name=name)
    except (UserError, IntegrityError) as error:  # the address is taken (maybe by a request that just committed)
        message = f"a user with email {email.strip()} already exists in this tenant"
        raise Conflict(message, {"email": [message]}) from error
    audit.record(session, tenant.id, actor, "user.created", user.id, email=user.email)
    return user


def rename_end_user(session: Session, tenant: Tenant, actor: audit.Actor, user: User, name: str) -> User:
    guard(session, tenant, actor, user)
    name = name.strip()
    if problem := _name_problem(name):
        raise Invalid(problem, {"name": [problem]})
    if name != user.name:
        previous, user.name = user.name, name
        user.updated_at = now()  # OIDC Core §5.1 updated_at: the claims changed
        session.add(user)
        session.flush()
        audit.record(session, tenant.id, actor, "user.updated", user.id, email=user.email, previous_name=previous)
    return user


def update_end_user_profile(
    session: Session,
    tenant: Tenant,
    actor: audit.Actor,
    user: User,
    *,
    claims: dict[str, Any] | None = None,
    email_verified: bool | None = None,
) -> User:
    """Change the user's standard claims (``identity.profile`` checks each; an empty value removes it) and
    whether the email address counts as verified (an admin's word, audited as such). One audit event
    naming the claims that changed, none when nothing did."""
    guard(session, tenant, actor, user)
    try:
        changes = profile.checked_changes(claims or {})
    except profile.ProfileError as error:
        raise Invalid(str(error), {error.field: [str(error)]}) from error
    before = user.claims or {}
    updated = profile.applied(before, changes)
    changed = sorted(k for k in set(updated) | set(before) if updated.get(k) != before.get(k))
    verified_changed = email_verified is not None and email_verified != user.email_verified
    if not changed and not verified_changed:
        return user
    user.claims = updated
    if email_verified is not None:
        user.email_verified = email_verified
    user.updated_at = now()
    session.add(user)
    session.flush()
    details: dict[str, Any] = {"email": user.email, "claims_changed": changed}
    if verified_changed:
        details["email_verified"] = user.email_verified
    audit.record(session, tenant.id, actor, "user.profile_updated", user.id, **details)
    return user


def set_end_user_disabled(
    session: Session, tenant: Tenant, actor: audit.Actor, user: User, disabled: bool
) -> Revoked | None:
    """Disable (sign out everywhere, revoke every grant) or enable; None when nothing changed."""
    guard(session, tenant, actor, user)
    if disabled and user.id == actor.user_id:  # not a role rule: an owner cannot either (the form says why)
        raise Conflict("You cannot disable your own account. Ask another admin or owner.")
    if user.disabled == disabled:
        return None
    if disabled:
        tell_clients_user_left(session, tenant, user.id)
    revoked = set_disabled(session, user, disabled)
    if disabled:
        audit.record(
            session,
            tenant.id,
            actor,
            "user.disabled",
            user.id,
            email=user.email,
            sessions_ended=revoked.sessions,
            grants_revoked=revoked.grants,
        )
    else:
        audit.record(session, tenant.id, actor, "user.enabled", user.id, email=user.email)
    return revoked


def sign_out_everywhere(session: Session, tenant: Tenant, actor: audit.Actor, user: User, issuer: str) -> Ended:
    """End every session and grant of the user, and tell each client with a back-channel logout URI."""
    guard(session, tenant, actor, user)
    ended = end_all_sessions(session, tenant, issuer, user.id, actor)
    audit.record(
        session,
        tenant.id,
        actor,
        "user.signed_out_everywhere",
        user.id,
        email=user.email,
        sessions_ended=ended.sessions,
    )
    return ended


def reset_end_user_password(session: Session, tenant: Tenant, actor: audit.Actor, user: User, password: str) -> None:
    guard(session, tenant, actor, user)
    try:
        reset_password(session, user, password)
    except UserError as error:
        raise Invalid(str(error), {"password": [str(error)]}) from error
    audit.record(session, tenant.id, actor, "user.password_reset", user.id, email=user.email)


def delete_end_user(session: Session, tenant: Tenant, actor: audit.Actor, user: User) -> None:
    role = guard(session, tenant, actor, user)
    if user.id == actor.user_id:
        raise Conflict("You cannot delete your own account.")
    user_id, email = user.id, user.email
    tell_clients_user_left(session, tenant, user_id)
    delete_user(session, user)
    audit.record(
        session, tenant.id, actor, "user.deleted", user_id, email=email, **({"portal_role": role} if role else {})
    )
