"""Portal: applications (list, create, detail with quick start, edit, rotate secret, delete)."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from identity.clients import APP_TYPES, DEVICE_APP_TYPES, PRIVATE_KEY_JWT, ClientSpec, list_clients
from identity.initial_tokens import find_initial_token
from identity.models.client import Client
from identity.models.tenant import DEVICE_CODE, LEGACY_GRANT_TYPES, Tenant
from identity.scopes import known_scopes
from identity.sessions import recent_deliveries
from identity.web import app_context, in_transaction, redirect
from tenants.manage import apps as manage
from tenants.manage.errors import Invalid
from tenants.portal import forms
from tenants.portal.access import Member, require_member
from tenants.portal.web import forget_once, portal_page, refusals, show_once, take_once
from tenants.resolution import resolve_tenant

APP_TYPE_LABELS = {
    "web": ("Regular web app", "A server-side app that can keep a secret (confidential client)."),
    "spa": ("Single-page app", "Runs in the browser: no secret, PKCE required (public client)."),
    "native": ("Native or mobile app", "Installed on a device: no secret, PKCE required, custom-scheme redirects."),
    "m2m": ("Machine to machine", "A backend service calling your APIs with client credentials."),
}


# The seed grants an app may be opted into, by kind of app, when the tenant allows them (its settings): the
# password grant only for apps that keep a secret, the implicit flow only for apps that redirect.
LEGACY_FOR_APP_TYPE = {"web": ("password", "implicit"), "spa": ("implicit",), "native": (), "m2m": ()}
LEGACY_GRANT_LABELS = {
    "password": (
        "Resource owner password grant",
        "The app asks for the user's password on its own screen and sends it to the token endpoint. The app "
        "sees every password, and the hosted pages' protections (consent, single sign-on, future second "
        "factors) do not apply. Use it only for a first-party app you cannot move to the hosted login yet.",
    ),
    "implicit": (
        "Implicit flow (id_token, id_token token)",
        "Tokens come back in the address bar's fragment, where history, extensions and logs can see them, and "
        "no refresh token is issued. Prefer the authorization code flow with PKCE.",
    ),
}


def _legacy_offered(tenant: Tenant, app_type: str) -> list[str]:
    return [g for g in LEGACY_FOR_APP_TYPE.get(app_type, ()) if g in tenant.allowed_grant_types]


def _app(session: Session, member: Member, client_id: str) -> Client:
    with refusals(member):
        return manage.get_app(session, member.tenant, client_id)


def _with_device_choice(grant_types: list[str], form: Any, app_type: str) -> list[str]:
    """The app's grants with the device grant (RFC 8628) as the form's checkbox says, for the app types
    that may have it; the others keep what they have."""
    if app_type not in DEVICE_APP_TYPES:
        return grant_types
    others = [g for g in grant_types if g != DEVICE_CODE]
    return [*others, DEVICE_CODE] if forms.text(form, "device_grant", 10) == "yes" else others


def _spec_from(form: Any, app_type: str) -> tuple[ClientSpec, dict[str, list[str]]]:
    errors: dict[str, list[str]] = {}
    ttls: dict[str, int | None] = {}
    for name in ("access_token_ttl", "refresh_token_ttl"):
        value = forms.optional_int(form, name)
        if isinstance(value, str):
            errors[name] = ["lifetime must be a whole number of seconds"]
            value = None
        ttls[name] = value
    grace = forms.optional_int(form, "refresh_token_grace")
    if isinstance(grace, str):
        errors["refresh_token_grace"] = ["the reuse grace must be a whole number of seconds"]
        grace = None
    defaults = APP_TYPES.get(app_type, APP_TYPES["web"])
    jwks_text = forms.text(form, "jwks", 20000)
    jwks: dict[str, Any] | None = None
    if jwks_text:
        try:
            parsed = json.loads(jwks_text)
        except ValueError:
            errors["jwks"] = ["the JWK Set is not valid JSON"]
        else:
            jwks = parsed if isinstance(parsed, dict) else {"keys": None}  # (refused by the rules, with why)
    method = forms.text(form, "token_endpoint_auth_method", 40) or None
    if defaults["public"]:
        method = None  # a public client has one method, none; the form offers it nothing else
    spec = ClientSpec(
        name=forms.text(form, "name", 300),
        app_type=app_type,
        description=forms.text(form, "description", 600),
        logo_url=forms.text(form, "logo_url", 600),
        redirect_uris=forms.lines(form, "redirect_uris"),
        post_logout_redirect_uris=forms.lines(form, "post_logout_redirect_uris"),
        backchannel_logout_uri=forms.text(form, "backchannel_logout_uri", 2100),
        frontchannel_logout_uri=forms.text(form, "frontchannel_logout_uri", 2100),
        public=defaults["public"],
        grant_types=_with_device_choice(
            [*defaults["grant_types"], *(g for g in forms.many(form, "legacy_grants") if g in LEGACY_GRANT_TYPES)],
            form,
            app_type,
        ),
        scopes=forms.many(form, "scopes"),
        refresh_token_grace=grace or 0,
        require_pushed_authorization_requests=forms.text(form, "require_par", 10) == "yes",
        token_endpoint_auth_method=method,
        jwks=jwks,
        jwks_uri=forms.text(form, "jwks_uri", 2100),
        dpop_bound_access_tokens=forms.text(form, "dpop_bound", 10) == "yes",
        require_dpop_nonce=forms.text(form, "dpop_nonce", 10) == "yes",
        **ttls,
    )
    if method != PRIVATE_KEY_JWT:  # keys typed in but not chosen are not the app's (a secret method needs none)
        spec.jwks, spec.jwks_uri = None, ""
        errors.pop("jwks", None)
    return spec, errors


def _form_context(
    session: Session,
    member: Member,
    spec: ClientSpec | None,
    errors: dict[str, list[str]],
    jwks_text: str | None = None,
) -> dict[str, Any]:
    return {
        "scopes": known_scopes(session, member.tenant.id),
        "app_types": APP_TYPE_LABELS,
        "legacy_offered": {t: _legacy_offered(member.tenant, t) for t in APP_TYPES},
        "legacy_labels": LEGACY_GRANT_LABELS,
        "spec": spec,
        "errors": errors,
        "jwks_text": jwks_text,  # a refused form shows the keys as typed, even when they are not JSON
    }


async def apps_list(request: Request) -> Response:
    slug = request.path_params["tenant"]

    def work(session: Session) -> Response:
        member = require_member(session, request, resolve_tenant(session, slug))
        return portal_page(
            request, member, "portal/apps.html", {"apps": list_clients(session, member.tenant.id)}, section="apps"
        )

    return await in_transaction(request, work)


async def app_new(request: Request) -> Response:
    slug = request.path_params["tenant"]
    app_type = request.query_params.get("type", "web")

    def work(session: Session) -> Response:
        member = require_member(session, request, resolve_tenant(session, slug))
        spec = ClientSpec(
            name="",
            redirect_uris=[],
            app_type=app_type if app_type in APP_TYPES else "web",
            scopes=["openid", "profile", "email", "offline_access"] if app_type != "m2m" else [],
        )
        return portal_page(
            request, member, "portal/app_form.html", _form_context(session, member, spec, {}), section="apps"
        )

    return await in_transaction(request, work)


async def app_create(request: Request) -> Response:
    slug = request.path_params["tenant"]
    form = await request.form()
    ctx = app_context(request)

    def work(session: Session) -> Response:
        member = require_member(session, request, resolve_tenant(session, slug), csrf=forms.text(form, "csrf_token"))
        spec, errors = _spec_from(form, forms.text(form, "app_type") or "web")
        if not errors:
            try:
                with refusals(member):
                    new = manage.create_app(session, ctx, member.tenant, member.actor, spec)
            except Invalid as error:
                errors = error.fields or {"name": [error.message]}
            else:
                once = {"client_id": new.client.id, "secret": new.client_secret, "created": True}
                return show_once(request, redirect(f"/t/{slug}/portal/apps/{new.client.id}", 303), slug, once)
        return portal_page(
            request,
            member,
            "portal/app_form.html",
            _form_context(session, member, spec, errors, forms.text(form, "jwks", 20000)),
            section="apps",
            status=400,
        )

    return await in_transaction(request, work, keep=lambda _s, response: response.status_code < 400)


def _detail(
    request: Request,
    session: Session,
    member: Member,
    client: Client,
    *,
    new_secret: str | None = None,
    created: bool = False,
    errors: dict[str, list[str]] | None = None,
    notice: str = "",
    status: int = 200,
    values: ClientSpec | None = None,
    jwks_text: str | None = None,
) -> Response:
    context = {
        "app": client,
        "new_secret": new_secret,
        "created": created,
        "notice": notice,
        "values": values,
        "deliveries": recent_deliveries(session, member.tenant, client.id),
        "legacy_in_use": [LEGACY_GRANT_LABELS[g][0].lower() for g in client.grant_types if g in LEGACY_GRANT_LABELS],
        "initial_token": (
            find_initial_token(session, member.tenant.id, client.initial_access_token_id)
            if client.initial_access_token_id
            else None
        ),
        **_form_context(session, member, None, errors or {}, jwks_text),
    }
    return portal_page(request, member, "portal/app_detail.html", context, section="apps", status=status)


async def app_detail(request: Request) -> Response:
    slug, client_id = request.path_params["tenant"], request.path_params["client_id"]

    once = take_once(request)
    if once is not None and once.get("client_id") != client_id:
        once = None

    def work(session: Session) -> Response:
        member = require_member(session, request, resolve_tenant(session, slug))
        notice = {"saved": "Changes saved."}.get(request.query_params.get("notice", ""), "")
        client = _app(session, member, client_id)
        if once is None:
            return _detail(request, session, member, client, notice=notice)
        return _detail(request, session, member, client, new_secret=once["secret"], created=bool(once["created"]))

    response = await in_transaction(request, work)
    if once is not None:
        forget_once(response, slug)  # shown once: a reload shows the page without the secret
    return response


async def app_update(request: Request) -> Response:
    slug, client_id = request.path_params["tenant"], request.path_params["client_id"]
    form = await request.form()
    ctx = app_context(request)

    def work(session: Session) -> Response:
        member = require_member(session, request, resolve_tenant(session, slug), csrf=forms.text(form, "csrf_token"))
        client = _app(session, member, client_id)
        spec, errors = _spec_from(form, client.app_type)
        # The kind of app fixed its grants; only the device grant and the opted-in seed grants change here.
        legacy = [g for g in spec.grant_types or [] if g in LEGACY_GRANT_TYPES]
        kept = [g for g in client.grant_types if g not in LEGACY_GRANT_TYPES]
        spec.grant_types = _with_device_choice([*kept, *legacy], form, client.app_type)
        if not errors:
            try:
                with refusals(member):
                    manage.update_app(session, ctx, member.tenant, member.actor, client, spec)
            except Invalid as error:  # the refused edit is not kept on the row (and the transaction rolls back)
                errors = error.fields or {"name": [error.message]}
            else:
                return redirect(f"/t/{slug}/portal/apps/{client.id}?notice=saved", 303)
        jwks_text = forms.text(form, "jwks", 20000)
        return _detail(request, session, member, client, errors=errors, status=400, values=spec, jwks_text=jwks_text)

    return await in_transaction(request, work, keep=lambda _s, response: response.status_code < 400)


async def app_rotate_secret(request: Request) -> Response:
    slug, client_id = request.path_params["tenant"], request.path_params["client_id"]
    form = await request.form()
    ctx = app_context(request)

    def work(session: Session) -> Response:
        member = require_member(session, request, resolve_tenant(session, slug), csrf=forms.text(form, "csrf_token"))
        client = _app(session, member, client_id)
        grace = forms.optional_int(form, "grace_seconds")
        try:
            with refusals(member):
                secret = manage.rotate_app_secret(
                    session, ctx, member.tenant, member.actor, client, grace if isinstance(grace, int) else 0
                )
        except Invalid as error:
            return _detail(request, session, member, client, errors={"secret": [error.message]}, status=400)
        once = {"client_id": client.id, "secret": secret, "created": False}
        return show_once(request, redirect(f"/t/{slug}/portal/apps/{client.id}", 303), slug, once)

    return await in_transaction(request, work)


async def app_delete_confirm(request: Request) -> Response:
    slug, client_id = request.path_params["tenant"], request.path_params["client_id"]

    def work(session: Session) -> Response:
        member = require_member(session, request, resolve_tenant(session, slug))
        return portal_page(
            request, member, "portal/app_delete.html", {"app": _app(session, member, client_id)}, section="apps"
        )

    return await in_transaction(request, work)


async def app_delete(request: Request) -> Response:
    slug, client_id = request.path_params["tenant"], request.path_params["client_id"]
    form = await request.form()

    def work(session: Session) -> Response:
        member = require_member(session, request, resolve_tenant(session, slug), csrf=forms.text(form, "csrf_token"))
        client = _app(session, member, client_id)
        if forms.text(form, "confirm_name") != client.name:
            context = {"app": client, "error": "Type the app's name exactly to confirm."}
            return portal_page(request, member, "portal/app_delete.html", context, section="apps", status=400)
        with refusals(member):
            manage.delete_app(session, member.tenant, member.actor, client)
        return redirect(f"/t/{slug}/portal?deleted=1", 303)

    return await in_transaction(request, work)
