"""The route table of a tenant's issuer, ``/t/{tenant}/…``: one line per endpoint. ``fast=`` names the
endpoint's lane (``identity.fastlane``): the same answer from memory, before Starlette's routing."""

from __future__ import annotations

from starlette.routing import Route

from identity.endpoints import (
    authorize,
    branding,
    device_authorization,
    discovery,
    par,
    registration,
    token,
    token_status,
    userinfo,
)
from identity.fastlane import Endpoint, discovery_lane, jwks_lane, token_lane, userinfo_lane
from identity.interaction import device, logout, pages, register

tenant_routes = [
    Endpoint("/.well-known/openid-configuration", discovery.openid_configuration, methods=["GET"], fast=discovery_lane),
    Endpoint(
        "/.well-known/oauth-authorization-server", discovery.openid_configuration, methods=["GET"], fast=discovery_lane
    ),
    Endpoint("/.well-known/jwks.json", discovery.jwks, methods=["GET"], fast=jwks_lane),
    Route("/authorize", authorize.authorize, methods=["GET", "POST"]),
    Route("/par", par.push, methods=["POST"]),
    Route("/device_authorization", device_authorization.device_authorization, methods=["POST"]),
    Route("/device", device.device_page, methods=["GET"]),
    Route("/device", device.device_submit, methods=["POST"]),
    Route("/clients", registration.register, methods=["POST"]),  # RFC 7591 (``/register`` is end-user sign-up)
    Route("/clients/{client_id}", registration.manage, methods=["GET", "PUT", "DELETE"]),  # RFC 7592
    Route("/login", pages.login_page, methods=["GET"]),
    Route("/login", pages.login_submit, methods=["POST"]),
    Route("/register", register.register_page, methods=["GET"]),
    Route("/register", register.register_submit, methods=["POST"]),
    Route("/consent", pages.consent_page, methods=["GET"]),
    Route("/consent", pages.consent_submit, methods=["POST"]),
    Endpoint("/token", token.token, methods=["POST"], fast=token_lane),
    Route("/introspect", token_status.introspect, methods=["POST"]),
    Route("/revoke", token_status.revoke, methods=["POST"]),
    Route("/logout", logout.logout, methods=["GET", "POST"]),
    Route("/logout/confirm", logout.logout_confirm, methods=["POST"]),
    Endpoint("/userinfo", userinfo.userinfo, methods=["GET", "POST"], fast=userinfo_lane),
    Route("/branding.css", branding.branding_stylesheet, methods=["GET"]),
]

# RFC 8414 §3.1: for an issuer with a path, the well-known segment goes between host and path.
root_routes = [
    Route("/.well-known/oauth-authorization-server/t/{tenant}", discovery.openid_configuration, methods=["GET"]),
]
