"""A user's remembered consents: which apps may act for them, with which scopes; and taking that back."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col

from identity.db import tenant_delete, tenant_query
from identity.grants import revoke_user_grants
from identity.models.client import Client
from identity.models.interaction import Consent
from identity.scopes import split
from tenants import audit


@dataclass(frozen=True)
class RememberedConsent:
    client_id: str
    client_name: str
    scopes: list[str]  # what the user granted (never more than was asked)
    updated_at: int  # when the user last decided


def list_consents(session: Session, tenant_id: str, user_id: str) -> list[RememberedConsent]:
    """The user's remembered consents, most recent decision first."""
    consents = session.exec(
        tenant_query(Consent, tenant_id)
        .where(Consent.user_id == user_id)
        .order_by(col(Consent.updated_at).desc(), col(Consent.client_id))
    ).all()
    ids = [c.client_id for c in consents]
    names = {c.id: c.name for c in session.exec(tenant_query(Client, tenant_id).where(col(Client.id).in_(ids)))}
    return [
        RememberedConsent(c.client_id, names.get(c.client_id, ""), split(c.granted_scope), c.updated_at)
        for c in consents
    ]


def revoke_consent(session: Session, tenant_id: str, user_id: str, client_id: str, actor: audit.Actor) -> bool:
    """Forget the consent and revoke the user's live grants for this app (its refresh tokens, and its access
    tokens at userinfo), so the next sign-in asks again. Audited only when something was revoked."""
    forgotten = session.exec(
        tenant_delete(Consent, tenant_id).where(col(Consent.user_id) == user_id, col(Consent.client_id) == client_id)
    ).rowcount
    revoked = revoke_user_grants(session, tenant_id, user_id, client_id)
    if not forgotten and not revoked:
        return False
    audit.record(session, tenant_id, actor, "consent.revoked", f"client:{client_id}", user=user_id)
    return True
