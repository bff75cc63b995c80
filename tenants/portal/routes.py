"""The developer portal's route table (mounted under /t/{tenant}) and the sign-up routes (at the root)."""

from __future__ import annotations

from starlette.routing import Route

from tenants.portal import apps, audit_log, scopes, settings, signin, signup, team, users

portal_routes = [
    Route("/portal/login", signin.portal_login, methods=["GET"]),
    Route("/portal/callback", signin.portal_callback, methods=["GET"]),
    Route("/portal/logout", signin.portal_logout, methods=["POST"]),
    Route("/portal/signed-out", signin.signed_out, methods=["GET"]),
    Route("/portal", apps.apps_list, methods=["GET"]),
    Route("/portal/apps/new", apps.app_new, methods=["GET"]),
    Route("/portal/apps/new", apps.app_create, methods=["POST"]),
    Route("/portal/apps/{client_id}", apps.app_detail, methods=["GET"]),
    Route("/portal/apps/{client_id}", apps.app_update, methods=["POST"]),
    Route("/portal/apps/{client_id}/rotate-secret", apps.app_rotate_secret, methods=["POST"]),
    Route("/portal/apps/{client_id}/delete", apps.app_delete_confirm, methods=["GET"]),
    Route("/portal/apps/{client_id}/delete", apps.app_delete, methods=["POST"]),
    *users.routes,
    *team.routes,
    *scopes.routes,
    *settings.routes,
    *audit_log.routes,
]

signup_routes = [
    Route("/signup", signup.signup_page, methods=["GET"]),
    Route("/signup", signup.signup_submit, methods=["POST"]),
    Route("/signup/check-slug", signup.check_slug, methods=["GET"]),
]
