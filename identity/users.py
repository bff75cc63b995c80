"""End users of a tenant."""

from __future__ import annotations

import re

from sqlmodel import Session

from identity.db import tenant_query
from identity.models.user import User
from identity.passwords import hash_password, password_problem

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class UserError(ValueError):
    """A user we refuse to create, with a message fit to show."""


def normalize_email(email: str) -> str:
    return email.strip().lower()


def create_user(session: Session, tenant_id: str, *, email: str, password: str, name: str = "") -> User:
    email = email.strip()
    if not _EMAIL.match(email) or len(email) > 320:
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
