"""What introspection (RFC 7662) and revocation (RFC 7009) share: the client's authentication failing as one
401, and finding a token of this tenant whatever its kind, the hint only ordering the search (RFC 7662
§2.1, RFC 7009 §2.1). Each endpoint says what it makes of an access token and of a refresh token."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import TokenEndpoint
from authlib.oauth2.rfc6749.errors import InvalidClientError

from identity import bearer

if TYPE_CHECKING:
    from identity.oauth.server import AuthorizationServer

ACCESS_TOKEN = "access_token"
REFRESH_TOKEN = "refresh_token"


class TenantTokenEndpoint(TokenEndpoint):
    server: AuthorizationServer

    def authenticate_endpoint_client(self, request: Any) -> Any:
        try:
            return super().authenticate_endpoint_client(request)
        except InvalidClientError as error:
            # Authlib answers an unknown client_secret_post client with 400 and its own wording; here every
            # failure is the same 401 (RFC 6749 §5.2 allows it): unknown ids and wrong secrets look alike.
            raise InvalidClientError(status_code=401, description="Client authentication failed.") from error

    def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
        finders = [self.access_token, self.refresh_token]
        if token_type_hint == REFRESH_TOKEN:
            finders.reverse()
        return next((found for find in finders if (found := find(token_string)) is not None), None)

    def verified_access_token(self, token: str) -> bearer.AccessToken | None:
        """One of our access tokens, signature, issuer and expiry checked; None for anything else."""
        server = self.server
        ring = server.ctx.keys.get(server.session, server.tenant)
        try:
            return bearer.verify(server.ctx, server.tenant, ring, token)
        except bearer.BearerError:
            return None

    def access_token(self, token: str) -> Any:
        raise NotImplementedError

    def refresh_token(self, token: str) -> Any:
        raise NotImplementedError
