"""Authlib's view of a client: ``ClientMixin`` over our ``Client`` row."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import ClientMixin

from identity.clock import now
from identity.crypto import SecretHasher
from identity.models.client import Client
from identity.scopes import split

# The response types we serve, by the grant type a client must have for each (OIDC Core §3; the implicit
# flow's token-bearing types; "token" alone, OAuth 2.0's implicit without an ID token, is not offered).
RESPONSE_TYPE_GRANTS = {"code": "authorization_code", "id_token": "implicit", "id_token token": "implicit"}
SECRET_METHODS = frozenset({"client_secret_basic", "client_secret_post"})


class OAuthClient(ClientMixin):
    def __init__(self, row: Client, hasher: SecretHasher, issuer: str) -> None:
        self.row = row
        self._hasher = hasher
        # A first-party app registers paths relative to its issuer, so a new public URL keeps it working.
        self.redirect_uris = [issuer + uri if uri.startswith("/") else uri for uri in row.redirect_uris]

    @property
    def id(self) -> str:
        return self.row.id

    def get_client_id(self) -> str:
        return self.row.id

    def get_default_redirect_uri(self) -> str | None:
        # Only a client with exactly one registered URI may omit redirect_uri (RFC 6749 §3.1.2.3).
        uris = self.redirect_uris
        return uris[0] if len(uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """Every requested scope must be allowed for this client; None means invalid_scope."""
        requested = split(scope)
        if not requested or any(item not in self.row.scopes for item in requested):
            return None
        return " ".join(requested)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # Exact string comparison: no prefix, case, port or trailing-slash leniency.
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        if self.row.secret_hash is None:  # a public or private_key_jwt client has no secret to match
            return False
        if self._hasher.verify(client_secret, self.row.secret_hash):
            return True
        # During a rotation's grace period the previous secret still works.
        expires = self.row.previous_secret_expires_at
        return (
            expires is not None
            and expires > now()
            and self._hasher.verify(client_secret, self.row.previous_secret_hash)
        )

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        """The registered method, at every endpoint that authenticates clients. The two ways of sending a
        secret stay interchangeable: both always worked for every confidential client, and which one the
        client uses changes nothing about what it proves."""
        if self.row.is_public:
            return method == "none"
        registered = self.row.token_endpoint_auth_method
        if registered in SECRET_METHODS:
            return method in SECRET_METHODS
        return method == registered

    def check_response_type(self, response_type: str) -> bool:
        grant_type = RESPONSE_TYPE_GRANTS.get(response_type)
        return grant_type is not None and grant_type in self.row.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.row.grant_types
