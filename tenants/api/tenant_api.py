"""The tenant-scope management API, ``{issuer}/api/…``: apps, users, team, scopes, audit events.

Every change goes through ``tenants.manage`` (the portal's rules and audit events); this module only
maps JSON to those calls and their results back to JSON.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from identity.clients import APP_TYPES, ClientSpec, list_clients
from identity.consents import list_consents, revoke_consent
from identity.db import tenant_query
from identity.models.tenant import TenantScope
from identity.problems import ApiProblem
from identity.users import list_users
from identity.web import app_context
from tenants import audit
from tenants.api.auth import Caller
from tenants.api.http import Fields, check_if_match, endpoint, json_body, one, page, page_params, query_text
from tenants.api.views import client_view, event_view, member_view, scope_view, user_view
from tenants.manage import apps, scopes, team, users
from tenants.manage.errors import Missing
from tenants.members import members, role_of
from tenants.service import find_scope

CLIENT_FIELDS = {
    "name",
    "description",
    "logo_url",
    "redirect_uris",
    "post_logout_redirect_uris",
    "scopes",
    "access_token_ttl",
    "refresh_token_ttl",
}


def _no_content() -> Response:
    return Response(status_code=204, headers={"Cache-Control": "no-store"})


def _spec(fields: Fields, *, app_type: str, base: ClientSpec | None = None) -> ClientSpec:
    defaults = APP_TYPES[app_type]
    spec = base or ClientSpec(name="", redirect_uris=[], app_type=app_type, public=defaults["public"])
    spec.name = fields.text("name", spec.name, required=base is None, most=300)
    spec.description = fields.text("description", spec.description, most=600)
    spec.logo_url = fields.text("logo_url", spec.logo_url, most=600)
    spec.redirect_uris = fields.texts("redirect_uris", spec.redirect_uris) or []
    spec.post_logout_redirect_uris = fields.texts("post_logout_redirect_uris", spec.post_logout_redirect_uris) or []
    spec.scopes = fields.texts("scopes", spec.scopes)
    spec.access_token_ttl = fields.number("access_token_ttl", spec.access_token_ttl)
    spec.refresh_token_ttl = fields.number("refresh_token_ttl", spec.refresh_token_ttl)
    if base is None:
        spec.grant_types = fields.texts("grant_types", list(defaults["grant_types"]))
    return spec


def _spec_of(client: Any) -> ClientSpec:
    return ClientSpec(
        name=client.name,
        redirect_uris=list(client.redirect_uris),
        public=client.is_public,
        grant_types=list(client.grant_types),
        scopes=list(client.scopes),
        app_type=client.app_type,
        description=client.description,
        logo_url=client.logo_url,
        post_logout_redirect_uris=list(client.post_logout_redirect_uris),
        access_token_ttl=client.access_token_ttl,
        refresh_token_ttl=client.refresh_token_ttl,
    )


# -- applications -----------------------------------------------------------------------------------------


@endpoint("manage:clients")
def clients_list(request: Request, caller: Caller) -> Any:
    limit, offset = page_params(request)

    def work(session: Session, caller: Caller) -> Response:
        rows = list_clients(session, caller.tenant.id)
        return page(request, [client_view(c) for c in rows[offset : offset + limit]], len(rows), limit, offset)

    return work


@endpoint("manage:clients", body=True)
def client_create(request: Request, caller: Caller, data: dict[str, Any]) -> Any:
    fields = Fields(data, CLIENT_FIELDS | {"app_type", "grant_types"})
    app_type = fields.text("app_type", "web")
    if app_type not in APP_TYPES:
        raise ApiProblem(
            422, "invalid", f"app_type must be one of {', '.join(APP_TYPES)}.", errors={"app_type": ["unknown"]}
        )
    spec = _spec(fields, app_type=app_type)
    ctx = app_context(request)

    def work(session: Session, caller: Caller) -> Response:
        new = apps.create_app(session, ctx, caller.tenant, caller.actor, spec)
        body = {**client_view(new.client), "client_secret": new.client_secret}
        return json_body(201, body, {"Location": f"{request.url.path}/{new.client.id}"})

    return work


@endpoint("manage:clients")
def client_get(request: Request, caller: Caller) -> Any:
    client_id = request.path_params["client_id"]
    return lambda session, caller: one(client_view(apps.get_app(session, caller.tenant, client_id)))


@endpoint("manage:clients", body=True)
def client_update(request: Request, caller: Caller, data: dict[str, Any]) -> Any:
    client_id = request.path_params["client_id"]
    fields = Fields(data, CLIENT_FIELDS)
    ctx = app_context(request)

    def work(session: Session, caller: Caller) -> Response:
        client = apps.get_app(session, caller.tenant, client_id)
        check_if_match(request, client_view(client))
        spec = _spec(fields, app_type=client.app_type, base=_spec_of(client))
        apps.update_app(session, ctx, caller.tenant, caller.actor, client, spec)
        return one(client_view(client))

    return work


@endpoint("manage:clients")
def client_delete(request: Request, caller: Caller) -> Any:
    client_id = request.path_params["client_id"]

    def work(session: Session, caller: Caller) -> Response:
        try:
            client = apps.get_app(session, caller.tenant, client_id)
        except Missing:
            return _no_content()  # idempotent: deleting what is gone is done
        check_if_match(request, client_view(client))
        apps.delete_app(session, caller.tenant, caller.actor, client)
        return _no_content()

    return work


@endpoint("manage:clients", body=True)
def client_rotate_secret(request: Request, caller: Caller, data: dict[str, Any]) -> Any:
    client_id = request.path_params["client_id"]
    grace = Fields(data, {"grace_seconds"}).number("grace_seconds", 0) or 0
    ctx = app_context(request)

    def work(session: Session, caller: Caller) -> Response:
        client = apps.get_app(session, caller.tenant, client_id)
        secret = apps.rotate_app_secret(session, ctx, caller.tenant, caller.actor, client, grace)
        return json_body(200, {**client_view(client), "client_secret": secret})

    return work


# -- users ----------------------------------------------------------------------------------------------


def _user_view(session: Session, caller: Caller, user: Any) -> dict[str, Any]:
    return user_view(user, role_of(session, caller.tenant.id, user.id))


@endpoint("manage:users")
def users_list(request: Request, caller: Caller) -> Any:
    limit, offset = page_params(request)
    q = query_text(request, "q", 200)

    def work(session: Session, caller: Caller) -> Response:
        result = list_users(session, caller.tenant.id, q=q, per_page=limit, offset=offset)
        return page(request, [_user_view(session, caller, u) for u in result.users], result.total, limit, offset)

    return work


@endpoint("manage:users", body=True)
def user_create(request: Request, caller: Caller, data: dict[str, Any]) -> Any:
    fields = Fields(data, {"email", "password", "name"})
    email, password = fields.text("email", required=True, most=400), fields.text("password", required=True, most=400)
    name = fields.text("name", most=400)

    def work(session: Session, caller: Caller) -> Response:
        user = users.create_end_user(session, caller.tenant, caller.actor, email=email, password=password, name=name)
        return json_body(201, _user_view(session, caller, user), {"Location": f"{request.url.path}/{user.id}"})

    return work


@endpoint("manage:users")
def user_get(request: Request, caller: Caller) -> Any:
    user_id = request.path_params["user_id"]

    def work(session: Session, caller: Caller) -> Response:
        return one(_user_view(session, caller, users.get_end_user(session, caller.tenant, user_id)))

    return work


@endpoint("manage:users", body=True)
def user_update(request: Request, caller: Caller, data: dict[str, Any]) -> Any:
    """Each member given is one change (and one audit event): name, disabled, password."""
    user_id = request.path_params["user_id"]
    fields = Fields(data, {"name", "disabled", "password"})
    name = fields.text("name", most=400) if fields.has("name") else None
    disabled = fields.flag("disabled")
    password = fields.text("password", most=400) if fields.has("password") else None

    def work(session: Session, caller: Caller) -> Response:
        user = users.get_end_user(session, caller.tenant, user_id)
        check_if_match(request, _user_view(session, caller, user))
        if name is not None:
            users.rename_end_user(session, caller.tenant, caller.actor, user, name)
        if disabled is not None:
            users.set_end_user_disabled(session, caller.tenant, caller.actor, user, disabled)
        if password is not None:
            users.reset_end_user_password(session, caller.tenant, caller.actor, user, password)
        return one(_user_view(session, caller, user))

    return work


@endpoint("manage:users")
def user_delete(request: Request, caller: Caller) -> Any:
    user_id = request.path_params["user_id"]

    def work(session: Session, caller: Caller) -> Response:
        try:
            user = users.get_end_user(session, caller.tenant, user_id)
        except Missing:
            return _no_content()
        check_if_match(request, _user_view(session, caller, user))
        users.delete_end_user(session, caller.tenant, caller.actor, user)
        return _no_content()

    return work


@endpoint("manage:users")
def user_consents(request: Request, caller: Caller) -> Any:
    user_id = request.path_params["user_id"]

    def work(session: Session, caller: Caller) -> Response:
        user = users.get_end_user(session, caller.tenant, user_id)
        items = [asdict(consent) for consent in list_consents(session, caller.tenant.id, user.id)]
        return json_body(200, {"items": items, "total": len(items)})

    return work


@endpoint("manage:users")
def user_consent_revoke(request: Request, caller: Caller) -> Any:
    user_id, client_id = request.path_params["user_id"], request.path_params["client_id"]

    def work(session: Session, caller: Caller) -> Response:
        try:
            user = users.get_end_user(session, caller.tenant, user_id)
        except Missing:
            return _no_content()
        users.guard(session, caller.tenant, caller.actor, user)
        revoke_consent(session, caller.tenant.id, user.id, client_id, caller.actor)
        return _no_content()

    return work


# -- the team -------------------------------------------------------------------------------------------


@endpoint("manage:members")
def members_list(request: Request, caller: Caller) -> Any:
    limit, offset = page_params(request)

    def work(session: Session, caller: Caller) -> Response:
        rows = members(session, caller.tenant.id)
        items = [member_view(user, m.role) for m, user in rows[offset : offset + limit]]
        return page(request, items, len(rows), limit, offset)

    return work


@endpoint("manage:members", body=True)
def member_invite(request: Request, caller: Caller, data: dict[str, Any]) -> Any:
    fields = Fields(data, {"email", "role"})
    email, role = fields.text("email", required=True, most=400), fields.text("role", required=True, most=40)
    settings = app_context(request).settings

    def work(session: Session, caller: Caller) -> Response:
        new = team.invite_member(session, caller.tenant, caller.actor, email=email, role=role, invited_by="")
        invitation = new.invitation
        link = f"{settings.issuer(caller.tenant.slug)}/portal/invitations/{new.token}"
        body = {
            "id": invitation.id,
            "email": invitation.email,
            "role": invitation.role,
            "expires_at": invitation.expires_at,
            "invitation_url": link,
        }
        return json_body(201, body)

    return work


@endpoint("manage:members")
def member_get(request: Request, caller: Caller) -> Any:
    user_id = request.path_params["user_id"]

    def work(session: Session, caller: Caller) -> Response:
        user, role = team.get_member(session, caller.tenant, user_id)
        return one(member_view(user, role))

    return work


@endpoint("manage:members", body=True)
def member_update(request: Request, caller: Caller, data: dict[str, Any]) -> Any:
    user_id = request.path_params["user_id"]
    role = Fields(data, {"role"}).text("role", required=True, most=40)

    def work(session: Session, caller: Caller) -> Response:
        user, old_role = team.get_member(session, caller.tenant, user_id)
        check_if_match(request, member_view(user, old_role))
        team.change_member_role(session, caller.tenant, caller.actor, user_id, role)
        user, new_role = team.get_member(session, caller.tenant, user_id)
        return one(member_view(user, new_role))

    return work


@endpoint("manage:members")
def member_remove(request: Request, caller: Caller) -> Any:
    user_id = request.path_params["user_id"]

    def work(session: Session, caller: Caller) -> Response:
        try:
            user, role = team.get_member(session, caller.tenant, user_id)
        except Missing:
            return _no_content()
        check_if_match(request, member_view(user, role))
        team.remove_team_member(session, caller.tenant, caller.actor, user_id)
        return _no_content()

    return work


# -- scopes ---------------------------------------------------------------------------------------------


@endpoint("manage:scopes")
def scopes_list(request: Request, caller: Caller) -> Any:
    limit, offset = page_params(request)

    def work(session: Session, caller: Caller) -> Response:
        rows = list(session.exec(tenant_query(TenantScope, caller.tenant.id).order_by(TenantScope.name)).all())
        return page(request, [scope_view(s) for s in rows[offset : offset + limit]], len(rows), limit, offset)

    return work


@endpoint("manage:scopes", body=True)
def scope_create(request: Request, caller: Caller, data: dict[str, Any]) -> Any:
    fields = Fields(data, {"name", "description"})
    name, description = fields.text("name", required=True, most=200), fields.text("description", most=2000)

    def work(session: Session, caller: Caller) -> Response:
        scope = scopes.define_scope(session, caller.tenant, caller.actor, name=name, description=description)
        return json_body(201, scope_view(scope), {"Location": f"{request.url.path}/{scope.name}"})

    return work


@endpoint("manage:scopes")
def scope_get(request: Request, caller: Caller) -> Any:
    name = request.path_params["name"]
    return lambda session, caller: one(scope_view(scopes.get_scope(session, caller.tenant, name)))


@endpoint("manage:scopes", body=True)
def scope_update(request: Request, caller: Caller, data: dict[str, Any]) -> Any:
    name = request.path_params["name"]
    description = Fields(data, {"description"}).text("description", required=True, most=2000)

    def work(session: Session, caller: Caller) -> Response:
        scope = scopes.get_scope(session, caller.tenant, name)
        check_if_match(request, scope_view(scope))
        scopes.redescribe_scope(session, caller.tenant, caller.actor, scope, description)
        return one(scope_view(scope))

    return work


@endpoint("manage:scopes")
def scope_delete(request: Request, caller: Caller) -> Any:
    name = request.path_params["name"]

    def work(session: Session, caller: Caller) -> Response:
        scope = find_scope(session, caller.tenant.id, name)
        if scope is None:
            return _no_content()
        check_if_match(request, scope_view(scope))
        scopes.remove_scope(session, caller.tenant, caller.actor, scope)
        return _no_content()

    return work


# -- audit events -----------------------------------------------------------------------------------------


@endpoint("read:audit")
def audit_events(request: Request, caller: Caller) -> Any:
    limit, offset = page_params(request)
    action = query_text(request, "action", 80)
    actor = query_text(request, "actor", 200)

    def work(session: Session, caller: Caller) -> Response:
        audit.purge_expired(session, caller.tenant.id, caller.tenant.audit_retention_days)
        rows, total = audit.events(session, caller.tenant.id, limit=limit, offset=offset, action=action, actor=actor)
        return page(request, [event_view(e) for e in rows], total, limit, offset)

    return work


routes = [
    Route("/api/clients", clients_list, methods=["GET"]),
    Route("/api/clients", client_create, methods=["POST"]),
    Route("/api/clients/{client_id}", client_get, methods=["GET"]),
    Route("/api/clients/{client_id}", client_update, methods=["PATCH"]),
    Route("/api/clients/{client_id}", client_delete, methods=["DELETE"]),
    Route("/api/clients/{client_id}/secret", client_rotate_secret, methods=["POST"]),
    Route("/api/users", users_list, methods=["GET"]),
    Route("/api/users", user_create, methods=["POST"]),
    Route("/api/users/{user_id}", user_get, methods=["GET"]),
    Route("/api/users/{user_id}", user_update, methods=["PATCH"]),
    Route("/api/users/{user_id}", user_delete, methods=["DELETE"]),
    Route("/api/users/{user_id}/consents", user_consents, methods=["GET"]),
    Route("/api/users/{user_id}/consents/{client_id}", user_consent_revoke, methods=["DELETE"]),
    Route("/api/members", members_list, methods=["GET"]),
    Route("/api/members", member_invite, methods=["POST"]),
    Route("/api/members/{user_id}", member_get, methods=["GET"]),
    Route("/api/members/{user_id}", member_update, methods=["PATCH"]),
    Route("/api/members/{user_id}", member_remove, methods=["DELETE"]),
    Route("/api/scopes", scopes_list, methods=["GET"]),
    Route("/api/scopes", scope_create, methods=["POST"]),
    Route("/api/scopes/{name}", scope_get, methods=["GET"]),
    Route("/api/scopes/{name}", scope_update, methods=["PATCH"]),
    Route("/api/scopes/{name}", scope_delete, methods=["DELETE"]),
    Route("/api/audit-events", audit_events, methods=["GET"]),
]
