"""The per-request, per-tenant Authlib ``AuthorizationServer`` (the pattern Polar runs in production).

Construction is a handful of ``register_*`` calls; the expensive part, parsed keys, is cached in
``KeyCache`` by tenant and key version.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from authlib.oauth2 import rfc6749
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError, OAuth2Error
from authlib.oauth2.rfc9207 import IssuerParameter
from sqlmodel import Session

from identity import grants, metrics
from identity.context import AppContext
from identity.models.tenant import DEVICE_CODE, Tenant
from identity.oauth import claims_request
from identity.oauth.client import OAuthClient
from identity.oauth.client_assertion import PRIVATE_KEY_JWT, PrivateKeyJWT
from identity.oauth.dpop import INVALID_DPOP_PROOF, USE_DPOP_NONCE, DPoPError
from identity.oauth.grants import (
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    DeviceGrant,
    DeviceIdToken,
    OpenIDCode,
    RefreshIdToken,
    RefreshTokenGrant,
    S256CodeChallenge,
)
from identity.oauth.legacy_grants import ImplicitGrant, PasswordGrant, PasswordStep
from identity.scopes import OFFLINE_ACCESS, split, token_audience
from identity.tokens import Signer
from identity.userinfo_claims import user_claims


@dataclass
class OAuthResponse:
    """What Authlib returns, before it becomes an HTTP response. ``location`` is what RFC 9207 edits."""

    status: int
    body: Any
    headers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def location(self) -> str | None:
        return next((v for k, v in self.headers if k.lower() == "location"), None)

    @location.setter
    def location(self, value: str) -> None:
        self.headers = [(k, v) for k, v in self.headers if k.lower() != "location"] + [("Location", value)]


class InvalidDPoPProofError(OAuth2Error):
    """RFC 9449 §5: the proof is missing where it is required, or is not acceptable."""

    error = INVALID_DPOP_PROOF


class UseDPoPNonceError(OAuth2Error):
    """RFC 9449 §8: the proof must carry the nonce this response's ``DPoP-Nonce`` header gives."""

    error = USE_DPOP_NONCE


def dpop_oauth_error(error: DPoPError) -> OAuth2Error:
    if error.error == USE_DPOP_NONCE:
        return UseDPoPNonceError(error.description)
    return InvalidDPoPProofError(error.description)


