"""Pushed authorization requests (RFC 9126): kept until the browser brings the ``request_uri`` to /authorize,
then used once.

The reference is random (256 bits) and only its SHA-256 is stored. It is claimed with one conditional
``UPDATE … WHERE used_at IS NULL``, so of two /authorize requests with the same reference exactly one gets
the parameters (RFC 9126 §4 allows a reload to be honoured; we do not: the reference is spent and the
pending request continues on its own, ``identity.interaction.flows``).
"""

from __future__ import annotations

from sqlmodel import Session, col

from identity.clock import now
from identity.crypto import random_token, sha256_hex
from identity.db import tenant_delete, tenant_update
from identity.models.interaction import PushedRequest
from identity.models.tenant import Tenant

URN_PREFIX = "urn:ietf:params:oauth:request_uri:"  # RFC 9126 §2.2
PUSHED_TTL = 90  # §2.2: "short lived"; long enough to send a browser on its way


def push(session: Session, tenant: Tenant, client_id: str, params: list[tuple[str, str]]) -> str:
    """Keep the validated request's parameters; the ``request_uri`` to hand the browser."""
    t = now()
    # Spent and expired references of this tenant go when new ones come: the table never grows without bound.
    session.exec(tenant_delete(PushedRequest, tenant.id).where(col(PushedRequest.expires_at) < t))
    reference = random_token(32)
    session.add(
        PushedRequest(
            tenant_id=tenant.id,
            ref_hash=sha256_hex(reference),
            client_id=client_id,
            params={"items": [list(item) for item in params]},
            expires_at=t + PUSHED_TTL,
        )
    )
    session.flush()
    return URN_PREFIX + reference


def is_pushed_reference(request_uri: str) -> bool:
    return request_uri.startswith(URN_PREFIX)


def claim(session: Session, tenant: Tenant, request_uri: str, client_id: str) -> list[tuple[str, str]] | None:
    """The pushed parameters, once, for the client that pushed them, until they expire; None otherwise."""
    reference = request_uri.removeprefix(URN_PREFIX)
    if not reference or len(reference) > 100:
        return None
    claimed = session.exec(
        tenant_update(PushedRequest, tenant.id)
        .where(
            col(PushedRequest.ref_hash) == sha256_hex(reference),
            col(PushedRequest.client_id) == client_id,
            col(PushedRequest.used_at).is_(None),
            col(PushedRequest.expires_at) >= now(),
        )
        .values(used_at=now())
        .returning(PushedRequest)
    ).first()
    if claimed is None:
        return None
    return [(k, v) for k, v in claimed[0].params["items"]]
