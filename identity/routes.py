"""The route table of a tenant's issuer, ``/t/{tenant}/…``: one line per endpoint."""

from __future__ import annotations

from starlette.routing import Route

from identity.endpoints import authorize, branding, discovery, introspect, token, userinfo
from identity.interaction import pages, register

tenant_routes = [
    Route("/.well-known/openid-configuration", discovery.openid_configuration, methods=["GET"]),
    Route("/.well-known/oauth-authorization-server", discovery.openid_configuration, methods=["GET"]),
    Route("/.well-known/jwks.json", discovery.jwks, methods=["GET"]),
    Route("/authorize", authorize.authorize, methods=["GET", "POST"]),
    Route("/login", pages.login_page, methods=["GET"]),
    Route("/login", pages.login_submit, methods=["POST"]),
    Route("/register", register.register_page, methods=["GET"]),
    Route("/register", register.register_submit, methods=["POST"]),
    Route("/consent", pages.consent_page, methods=["GET"]),
    Route("/consent", pages.consent_submit, methods=["POST"]),
    Route("/token", token.token, methods=["POST"]),
    Route("/introspect", introspect.introspect, methods=["POST"]),
    Route("/userinfo", userinfo.userinfo, methods=["GET", "POST"]),
    Route("/branding.css", branding.branding_stylesheet, methods=["GET"]),
]

# RFC 8414 §3.1: for an issuer with a path, the well-known segment goes between host and path.
root_routes = [
    Route("/.well-known/oauth-authorization-server/t/{tenant}", discovery.openid_configuration, methods=["GET"]),
]
