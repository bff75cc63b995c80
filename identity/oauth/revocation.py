"""RFC 7009 token revocation: Authlib's ``RevocationEndpoint`` over our two kinds of token.

Revoking a refresh token revokes its whole grant: every refresh and access token issued from that
authorization (RFC 7009 §2.1 SHOULD). Revoking an access token refuses that one token, by ``jti``, until
it expires; its grant (and refresh token) stays. Either way every process refuses it from the commit
on (``identity.invalidation``). A token that is unknown, expired, already revoked or another tenant's is
answered 200 and nothing changes (§2.2: the client cannot do anything about it anyway); a token of
another client of the tenant is ``invalid_grant`` and stays valid: only its own client may revoke it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from authlib.oauth2 import rfc7009
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError

from identity import grants
from identity.oauth.grants import CLIENT_AUTH_METHODS
from identity.oauth.token_endpoints import ACCESS_TOKEN, REFRESH_TOKEN, TenantTokenEndpoint
from tenants import audit


@dataclass(frozen=True)
class RevocableToken:
    kind: str  # ACCESS_TOKEN or REFRESH_TOKEN
    client_id: str
    grant_id: str | None  # None for a client_credentials access token
    jti: str = ""  # access tokens
    expires_at: int = 0  # access tokens

    # Authlib's TokenMixin, as RevocationEndpoint.authenticate_token reads it.
    def check_client(self, client: Any) -> bool:
        return bool(self.client_id == client.get_client_id())


class RevocationEndpoint(TenantTokenEndpoint, rfc7009.RevocationEndpoint):
    # Public clients revoke their own tokens with their client_id alone (RFC 7009 §5: a SPA's sign-out).
    CLIENT_AUTH_METHODS = CLIENT_AUTH_METHODS

    def check_params(self, request: Any, client: Any) -> None:
        # An unknown token_type_hint is ignored (RFC 7009 §2.1 MAY): we tell our tokens apart ourselves.
        # (Authlib would refuse it as unsupported_token_type, with a 401.)
        if "token" not in request.form:
            raise InvalidRequestError(description="The token parameter is required.")

    def authenticate_token(self, request: Any, client: Any) -> RevocableToken | None:
        try:
            found: RevocableToken | None = super().authenticate_token(request, client)
        except InvalidGrantError as error:
            raise InvalidGrantError(description="The token was not issued to this client.") from error
        return found

    def revoke_token(self, token: RevocableToken, request: Any) -> None:
        server = self.server
        actor = audit.Actor(f"client:{token.client_id}")
        if token.kind == REFRESH_TOKEN and token.grant_id is not None:
            revoked = grants.revoke_grant(server.session, server.tenant, token.grant_id)
            target = f"grant:{token.grant_id}"
        else:
            revoked = grants.revoke_access_token(
                server.session, server.tenant, jti=token.jti, client_id=token.client_id, expires_at=token.expires_at
            )
            target = f"access_token:{token.jti}"
        if revoked:  # revoking what already was changes nothing, and is not an event
            audit.record(server.session, server.tenant.id, actor, "token.revoked", target, token_type=token.kind)

    # -- lookups --------------------------------------------------------------------------------------
    def access_token(self, token: str) -> RevocableToken | None:
        verified = self.verified_access_token(token)  # None: not ours, or expired: nothing left to revoke
        if verified is None or not verified.jti:
            return None
        exp = verified.claims.get("exp")
        return RevocableToken(
            ACCESS_TOKEN, verified.client_id, verified.grant_id, verified.jti, exp if isinstance(exp, int) else 0
        )

    def refresh_token(self, token: str) -> RevocableToken | None:
        """Any refresh token of the tenant, rotated ones included: the client means to end that grant."""
        row = grants.find_refresh_token(self.server.session, self.server.tenant, token)
        return None if row is None else RevocableToken(REFRESH_TOKEN, row.client_id, row.grant_id)
