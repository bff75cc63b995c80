"""Authlib grants with our storage hooks and rules.

Each hook is a few lines that call the storage service ``identity.grants``. The rules we add to
Authlib's: S256-only PKCE, required for public clients; atomic single-use codes with replay
revocation; refresh-token rotation with reuse detection; client_credentials limited to the client's
scopes; refresh tokens only with ``offline_access`` (unless the tenant allows them always).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import grants as rfc6749
from authlib.oauth2.rfc6749.errors import (
    AccessDeniedError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Error,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc6749.hooks import hooked
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc8628 import AuthorizationPendingError, DeviceCodeGrant, ExpiredTokenError, SlowDownError
from authlib.oidc.core import OpenIDCode as AuthlibOpenIDCode

from identity import grants
from identity.models.device import DeviceAuthorization
from identity.models.grant import AuthorizationCode, RefreshToken
from identity.oauth import device
from identity.scopes import OFFLINE_ACCESS, OPENID, join, split, token_audience

if TYPE_CHECKING:
    from identity.oauth.server import AuthorizationServer

CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
# What a client without a user proves itself with: every method but none.
CONFIDENTIAL_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]


class _IssuesTokens:
    """Token generation for our grants: JWT access token, opaque refresh token, all from the server."""

    server: AuthorizationServer
    request: Any

    def generate_token(
        self,
        user: Any = None,
        scope: str | None = None,
        grant_type: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        return self.server.issue_tokens(self.request, user, scope or "", include_refresh_token)

    def save_token(self, token: dict[str, Any]) -> None:
        # Refresh tokens are stored by issue_tokens (only their hash); access tokens are never stored.
        return None


class AuthorizationCodeGrant(_IssuesTokens, rfc6749.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS
    AUTHORIZATION_CODE_LENGTH = 43  # 43 URL-safe characters = 256 bits

    def validate_token_request(self) -> None:
        super().validate_token_request()
        self.server.check_dpop(self.request, self.request.authorization_code.dpop_jkt)

    def save_authorization_code(self, code: str, request: Any) -> AuthorizationCode:
        return grants.save_code(self.server.session, self.server.tenant, code, request)

    def query_authorization_code(self, code: str, client: Any) -> AuthorizationCode | None:
        return grants.consume_code(self.server.session, self.server.tenant, code, client.id)

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        return None  # consumed atomically in query_authorization_code; kept to detect replays

    def authenticate_user(self, authorization_code: AuthorizationCode) -> Any:
        user = grants.active_user(self.server.session, self.server.tenant, authorization_code.user_id)
        if user is None:
            raise InvalidGrantError("The user of this code can no longer sign in.")
        return user

    @hooked
    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        code = self.request.authorization_code
        self.request.user = self.authenticate_user(code)
        token = self.generate_token(
            user=self.request.user,
            scope=code.scope,
            include_refresh_token=self.server.may_issue_refresh_token(self.request.client, code.scope),
        )
        return 200, token, self.TOKEN_RESPONSE_HEADER


class RefreshTokenGrant(_IssuesTokens, rfc6749.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation on every use

    retry: grants.Retry | None = None

    def validate_token_request(self) -> None:
        super().validate_token_request()  # claims the token (rolled back if anything below refuses)
        self.server.check_dpop(self.request, self.request.refresh_token.dpop_jkt)

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshToken | None:
        claimed = grants.rotate_refresh_token(
            self.server.session,
            self.server.tenant,
            refresh_token,
            self.request.client.id,
            grace=self.request.client.row.refresh_token_grace,
            sealer=self.server.ctx.retry_sealer,
        )
        if isinstance(claimed, grants.Retry):
            self.retry = claimed
            return claimed.token
        return claimed

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        """A retry within the client's grace gets the rotation's response again; otherwise a new one, kept
        (sealed) on the token it replaced when the client has a grace."""
        if self.retry is not None:
            return 200, self.retry.response, self.TOKEN_RESPONSE_HEADER
        status, body, headers = super().create_token_response()
        if self.request.client.row.refresh_token_grace > 0 and "refresh_token" in body:
            grants.seal_successor(
                self.server.session, self.server.tenant, self.request.refresh_token, body, self.server.ctx.retry_sealer
            )
        return status, body, headers

    def authenticate_user(self, refresh_token: RefreshToken) -> Any:
        user = grants.active_user(self.server.session, self.server.tenant, refresh_token.user_id)
        if user is None:
            raise InvalidGrantError("The user of this refresh token can no longer sign in.")
        return user

    def revoke_old_credential(self, refresh_token: RefreshToken) -> None:
        return None  # rotated atomically in authenticate_refresh_token

    def _validate_token_scope(self, token: RefreshToken) -> None:
        # RFC 6749 §6: a narrower scope may be asked for, never a wider one.
        requested = split(self.request.payload.scope)
        if requested and not set(requested) <= set(split(token.scope)):
            raise InvalidScopeError("The requested scope exceeds the scope originally granted.")


class ClientCredentialsGrant(_IssuesTokens, rfc6749.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_AUTH_METHODS

    def validate_token_request(self) -> None:
        super().validate_token_request()
        self.server.check_dpop(self.request)
        allowed = [s for s in self.request.client.row.scopes if s not in {OPENID, OFFLINE_ACCESS}]
        requested = split(self.request.payload.scope)
        if requested and not set(requested) <= set(allowed):
            raise InvalidScopeError("The client is not allowed some of the requested scopes.")
        try:
            token_audience(self.server.issuer, self.server.ctx.settings.public_url, requested or allowed)
        except ValueError as error:
            raise InvalidScopeError(str(error)) from error
        self.request.scope = join(requested or allowed)

    @hooked
    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        token = self.generate_token(scope=self.request.scope, include_refresh_token=False)
        return 200, token, self.TOKEN_RESPONSE_HEADER


# RFC 8628 §3.5: what each refusal of a device code poll is.
DEVICE_ERRORS: dict[str, type[OAuth2Error]] = {
    device.INVALID_GRANT: InvalidGrantError,
    device.EXPIRED_TOKEN: ExpiredTokenError,
    device.ACCESS_DENIED: AccessDeniedError,
    device.SLOW_DOWN: SlowDownError,
    device.AUTHORIZATION_PENDING: AuthorizationPendingError,
}


class DeviceGrant(_IssuesTokens, DeviceCodeGrant):
    """RFC 8628 §3.4-3.5, Authlib's grant with our storage: the poll is answered by ``device.redeem`` (one
    conditional UPDATE claims an approved code), an unknown code or another client's is ``invalid_grant``
    (Authlib says invalid_request / unauthorized_client), and the tokens are what the code grant issues."""

    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS

    def validate_token_request(self) -> None:
        device_code = self.request.payload.data.get("device_code")
        if not device_code:
            raise InvalidRequestError("The device_code parameter is required.")
        client = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError("This client may not use the device authorization grant.")
        self.request.client = client
        self.server.check_dpop(self.request)  # before the code is touched: a refused proof changes nothing
        outcome = device.redeem(self.server.session, self.server.tenant, device_code, client.id)
        if isinstance(outcome, str):
            raise DEVICE_ERRORS[outcome]()
        if outcome.grant_id is None or grants.is_grant_revoked(
            self.server.session, self.server.tenant, outcome.grant_id
        ):
            raise InvalidGrantError("The sign-in this device code was approved with has ended.")
        user = grants.active_user(self.server.session, self.server.tenant, outcome.user_id or "")
        if user is None:
            raise InvalidGrantError("The user who approved this device can no longer sign in.")
        self.request.client, self.request.user, self.request.device_authorization = client, user, outcome

    @hooked
    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        authorization: DeviceAuthorization = self.request.device_authorization
        scope = authorization.granted_scope or ""
        token = self.generate_token(
            user=self.request.user,
            scope=scope,
            include_refresh_token=self.server.may_issue_refresh_token(self.request.client, scope),
        )
        return 200, token, self.TOKEN_RESPONSE_HEADER


class _AfterTokenResponse(ABC):
    """A grant extension that adds to the token response (an ID token) once the grant has made it."""

    def __init__(self, server: AuthorizationServer) -> None:
        self.server = server

    def __call__(self, grant: Any) -> None:
        grant.register_hook("after_create_token_response", self.process_token)

    @abstractmethod
    def process_token(self, grant: Any, response: Any) -> dict[str, Any]: ...


class DeviceIdToken(_AfterTokenResponse):
    """An ID token with the device grant's tokens when ``openid`` was granted, as the code grant has: the
    sign-in's ``auth_time`` and ``sid``, no nonce (the device sent none)."""

    def process_token(self, grant: Any, response: Any) -> dict[str, Any]:
        token: dict[str, Any] = response[1]  # (status, body, headers)
        if OPENID in split(token.get("scope")):
            authorization: DeviceAuthorization = grant.request.device_authorization
            token["id_token"] = self.server.id_token(
                grant.request, token, authorization.auth_time or 0, None, authorization.sid
            )
        return token


