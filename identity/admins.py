"""Platform admins: their accounts, their sign-in sessions and their TOTP second factor.

Admins are not tenant users: they live in their own table, sign in at ``/admin`` only, and their
sessions are rows of their own (``AdminSession``), so no tenant session can ever stand for one.
Services only flush; the caller's transaction commits.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyotp
from pyotp.utils import strings_equal
from sqlalchemy import or_, update
from sqlmodel import Session, col, select

from identity.clock import now
from identity.crypto import KeyEncryptor, random_token, sha256_hex
from identity.models.admin import AdminSession, PlatformAdmin
from identity.passwords import hash_password, password_problem
from identity.users import email_problem, normalize_email

SESSION_TTL = 12 * 3600
TOTP_ISSUER = "Identity platform"


class AdminError(ValueError):
    """An admin account we refuse to create, with a message fit to show."""


# -- accounts -----------------------------------------------------------------------------------------


def create_admin(session: Session, *, email: str, password: str) -> PlatformAdmin:
    email = email.strip()
    if problem := email_problem(email):
        raise AdminError(problem)
    if problem := password_problem(password):
        raise AdminError(problem)
    if find_admin(session, email) is not None:
        raise AdminError(f"a platform admin with email {email} already exists")
    admin = PlatformAdmin(email=email, email_normalized=normalize_email(email), password_hash=hash_password(password))
    session.add(admin)
    session.flush()
    return admin


def find_admin(session: Session, email: str) -> PlatformAdmin | None:
    query = select(PlatformAdmin).where(PlatformAdmin.email_normalized == normalize_email(email))
    return session.exec(query).first()


def get_admin(session: Session, admin_id: str) -> PlatformAdmin | None:
    return session.get(PlatformAdmin, admin_id)


# -- sessions -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveSession:
    row: AdminSession
    admin: PlatformAdmin


def start_session(session: Session, admin: PlatformAdmin, *, mfa_passed: bool, previous_id: str | None) -> str:
    """A new random id at every sign-in step (no fixation); the previous session, if any, ends. Returns the
    id for the cookie; only its SHA-256 is stored."""
    if previous_id:
        end_session(session, previous_id)
    session_id = random_token(32)
    t = now()
    session.add(
        AdminSession(
            id_hash=sha256_hex(session_id),
            admin_id=admin.id,
            mfa_passed=mfa_passed,
            created_at=t,
            expires_at=t + SESSION_TTL,
        )
    )
    session.flush()
    return session_id


def live_session(session: Session, session_id: str | None) -> LiveSession | None:
    """The session behind this cookie value, if it is unexpired, unrevoked and its admin still enabled."""
    if not session_id:
        return None
    row = session.get(AdminSession, sha256_hex(session_id))
    if row is None or row.revoked_at is not None or row.expires_at <= now():
        return None
    admin = get_admin(session, row.admin_id)
    if admin is None or admin.disabled:
        return None
    return LiveSession(row, admin)


def end_session(session: Session, session_id: str) -> None:
    session.exec(
        update(AdminSession)
        .where(col(AdminSession.id_hash) == sha256_hex(session_id), col(AdminSession.revoked_at).is_(None))
        .values(revoked_at=now())
    )


# -- TOTP (RFC 6238) ----------------------------------------------------------------------------------


def _totp(encryptor: KeyEncryptor, admin: PlatformAdmin) -> pyotp.TOTP | None:
    if not admin.totp_secret_encrypted:
        return None
    return pyotp.TOTP(encryptor.decrypt(admin.totp_secret_encrypted).decode())


def pending_secret(session: Session, encryptor: KeyEncryptor, admin: PlatformAdmin) -> str:
    """The secret an admin is enrolling with: made (and stored encrypted) on first use, the same one until
    enrolment is confirmed, so reloading the page does not invalidate what the app already scanned."""
    if admin.totp_enabled:
        raise AdminError("two-step verification is already on")
    totp = _totp(encryptor, admin)
    if totp is not None:
        return totp.secret
    secret = pyotp.random_base32()
    admin.totp_secret_encrypted = encryptor.encrypt(secret.encode())
    session.add(admin)
    session.flush()
    return secret


def provisioning_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=TOTP_ISSUER)


def _matching_step(totp: pyotp.TOTP, code: str, at: int) -> int | None:
    """The time step whose code this is, within ``verify(valid_window=1)``'s window (the previous, current
    and next 30 s); we need the step itself to refuse a replay."""
    code = code.replace(" ", "")
    if len(code) != totp.digits or not code.isdigit():
        return None
    current = totp.timecode(at)
    matches = [step for step in (current - 1, current, current + 1) if strings_equal(code, totp.generate_otp(step))]
    return max(matches) if matches else None


def _claim_step(session: Session, admin: PlatformAdmin, step: int) -> bool:
    """Record ``step`` as used, atomically: false when it (or a later one) was already accepted, also by
    a concurrent request on another replica."""
    claimed = session.exec(
        update(PlatformAdmin)
        .where(
            col(PlatformAdmin.id) == admin.id,
            or_(col(PlatformAdmin.totp_last_step).is_(None), col(PlatformAdmin.totp_last_step) < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        return False
    session.refresh(admin)
    return True


def check_code(session: Session, encryptor: KeyEncryptor, admin: PlatformAdmin, code: str) -> str | None:
    """None when the code is right and fresh; otherwise why not (``bad_totp``, ``replayed_totp``)."""
    totp = _totp(encryptor, admin)
    step = _matching_step(totp, code, now()) if totp is not None else None
    if step is None:
        return "bad_totp"
    if not _claim_step(session, admin, step):
        return "replayed_totp"
    return None


def confirm_enrolment(session: Session, encryptor: KeyEncryptor, admin: PlatformAdmin, code: str) -> str | None:
    """Turn TOTP on once the admin proves their app has the secret; from now on every sign-in needs it."""
    if admin.totp_enabled or not admin.totp_secret_encrypted:
        return "not_enrolling"
    if problem := check_code(session, encryptor, admin, code):
        return problem
    admin.totp_enabled = True
    session.add(admin)
    session.flush()
    return None
