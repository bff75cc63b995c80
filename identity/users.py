"""End users of a tenant."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import or_
from sqlmodel import Session, col, func, select

from identity.clock import now
from identity.db import tenant_query, tenant_update
from identity.grants import revoke_user_grants
from identity.models.interaction import BrowserSession
from identity.models.user import User
from identity.passwords import hash_password, password_problem

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
EMAIL_MAX = 320  # RFC 5321: 64 for the local part, @, 255 for the domain


class UserError(ValueError):
    """A user we refuse to create, with a message fit to show."""


def normalize_email(email: str) -> str:
    return email.strip().lower()


def create_user(session: Session, tenant_id: str, *, email: str, password: str, name: str = "") -> User:
    email = email.strip()
    if not _EMAIL.match(email) or len(email) > EMAIL_MAX:
        raise UserError(f"{email!r} is not a valid email address")
    problem = password_problem(password)
    if problem:
        raise UserError(problem)
    if find_user_by_email(session, tenant_id, email):
        raise UserError(f"a user with email {email} already exists in this tenant")
    user = User(
        tenant_id=tenant_id,
        email=email,
        email_normalized=normalize_email(email),
        name=name.strip(),
        password_hash=hash_password(password),
    )
    session.add(user)
    session.flush()
    return user


def find_user_by_email(session: Session, tenant_id: str, email: str) -> User | None:
    query = tenant_query(User, tenant_id).where(User.email_normalized == normalize_email(email))
    return session.exec(query).first()


def get_user(session: Session, tenant_id: str, user_id: str) -> User | None:
    return session.exec(tenant_query(User, tenant_id).where(User.id == user_id)).first()


# -- managing a tenant's users (the developer portal's Users section) --------------------------------

MAX_PER_PAGE = 100


def email_problem(email: str) -> str | None:
    """Why an address would be refused by ``create_user``, or None (so forms can check it up front)."""
    email = email.strip()
    if not _EMAIL.match(email) or len(email) > EMAIL_MAX:
        return f"{email!r} is not a valid email address"
    return None


@dataclass(frozen=True)
class UserPage:
    users: list[User]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def list_users(
    session: Session, tenant_id: str, *, q: str = "", page: int = 1, per_page: int = 25, offset: int | None = None
) -> UserPage:
    """The tenant's users ordered by email, optionally only those whose email or name contains ``q``
    (case-insensitive), one page at a time (pages count from 1; out-of-range pages are clamped), or from
    ``offset`` when given (the API's paging)."""
    per_page = min(max(per_page, 1), MAX_PER_PAGE)
    query = tenant_query(User, tenant_id)
    q = q.strip()
    if q:
        pattern = _like_pattern(q.lower())
        query = query.where(
            or_(col(User.email_normalized).like(pattern, escape="\\"), col(User.name).ilike(pattern, escape="\\"))
        )
    total = int(session.exec(select(func.count()).select_from(query.subquery())).one())
    pages = max(1, -(-total // per_page))
    page = min(max(page, 1), pages)
    start = (page - 1) * per_page if offset is None else offset
    rows = session.exec(query.order_by(col(User.email_normalized), col(User.id)).offset(start).limit(per_page))
    return UserPage(list(rows.all()), total, page, per_page)


@dataclass(frozen=True)
class Revoked:
    """What disabling a user ended at once."""

    sessions: int
    grants: int


def set_disabled(session: Session, user: User, disabled: bool) -> Revoked:
    """Disable or re-enable a user. A disabled user cannot sign in and their refresh tokens stop working
    (the login and token code refuse disabled users); disabling also ends their browser sessions and
    revokes their grants (every refresh and access token they hold), so re-enabling does not revive them."""
    user.disabled = disabled
    user.updated_at = now()
    session.add(user)
    session.flush()
    if not disabled:
        return Revoked(0, 0)
    t = now()
    ended = session.exec(
        tenant_update(BrowserSession, user.tenant_id)
        .where(col(BrowserSession.user_id) == user.id, col(BrowserSession.revoked_at).is_(None))
        .values(revoked_at=t)
    )
    return Revoked(int(ended.rowcount or 0), revoke_user_grants(session, user.tenant_id, user.id))


def reset_password(session: Session, user: User, new_password: str) -> None:
    """Set a new password chosen by an administrator (the same rules as at sign-up)."""
    problem = password_problem(new_password)
    if problem:
        raise UserError(problem)
    user.password_hash = hash_password(new_password)
    user.updated_at = now()
    session.add(user)
    session.flush()


def delete_user(session: Session, user: User) -> None:
    """Delete the user; their sessions, consents, grants, tokens and memberships go with them (ON DELETE
    CASCADE in the database)."""
    session.delete(user)
    session.flush()