class TenantIssuerParameter(IssuerParameter):
    """RFC 9207: ``iss`` in every authorization response, errors included."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer

    def get_issuer(self) -> str:
        return self.issuer


def presented_credentials(request: Any) -> set[str]:
    """Which kinds of client credentials the request carries: a Basic header, a client_secret in the form,
    a client assertion."""
    kinds = set()
    if request.headers.get("Authorization", "").lower().startswith("basic "):
        kinds.add("client_secret_basic")
    if "client_secret" in request.form:
        kinds.add("client_secret_post")
    if "client_assertion" in request.form or "client_assertion_type" in request.form:
        kinds.add(PRIVATE_KEY_JWT)
    return kinds


class AuthorizationServer(rfc6749.AuthorizationServer):
    def __init__(self, ctx: AppContext, session: Session, tenant: Tenant) -> None:
        super().__init__()
        self.ctx, self.session, self.tenant = ctx, session, tenant
        self.issuer = ctx.settings.issuer(tenant.slug)
        self._clients: dict[str, OAuthClient | None] = {}
        self.password_step: PasswordStep | None = None  # set by the token endpoint for grant_type=password
        # Only the grants the tenant allows: the others are unsupported_grant_type / unsupported_response_type.
        allowed = tenant.allowed_grant_types
        if "authorization_code" in allowed:
            self.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=True), OpenIDCode(self)])
        if "refresh_token" in allowed:
            self.register_grant(RefreshTokenGrant, [RefreshIdToken(self)])
        if "client_credentials" in allowed:
            self.register_grant(ClientCredentialsGrant)
        if DEVICE_CODE in allowed:
            self.register_grant(DeviceGrant, [DeviceIdToken(self)])
        if "password" in allowed:
            self.register_grant(PasswordGrant)
        if "implicit" in allowed:
            self.register_grant(ImplicitGrant)
        self.register_extension(TenantIssuerParameter(self.issuer))
        self.register_client_auth_method(PRIVATE_KEY_JWT, PrivateKeyJWT(self))

    # -- Authlib hooks -------------------------------------------------------------------------
    def query_client(self, client_id: str) -> OAuthClient | None:
        if client_id not in self._clients:
            row = self.ctx.directory.client(self.session, self.tenant.id, client_id)
            self._clients[client_id] = OAuthClient(row, self.ctx.hasher, self.issuer) if row else None
        return self._clients[client_id]

    def authenticate_client(self, request: Any, methods: list[str], endpoint: str = "token") -> Any:
        # RFC 6749 §2.3: a client uses one authentication method per request (§5.2: else invalid_request).
        if len(presented_credentials(request)) > 1:
            raise InvalidRequestError("The request uses more than one client authentication method.")
        return super().authenticate_client(request, methods, endpoint)

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        return None  # see grants._IssuesTokens

    def create_oauth2_request(self, request: Any) -> Any:
        return request  # already an identity.oauth.requests.PlainOAuth2Request

    def handle_error_response(self, request: Any, error: Any) -> OAuthResponse:
        # Every authorization response is built in the query, errors included (Authlib would put an implicit
        # request's in the fragment, away from RFC 9207's iss): identity.oauth.response_mode moves it.
        error.redirect_fragment = False
        response: OAuthResponse = super().handle_error_response(request, error)
        return response

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> OAuthResponse:
        return OAuthResponse(status, body, list(headers))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    # -- token issuance ------------------------------------------------------------------------
    @cached_property
    def signer(self) -> Signer:
        ring = self.ctx.keys.get(self.session, self.tenant)
        return Signer(self.issuer, ring, self.tenant.access_token_alg, self.tenant.id_token_alg)

    def check_dpop(self, request: Any, bound_to: str | None = None) -> None:
        """The client's DPoP rules, once it is authenticated (RFC 9449 §5.2, §8): a proof where the client
        must send one, its nonce where the client needs nonces, and the key ``bound_to`` (the code's
        ``dpop_jkt``, the refresh token's binding) proven. A missing proof is ``invalid_dpop_proof``;
        another key is ``invalid_grant`` (what was granted is bound elsewhere)."""
        client: OAuthClient = request.client
        proof = request.dpop
        if proof is None:
            if client.row.dpop_bound_access_tokens:
                raise InvalidDPoPProofError("This client must send a DPoP proof with every token request.")
            if bound_to is not None:
                raise InvalidDPoPProofError("This grant is bound to a DPoP key: send a DPoP proof made with it.")
            return
        try:
            self.ctx.dpop_nonces.check(self.tenant.id, proof, required=client.row.require_dpop_nonce)
        except DPoPError as error:
            raise dpop_oauth_error(error) from error
        if bound_to is not None and proof.jkt != bound_to:
            raise InvalidGrantError("The DPoP proof's key is not the key this grant is bound to.")

    def may_issue_refresh_token(self, client: OAuthClient, scope: str) -> bool:
        if not client.check_grant_type("refresh_token"):
            return False
        return self.tenant.refresh_without_offline_access or OFFLINE_ACCESS in split(scope)

    def issue_tokens(self, request: Any, user: Any, scope: str, include_refresh_token: bool) -> dict[str, Any]:
        client: OAuthClient = request.client
        grant_id = auth_time = None
        if request.authorization_code is not None:
            grant_id, auth_time = request.authorization_code.grant_id, request.authorization_code.auth_time
        elif request.refresh_token is not None:
            grant_id = request.refresh_token.grant_id
        elif request.device_authorization is not None:
            grant_id, auth_time = request.device_authorization.grant_id, request.device_authorization.auth_time
        elif request.grant is not None:  # the password grant, the implicit flow
            grant_id, auth_time = request.grant.id, request.grant.auth_time
        ttl = client.row.access_token_ttl or self.tenant.access_token_ttl
        jkt = request.dpop.jkt if request.dpop is not None else None
        self.ctx.usage.count(self.tenant.id)
        # (the implicit flow's request is an authorization request: it has no grant_type)
        metrics.count_token_issued(request.payload.grant_type or "implicit")
        token: dict[str, Any] = {
            "token_type": "DPoP" if jkt is not None else "Bearer",
            "access_token": self.signer.access_token(
                client_id=client.id,
                scope=scope,
                ttl=ttl,
                subject=user.id if user is not None else None,
                grant_id=grant_id,
                auth_time=auth_time,
                audience=token_audience(self.issuer, self.ctx.settings.public_url, split(scope)),
                jkt=jkt,
            ),
            "expires_in": ttl,
            "scope": scope,
        }
        if include_refresh_token and user is not None and grant_id is not None:
            # A rotated refresh token keeps the family's full scope even when this access token is narrower.
            family_scope = request.refresh_token.scope if request.refresh_token is not None else scope
            token["refresh_token"] = grants.save_refresh_token(
                self.session,
                self.tenant,
                grant_id=grant_id,
                client_id=client.id,
                user_id=user.id,
                scope=family_scope,
                ttl=client.row.refresh_token_ttl or self.tenant.refresh_token_ttl,
                # RFC 9449 §5: a public client's refresh token is bound to its key; a confidential client
                # authenticates every refresh, so its refresh token may stay unbound.
                dpop_jkt=jkt if client.row.is_public else None,
            )
        return token

    def id_token(self, request: Any, token: dict[str, Any], auth_time: int, nonce: str | None, sid: str | None) -> str:
        return self.signer.id_token(
            client_id=request.client.id,
            subject=request.user.id,
            ttl=self.tenant.id_token_ttl,
            auth_time=auth_time,
            nonce=nonce,
            sid=sid,
            access_token=token.get("access_token"),
            user_claims=user_claims(request.user, split(token["scope"])),
            # Every sign-in is one factor today (a password); multi-factor will record its own per session.
            acr=claims_request.ONE_FACTOR,
            amr=claims_request.PASSWORD_AMR,
        )