class S256CodeChallenge(CodeChallenge):
    """PKCE with S256 only (``plain`` refused), required for clients registered to need it."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if data.get("code_challenge") and data.get("code_challenge_method") != "S256":
            # RFC 7636 §4.3: an absent method means "plain", which we do not support.
            raise InvalidRequestError("code_challenge_method must be S256")
        super().validate_code_challenge(grant, redirect_uri)
        if grant.request.client.row.require_pkce and not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required for this client: send code_challenge (S256)")


class OpenIDCode(AuthlibOpenIDCode):
    """OIDC for the code grant. Authlib validates nonce and prompt; the ID token is ours."""

    def __init__(self, server: AuthorizationServer) -> None:
        super().__init__(require_nonce=False)
        self.server = server

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        # The nonce protects the relying party, which checks it against its own session; the OP
        # only carries it into the ID token (OIDC Core §3.1.2.1). No server-side uniqueness check.
        return False

    def process_token(self, grant: Any, response: Any) -> dict[str, Any]:
        token: dict[str, Any] = response[1]  # (status, body, headers)
        if OPENID in split(token.get("scope")):
            code = grant.request.authorization_code
            token["id_token"] = self.server.id_token(grant.request, token, code.auth_time, code.nonce, code.sid)
        return token


class RefreshIdToken(_AfterTokenResponse):
    """Also return a fresh ID token on refresh when ``openid`` was granted (OIDC Core §12.2)."""

    def process_token(self, grant: Any, response: Any) -> dict[str, Any]:
        token: dict[str, Any] = response[1]  # (status, body, headers)
        if OPENID in split(token.get("scope")):
            family = grants.grant_of(self.server.session, self.server.tenant, grant.request.refresh_token)
            token["id_token"] = self.server.id_token(grant.request, token, family.auth_time, None, family.sid)
        return token
