"""The one place passwords are hashed: argon2id through passlib (the libpass distribution)."""

from __future__ import annotations

from functools import cache

from passlib.context import CryptContext

from identity.i18n import N_

_context = CryptContext(schemes=["argon2"], deprecated="auto", argon2__type="ID")

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024  # argon2 takes any length; this bounds the work an attacker can ask for
TOO_SHORT = N_("Password must be at least 8 characters.")  # MIN_PASSWORD_LENGTH (a test checks they agree)
TOO_LONG = N_("Password is too long.")


@cache
def _dummy_hash() -> str:
    """Verified when the email is unknown, so a miss costs the same time as a hit (no user enumeration)."""
    return str(_context.hash("not-a-real-password-only-for-timing"))


def hash_password(password: str) -> str:
    return str(_context.hash(password))


def needs_rehash(password_hash: str) -> bool:
    """Made with other parameters (or scheme) than ours today: rehash it at the next successful sign-in."""
    return bool(_context.needs_update(password_hash))


def verify_password(password: str, password_hash: str | None) -> bool:
    if password_hash is None:
        _context.verify(password, _dummy_hash())
        return False
    return bool(_context.verify(password, password_hash))


def password_problem(password: str) -> str | None:
    """Why a new password is refused, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return TOO_SHORT
    if len(password) > MAX_PASSWORD_LENGTH:
        return TOO_LONG
    return None
