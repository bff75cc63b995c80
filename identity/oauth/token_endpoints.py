"""What introspection (RFC 7662), revocation (RFC 7009) and pushed authorization requests (RFC 9126) share:
the client's authentication failing as one 401. And what the first two share: finding a token of this
tenant whatever its kind, the hint only ordering the search (RFC 7662 §2.1, RFC 7009 §2.1); each says what
it makes of an access token and of a refresh token."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import TokenEndpoint
from authlib.oauth2.rfc6749.errors import InvalidClientError

from identity import bearer
from identity.oauth.client_assertion import AssertionRefused

if TYPE_CHECKING:
    from identity.oauth.server import AuthorizationServer

ACCESS_TOKEN = "access_token"
REFRESH_TOKEN = "refresh_token"


def authenticated_client(server: AuthorizationServer, request: Any, methods: list[str], endpoint: str) -> Any:
    """The client the request authenticates as, by one of ``methods``. Authlib answers an unknown
    client_secret_post client with 400 and its own wording; here every failure is the same 401 (RFC 6749
    §5.2 allows it): unknown ids and wrong secrets look alike. A refused client assertion says which of its
    rules it broke (none of them is secret)."""
    try:
        return server.authenticate_client(request, methods, endpoint)
    except AssertionRefused:
        raise
    except InvalidClientError as error:
        raise InvalidClientError(status_code=401, description="Client authentication failed.") from error


class TenantTokenEndpoint(TokenEndpoint):
    server: AuthorizationServer

    def authenticate_endpoint_client(self, request: Any) -> Any:
        client = authenticated_client(self.server, request, self.CLIENT_AUTH_METHODS, str(self.ENDPOINT_NAME))
        request.client = client
        return client

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
            return bearer.verify_token(server.ctx, server.tenant, ring, token)
        except bearer.BearerError:
            return None

    def access_token(self, token: str) -> Any:
        raise NotImplementedError

    def refresh_token(self, token: str) -> Any:
        raise NotImplementedError
