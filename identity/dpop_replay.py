"""DPoP proof replay (RFC 9449 §11.1): each proof's ``jti`` is accepted once per tenant within its window.

The claim is one ``INSERT … ON CONFLICT DO NOTHING`` on the tenant's ``(tenant_id, jti_hash)`` key: the
database decides, so of two replicas that receive the same proof at the same moment exactly one inserts
(memory would let each replica accept it once). Expired rows are swept by a claim now and then, not on
every request, so a proof costs one statement.
"""

from __future__ import annotations

import secrets

from sqlmodel import Session, col

from identity.clock import now
from identity.crypto import sha256_hex
from identity.db import insert_once, tenant_delete
from identity.models.grant import DPoPProofJti
from identity.oauth.dpop import IAT_WINDOW, Proof

SWEEP_ONE_IN = 64  # about one claim in this many also deletes the tenant's expired rows


def claim_jti(session: Session, tenant_id: str, proof: Proof) -> bool:
    """True the first time this proof's ``jti`` is seen in the tenant (within its window); False on a replay."""
    if secrets.randbelow(SWEEP_ONE_IN) == 0:
        session.exec(tenant_delete(DPoPProofJti, tenant_id).where(col(DPoPProofJti.expires_at) < now()))
    return insert_once(
        session, DPoPProofJti, tenant_id=tenant_id, jti_hash=sha256_hex(proof.jti), expires_at=proof.iat + IAT_WINDOW
    )
