"""Initial access tokens for dynamic registration: made and revoked by the tenant's admins, each an audit
event (never with the token itself)."""

from __future__ import annotations

from sqlmodel import Session

from identity.context import AppContext
from identity.initial_tokens import NewInitialToken, find_initial_token, issue_initial_token, revoke_initial_token
from identity.models.registration import InitialAccessToken
from identity.models.tenant import Tenant
from tenants import audit
from tenants.manage.errors import Invalid, Missing

LABEL_MAX = 100
LIFETIME_DAYS_MAX = 365
USES_MAX = 100_000


def _has_control(text: str) -> bool:
    return any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in text)


def create_initial_token(
    session: Session,
    ctx: AppContext,
    tenant: Tenant,
    actor: audit.Actor,
    *,
    label: str,
    lifetime_days: int | str | None,
    max_uses: int | str | None,
) -> NewInitialToken:
    """A new token, shown once. ``lifetime_days`` 1 to 365; ``max_uses`` empty (no limit) or 1 to 100000
    (text from a form that is not a whole number is refused on its field)."""
    errors: dict[str, list[str]] = {}
    label = label.strip()
    if not label:
        errors["label"] = ["give the token a name, such as who it is for"]
    elif len(label) > LABEL_MAX or _has_control(label):
        errors["label"] = [f"at most {LABEL_MAX} characters, no control characters"]
    if isinstance(lifetime_days, bool) or not isinstance(lifetime_days, int):
        errors["lifetime_days"] = ["enter a whole number of days"]
    elif not 1 <= lifetime_days <= LIFETIME_DAYS_MAX:
        errors["lifetime_days"] = [f"must be between 1 and {LIFETIME_DAYS_MAX} days"]
    if max_uses is not None and (
        isinstance(max_uses, bool) or not isinstance(max_uses, int) or not 1 <= max_uses <= USES_MAX
    ):
        errors["max_uses"] = [f"leave empty for no limit, or enter 1 to {USES_MAX}"]
    if errors:
        raise Invalid("; ".join(m for ms in errors.values() for m in ms), errors)
    assert isinstance(lifetime_days, int) and (max_uses is None or isinstance(max_uses, int))
    new = issue_initial_token(
        session,
        tenant.id,
        ctx.hasher,
        label=label,
        lifetime_seconds=lifetime_days * 86400,
        max_uses=max_uses,
        created_by=actor.label,
    )
    audit.record(
        session,
        tenant.id,
        actor,
        "initial_access_token.created",
        new.row.id,
        label=label,
        expires_at=new.row.expires_at,
        max_uses=max_uses,
    )
    return new


def get_initial_token(session: Session, tenant: Tenant, token_id: str) -> InitialAccessToken:
    row = find_initial_token(session, tenant.id, token_id)
    if row is None:
        raise Missing(f"no initial access token {token_id!r}")
    return row


def revoke(session: Session, tenant: Tenant, actor: audit.Actor, row: InitialAccessToken) -> None:
    if row.revoked_at is not None:
        return  # revoked already: nothing changes, no second event
    revoke_initial_token(session, row)
    audit.record(session, tenant.id, actor, "initial_access_token.revoked", row.id, label=row.label)
