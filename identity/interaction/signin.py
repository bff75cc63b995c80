"""One password sign-in, the same for every page that takes a password: the hosted login, the admin
console and accepting an invitation with an existing account.

The order is the rule: ``check`` (the throttle, before any expensive work; the hash to verify), ``verify``
(argon2, outside every transaction and behind the server's one queue), then ``complete`` in a new
transaction: the account read again (disabled or given a new password meanwhile: refused), the failure
counted and audited, or the success clearing the throttle and a hash made with older parameters upgraded.
An unknown or disabled account verifies a dummy hash at the same cost, so timing tells nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlmodel import Session

from identity import metrics
from identity.interaction import throttle
from identity.password_service import PasswordVerifier
from identity.settings import Settings
from identity.users import email_problem, normalize_email
from tenants import audit

THROTTLED = "throttled"
# identity_logins_total counts the sign-ins of tenants' end users (hosted login, the password grant, an
# invitation accepted with an existing account), the ones audited as this; platform admins' are not counted.
END_USER_FAILURE = "login.failed"


class Account(Protocol):
    """A tenant's user or a platform admin: what signing in with a password needs of either."""

    id: str
    email: str
    password_hash: str
    disabled: bool


def typed_email_target(email: str) -> str:
    """What an audit event names: the typed address, never a password typed into the email field."""
    return normalize_email(email)[:320] if email_problem(email) is None else "(not an email address)"


@dataclass
class PasswordSignIn:
    settings: Settings
    email: str
    password: str
    ip: str
    failed_event: str  # the audit action of a refusal ("login.failed", "admin.login_failed")
    actor_kind: str = "user"  # actor labels read "user:<id> <email>" or "admin:<id> <email>"
    unknown_reason: str = "unknown_user"
    audit_details: dict[str, Any] = field(default_factory=dict)  # e.g. the client the sign-in is for
    keys: dict[str, str] = field(init=False)
    _stored_hash: str | None = field(default=None, init=False)
    _account_failures: bool = field(default=False, init=False)
    _verified: bool = field(default=False, init=False)
    _upgraded_hash: str | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.keys = throttle.keys_for(normalize_email(self.email), self.ip or "unknown")

    def actor(self, account: Account | None) -> audit.Actor:
        if account is None:
            return audit.Actor("anonymous", self.ip)
        return audit.Actor(f"{self.actor_kind}:{account.id} {account.email}", self.ip)

    def check(self, session: Session, tenant_id: str, account: Account | None) -> bool:
        """Before the hash: False, with a ``throttled`` refusal audited, when too many attempts failed."""
        standing = throttle.standing(session, self.settings, tenant_id, self.keys)
        if standing.blocked:
            self.refused(session, tenant_id, account, THROTTLED)
            return False
        self._stored_hash = account.password_hash if account is not None and not account.disabled else None
        self._account_failures = standing.account_failures
        return True

    async def verify(self, passwords: PasswordVerifier) -> None:
        self._verified, self._upgraded_hash = await passwords.verify_and_update(self.password, self._stored_hash)

    def complete(
        self, session: Session, tenant_id: str, account: Account | None, *, clear_throttle: bool = True
    ) -> bool:
        """Whether the password opened this account, as it is now. ``clear_throttle`` False leaves the
        failure count for a second factor still to pass."""
        if account is None or account.disabled or not self._verified or account.password_hash != self._stored_hash:
            reason = self.unknown_reason if account is None else "disabled" if account.disabled else "bad_password"
            throttle.record_failure(session, self.settings, tenant_id, self.keys)
            self.refused(session, tenant_id, account, reason)
            return False
        if self._upgraded_hash is not None:
            account.password_hash = self._upgraded_hash
            session.add(account)
        if clear_throttle and self._account_failures:  # with none there is nothing to clear
            self.passed(session, tenant_id)
        if self.failed_event == END_USER_FAILURE:
            metrics.count_login(success=True)
        return True

    def passed(self, session: Session, tenant_id: str) -> None:
        """Every factor passed: the account's failure count starts again."""
        throttle.record_success(session, tenant_id, self.keys)

    def refused(self, session: Session, tenant_id: str, account: Account | None, reason: str) -> None:
        """Committed with the throttle counters (the caller keeps the transaction)."""
        details = {"reason": reason, **self.audit_details}
        if self.failed_event == END_USER_FAILURE:
            metrics.count_login(success=False)
        audit.record(
            session, tenant_id, self.actor(account), self.failed_event, typed_email_target(self.email), **details
        )
