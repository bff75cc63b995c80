"""RFC 7662 token introspection: Authlib's ``IntrospectionEndpoint`` over our two kinds of token.

Access tokens are JWTs: verified against the tenant's keys, then (for a user's token) its grant must be live
and its user enabled, as at userinfo; a client_credentials token's client must still exist. Refresh tokens
are opaque: looked up by SHA-256 in the tenant. Anything else, another tenant's token included, is
``{"active": false}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from authlib.oauth2 import rfc7662

from identity import bearer, grants
from identity.clock import now
from identity.oauth.grants import CONFIDENTIAL_AUTH_METHODS
from identity.oauth.token_endpoints import ACCESS_TOKEN, REFRESH_TOKEN, TenantTokenEndpoint


@dataclass(frozen=True)
class FoundToken:
    """A token of this tenant that is live (grant, user and client were checked when it was found)."""

    claims: dict[str, Any]  # the introspection response's members, less ``active``

    @property
    def client_id(self) -> str:
        return str(self.claims["client_id"])

    # Authlib's TokenMixin, as create_introspection_payload reads it.
    def is_expired(self) -> bool:
        return int(self.claims["exp"]) < now()

    def is_revoked(self) -> bool:
        return False


class IntrospectionEndpoint(TenantTokenEndpoint, rfc7662.IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = CONFIDENTIAL_AUTH_METHODS  # public clients cannot introspect

    def check_permission(self, token: FoundToken, client: Any, request: Any) -> bool:
        """Any of the tenant's confidential clients (its resource servers) may introspect access tokens; a
        refresh token only ever travels between its own client and us, so only that client may."""
        return bool(token.claims["token_use"] == ACCESS_TOKEN or token.client_id == client.id)

    def introspect_token(self, token: FoundToken) -> dict[str, Any]:
        return dict(token.claims)

    # -- lookups --------------------------------------------------------------------------------------
    def access_token(self, token: str) -> FoundToken | None:
        server = self.server
        verified = self.verified_access_token(token)
        if verified is None or not bearer.stands(server.ctx, server.session, server.tenant, verified):
            return None
        names = ("scope", "client_id", "sub", "exp", "iat", "iss", "aud", "jti", "cnf")  # cnf: RFC 9449 §6.2
        claims = verified.claims
        token_type = "DPoP" if verified.jkt is not None else "Bearer"
        return FoundToken(
            {**{k: claims[k] for k in names if k in claims}, "token_type": token_type, "token_use": ACCESS_TOKEN}
        )

    def refresh_token(self, token: str) -> FoundToken | None:
        row = grants.live_refresh_token(self.server.session, self.server.tenant, token)
        if row is None:
            return None
        return FoundToken(
            {
                "scope": row.scope,
                "client_id": row.client_id,
                "sub": row.user_id,
                "exp": row.expires_at,
                "iat": row.created_at,
                "iss": self.server.issuer,
                "token_use": REFRESH_TOKEN,
            }
        )
