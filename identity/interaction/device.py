"""The hosted device page, ``{issuer}/device`` (RFC 8628 §3.3): the user enters the code their TV or CLI shows.

A right code starts a pending flow (``identity.interaction.flows``) that answers the device authorization:
the hosted login page (unless this browser is signed in already), then the consent page, always (§5.4: the
user must see which app they are letting in), then "approved" or "denied" (``pages._device_answered``).
``verification_uri_complete`` only prefills the code: the user still presses Continue, so a link alone
never approves anything. Wrong codes are throttled per client IP and per tenant (§5.1), before the code is
even looked up, so a throttled guess is refused even when it is right.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from identity import browser as browser_cookies
from identity.branding import branding_context
from identity.i18n import N_
from identity.interaction import flows, throttle
from identity.models.tenant import Tenant
from identity.oauth import device
from identity.web import app_context, error_page, in_transaction, page, redirect

CSRF_PURPOSE = "device"
WRONG_CODE = N_("That code is not valid or has expired. Check the code on your device and try again.")
THROTTLED = N_("Too many wrong codes. Wait a few minutes, then try again.")
FORM_EXPIRED_TITLE = N_("This page has expired")
FORM_EXPIRED_MESSAGE = N_("Open the page again and enter the code shown on your device.")
MAX_TYPED = 40  # longer than any way of typing an 8-letter code


def _form(
    request: Request, tenant: Tenant, browser_id: str, typed: str, error: str = "", status: int = 200
) -> Response:
    ctx = app_context(request)
    context: dict[str, Any] = {
        "tenant_name": tenant.name,
        "csrf_token": browser_cookies.cookies(request).csrf_token(browser_id, CSRF_PURPOSE),
        "action": f"{ctx.settings.issuer(tenant.slug)}/device",
        "user_code": typed[:MAX_TYPED],
        "error": error,
        **branding_context(tenant),
    }
    return page(request, "identity/device.html", context, status)


def _prefill(typed: str) -> str:
    """The code from ``verification_uri_complete``, shown as XXXX-XXXX when it is one."""
    normalized = device.normalize_user_code(typed)
    return device.display_user_code(normalized) if normalized else typed[:MAX_TYPED]


async def device_page(request: Request) -> Response:
    ctx, slug = app_context(request), request.path_params["tenant"]
    jar = browser_cookies.cookies(request)
    browser_id, new_browser = jar.ensure_browser_id(request)
    tenant = await in_transaction(request, lambda _session: ctx.directory.tenant(slug))
    response = _form(request, tenant, browser_id, _prefill(request.query_params.get("user_code", "")))
    if new_browser:  # the CSRF token is bound to this id
        jar.set_browser_id(response, tenant, browser_id)
    return response


async def device_submit(request: Request) -> Response:
    ctx, slug = app_context(request), request.path_params["tenant"]
    form = await request.form()
    jar = browser_cookies.cookies(request)
    browser_id = jar.browser_id(request)
    csrf_ok = jar.check_csrf(browser_id, CSRF_PURPOSE, str(form.get("csrf_token", "")))
    typed = str(form.get("user_code", ""))[:MAX_TYPED]
    session_id = jar.session_id(request)
    keys = throttle.device_keys_for(request.client.host if request.client else "unknown")

    def work(session: Session) -> Response:
        tenant = ctx.directory.tenant(slug)
        if not csrf_ok or browser_id is None:
            return error_page(request, FORM_EXPIRED_TITLE, FORM_EXPIRED_MESSAGE, 403, tenant=tenant)
        if throttle.is_blocked(session, ctx.settings, tenant.id, keys):
            return _form(request, tenant, browser_id, typed, THROTTLED, 429)
        normalized = device.normalize_user_code(typed)
        found = (
            device.pending_by_user_code(session, tenant, ctx.settings.secret_key, normalized) if normalized else None
        )
        if found is None:
            throttle.record_failure(session, ctx.settings, tenant.id, keys)
            return _form(request, tenant, browser_id, typed, WRONG_CODE, 400)
        signed_in = browser_cookies.current_user(session, tenant, session_id)
        # prompt=consent: the consent page is shown even when this app's consent is remembered (§5.4).
        params = [("client_id", found.client_id), ("scope", found.scope), ("prompt", flows.CONSENT)]
        step = flows.CONSENT if signed_in is not None else flows.LOGIN
        flow = flows.start(
            session,
            tenant,
            browser_id=browser_id,
            client_id=found.client_id,
            params=params,
            state=step,
            user=signed_in.user if signed_in else None,
            auth_time=signed_in.auth_time if signed_in else None,
            sid=signed_in.sid if signed_in else None,
            device_id=found.id,
        )
        return redirect(f"{ctx.settings.issuer(tenant.slug)}/{step}?" + urlencode({"flow": flow.id}), 303)

    # The failure count is kept with the refusal; nothing else a refused attempt did is.
    return await in_transaction(request, work)
