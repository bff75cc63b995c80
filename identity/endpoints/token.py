"""The token endpoint (RFC 6749 §3.2): Authlib dispatches to our grants; errors are §5.2 JSON, no-store."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from authlib.oauth2.rfc6749.util import extract_basic_authorization
from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from identity.context import AppContext
from identity.dpop_replay import claim_jti
from identity.grants import REVOKED_GRANT
from identity.interaction.signin import PasswordSignIn
from identity.models.tenant import Tenant
from identity.oauth import device, dpop, syntax
from identity.oauth.legacy_grants import SIGN_IN_RECORDED, PasswordStep, PasswordToVerify
from identity.oauth.requests import PlainOAuth2Request
from identity.oauth.server import AuthorizationServer, OAuthResponse, dpop_oauth_error
from identity.web import app_context, in_transaction, json_response, oauth_json, public_uri, run_inline

FORM = "application/x-www-form-urlencoded"


def token_error(error: str, description: str, status: int = 400) -> Response:
    return json_response({"error": error, "error_description": description}, status)


def is_form(content_type: str) -> bool:
    return content_type.split(";")[0].strip().lower() == FORM


def bad_form(form: list[tuple[str, str]]) -> Response | None:
    """A repeated (RFC 6749 §3.2) or malformed parameter: ``invalid_request``, naming it, never its value."""
    bad = syntax.bad_parameter(form)
    return None if bad is None else token_error("invalid_request", syntax.describe(*bad))


def token_work(
    ctx: AppContext,
    slug: str,
    uri: str,
    headers: Mapping[str, str],
    form: list[tuple[str, str]],
    dpop_proofs: Sequence[str] = (),
    password_step: PasswordStep | None = None,
) -> Callable[[Session], OAuthResponse]:
    """The unit of work of one token request: Authlib's server for the tenant, our grants. With a ``DPoP``
    header (``dpop_proofs``, its values) the proof is checked first; the grants apply the client's rules.
    The password grant runs the work twice (``password_step``): the proof is checked (its jti spent) once."""
    checked: list[dpop.Proof] = []

    def work(session: Session) -> OAuthResponse:
        tenant = ctx.directory.tenant(slug)
        server = AuthorizationServer(ctx, session, tenant)
        server.password_step = password_step
        request = PlainOAuth2Request("POST", uri, headers, form=form)
        if not dpop_proofs:
            result: OAuthResponse = server.create_token_response(request)
            return result
        try:
            if not checked:
                checked.append(checked_proof(ctx, tenant, dpop_proofs, uri))
            request.dpop = checked[0]
        except dpop.DPoPError as error:
            result = server.handle_error_response(request, dpop_oauth_error(error))
        else:
            result = server.create_token_response(request)
        # RFC 9449 §8: a fresh nonce with every answer to a DPoP request, for the client's next proof.
        result.headers.append(("DPoP-Nonce", ctx.dpop_nonces.current(tenant.id)))
        return result

    return work


def checked_proof(ctx: AppContext, tenant: Tenant, proofs: Sequence[str], uri: str) -> dpop.Proof:
    """The token request's proof (RFC 9449 §4.3), its nonce if it has one, and its ``jti`` claimed. The claim
    commits on its own: a request refused later (a wrong code_verifier) rolls back, but its proof is spent."""
    proof = dpop.verify_proof(proofs, method="POST", url=uri)
    if proof.nonce is not None:
        ctx.dpop_nonces.check(tenant.id, proof, required=False)
    if not run_inline(ctx.sessions, lambda session: claim_jti(session, tenant.id, proof)):
        raise dpop.invalid("This DPoP proof was used already; make a new one for every request.")
    return proof


def all_in_memory(ctx: AppContext, tenant: Tenant | None, headers: Mapping[str, str], form: dict[str, str]) -> bool:
    """client_credentials with the tenant (None: not in memory), the client and the keys in memory: no
    database statement will run, so the work (a signature: ~0.1 ms ES256, ~1 ms RS256) can run on the event
    loop, without a thread hop. ``headers`` must be case-insensitive (Starlette's Headers)."""
    if form.get("grant_type") != "client_credentials" or "client_assertion" in form:
        return False  # (an assertion's jti is claimed in the database)
    client_id = extract_basic_authorization(headers)[0] or form.get("client_id")
    return (
        tenant is not None
        and client_id is not None
        and ctx.keys.cached(tenant) is not None
        and ctx.directory.cached_client(tenant.id, client_id)
    )


def issue_inline(ctx: AppContext, work: Callable[[Session], OAuthResponse]) -> Response:
    return oauth_json(run_inline(ctx.sessions, work, keep_result))


async def token(request: Request) -> Response:
    ctx, slug = app_context(request), request.path_params["tenant"]
    if not is_form(request.headers.get("content-type", "")):
        return token_error("invalid_request", f"The token request must be {FORM}.")
    form = [(k, v) for k, v in (await request.form()).multi_items() if isinstance(v, str)]
    if (refused := bad_form(form)) is not None:
        return refused
    proofs = request.headers.getlist("dpop")
    if dict(form).get("grant_type") == "password":
        return await password_token(request, ctx, slug, form, proofs)
    work = token_work(ctx, slug, public_uri(request), request.headers, form, proofs)
    # (an unknown or suspended tenant raises here or in the work: its error page, before any grant logic)
    if not proofs and all_in_memory(ctx, ctx.directory.cached_tenant(slug), request.headers, dict(form)):
        return issue_inline(ctx, work)
    return oauth_json(await in_transaction(request, work, keep=keep_result))


async def password_token(
    request: Request, ctx: AppContext, slug: str, form: list[tuple[str, str]], proofs: Sequence[str]
) -> Response:
    """grant_type=password in two passes around the hash, as the hosted login (``legacy_grants``): the first
    ends before argon2 (or with the error), the hash is verified on the password queue, the second issues."""
    data = dict(form)
    ip = request.client.host if request.client else ""
    attempt = PasswordSignIn(ctx.settings, data.get("username", ""), data.get("password", ""), ip, "login.failed")
    step = PasswordStep(attempt, verified=False)  # one for both passes: the second reuses the client found
    work = token_work(ctx, slug, public_uri(request), request.headers, form, proofs, step)
    try:
        return oauth_json(await in_transaction(request, work, keep=keep_result))
    except PasswordToVerify:  # (rolled back: the first pass only read)
        pass
    await attempt.verify(request.app.state.passwords)
    step.verified = True
    return oauth_json(await in_transaction(request, work, keep=keep_result))


def keep_result(session: Session, result: OAuthResponse) -> bool:
    """A failed request leaves no trace (a wrong code_verifier does not burn the code), except a
    revocation (a replayed code or reused refresh token revokes its grant durably, error or not); a
    password attempt (counted by the throttle and audited, error or not); and a device's poll, whose time
    (and slow_down's longer interval) the next poll is measured against."""
    kept = (REVOKED_GRANT, SIGN_IN_RECORDED, device.POLL_RECORDED)
    return result.status == 200 or any(session.info.get(name) for name in kept)
