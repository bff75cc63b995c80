"""The seed grants OAuth 2.1 drops: the resource owner password credentials grant (RFC 6749 §4.3) and the
OpenID Connect implicit flow (OIDC Core §3.2: ``id_token`` and ``id_token token``).

Neither is on unless the tenant allows it and opts the app in (``Tenant.allowed_grant_types``, the app's
``grant_types``); otherwise ``unsupported_grant_type`` / ``unsupported_response_type`` or
``unauthorized_client``. Both start a grant of their own, so revocation, "sign out everywhere" and logout
reach their tokens as they reach the code flow's.

The password grant verifies the password as the hosted login does (``PasswordSignIn``): the throttle and
the stored hash are read in one transaction, argon2 runs outside every transaction behind the server's
queue, and the account is read again in a second transaction that issues the tokens. The token endpoint
runs the grant twice for that (``identity.endpoints.token``): ``PasswordStep.verified`` says which pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749 import grants as rfc6749
from authlib.oauth2.rfc6749.errors import AccessDeniedError, InvalidClientError, InvalidGrantError, InvalidScopeError
from authlib.oauth2.rfc6749.hooks import hooked
from authlib.oidc.core.grants import OpenIDImplicitGrant

from identity import grants
from identity.clock import now
from identity.interaction.signin import PasswordSignIn
from identity.oauth.grants import CONFIDENTIAL_AUTH_METHODS, _IssuesTokens
from identity.scopes import OPENID, split
from identity.users import find_user_by_email
from tenants import audit

if TYPE_CHECKING:
    from identity.oauth.server import AuthorizationServer

# Set on the session when a password attempt was counted or audited: kept although the response is an error.
SIGN_IN_RECORDED = "sign_in_recorded"
BAD_CREDENTIALS = "The email address or password is not correct."
THROTTLED = "Too many failed sign-in attempts for this account or address. Try again later."


class PasswordToVerify(Exception):
    """The first pass is over: the client, the grant and the throttle allow the attempt; verify the hash."""


@dataclass
class PasswordStep:
    attempt: PasswordSignIn
    verified: bool  # False: the first pass (stops before the hash); True: the hash was verified
    client_id: str | None = None  # the client the first pass authenticated


class PasswordGrant(_IssuesTokens, rfc6749.ResourceOwnerPasswordCredentialsGrant):
    # Confidential clients only: a public client's id is no credential, so anyone could try passwords with it.
    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_AUTH_METHODS

    def authenticate_token_endpoint_client(self) -> Any:
        """The first pass authenticates the client; the second takes the client it found (a client
        assertion's jti is spent by the first: presenting it again would be a replay)."""
        step = self.server.password_step
        assert step is not None  # the token endpoint sets it for every grant_type=password request
        if step.client_id is None:
            client = super().authenticate_token_endpoint_client()
            step.client_id = client.id
        else:
            client = self.server.query_client(step.client_id)
            if client is None:  # deleted while the password was checked
                raise InvalidClientError()
        # Authlib names the client on the request only after authenticate_user, which audits it.
        self.request.client = client
        return client

    def authenticate_user(self, username: str, password: str) -> Any:
        server: AuthorizationServer = self.server
        step = server.password_step
        assert step is not None  # the token endpoint sets it for every grant_type=password request
        session, tenant = server.session, server.tenant
        server.check_dpop(self.request)  # in the first pass too: a refused proof costs no hash
        user = find_user_by_email(session, tenant.id, username)
        step.attempt.audit_details = {"client_id": self.request.client.id, "grant_type": "password"}
        if not step.verified:
            if not step.attempt.check(session, tenant.id, user):
                session.info[SIGN_IN_RECORDED] = True
                raise InvalidGrantError(THROTTLED)
            raise PasswordToVerify
        if not step.attempt.complete(session, tenant.id, user) or user is None:  # (None: refused by complete)
            session.info[SIGN_IN_RECORDED] = True
            raise InvalidGrantError(BAD_CREDENTIALS)
        audit.record(
            session,
            tenant.id,
            step.attempt.actor(user),
            "login.succeeded",
            f"user:{user.id}",
            client_id=self.request.client.id,
            grant_type="password",
        )
        return user

    def validate_requested_scope(self) -> None:
        """Only scopes this app may have, and some (RFC 6749 §3.3: no default is assumed for a user's grant)."""
        if self.request.client.get_allowed_scope(self.request.payload.scope) is None:
            raise InvalidScopeError("Ask for one or more of the scopes this application is allowed.")

    @hooked
    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        server: AuthorizationServer = self.server
        request = self.request
        scope = request.payload.scope or ""
        request.auth_time = now()  # the password was just checked: that is the authentication
        request.grant = grants.start_grant(server.session, server.tenant, request, scope)
        token = self.generate_token(
            user=request.user, scope=scope, include_refresh_token=server.may_issue_refresh_token(request.client, scope)
        )
        if OPENID in split(scope):
            token["id_token"] = server.id_token(request, token, request.auth_time, None, None)
        return 200, token, self.TOKEN_RESPONSE_HEADER


class ImplicitGrant(_IssuesTokens, OpenIDImplicitGrant):
    """OIDC implicit: ``nonce`` required (Authlib checks it), ``openid`` required, and the ID token is ours
    (the code flow's signer and claims). The response is built in the query, as the code flow's is, and
    ``identity.oauth.response_mode`` moves it to the fragment (the default here) or a form_post page."""

    def authenticate_token_endpoint_client(self) -> Any:
        """An authorization request carries no client credentials: the client is the one its client_id
        names, and its registered redirect URI is what proves the response reaches it (as in the code
        flow), so a confidential app may use this flow too (form_post to its server, say)."""
        client = self.server.query_client(self.request.payload.client_id)
        if client is None:
            raise InvalidClientError(state=self.request.payload.state)
        return client

    def validate_consent_request(self) -> str:
        # Authlib's OIDC implicit grant returns the validated redirect URI without keeping it, as the code
        # grant does: our checks after Authlib's (response_mode, claims, max_age) redirect their errors to it.
        redirect_uri: str = super().validate_consent_request()
        self.redirect_uri = redirect_uri
        return redirect_uri

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        return False  # as OpenIDCode: the nonce protects the relying party, which checks it

    def create_authorization_response(self, redirect_uri: str, grant_user: Any) -> tuple[int, str, list[Any]]:
        if grant_user is None:
            raise AccessDeniedError(redirect_uri=redirect_uri)
        server: AuthorizationServer = self.server
        request = self.request
        request.user = grant_user
        request.grant = grants.start_grant(server.session, server.tenant, request, request.scope)
        token: dict[str, Any] = {"scope": request.scope}  # response_type=id_token: no access token
        params: list[tuple[str, Any]] = []
        if request.payload.response_type == "id_token token":
            token = self.generate_token(user=grant_user, scope=request.scope, include_refresh_token=False)
            params += [(k, token[k]) for k in ("access_token", "token_type", "expires_in", "scope")]
        # The ID token carries the scope's claims (OIDC Core §5.4: with response_type=id_token there is no
        # access token to ask userinfo with) and, with an access token, its at_hash.
        id_token = server.id_token(
            request, token, request.auth_time or now(), request.payload.data.get("nonce"), request.sid
        )
        params.append(("id_token", id_token))
        if request.payload.state:
            params.append(("state", request.payload.state))
        return 302, "", [("Location", add_params_to_uri(redirect_uri, params))]
