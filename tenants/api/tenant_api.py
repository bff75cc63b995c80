"""The tenant-scope management API, ``{issuer}/api/…``: apps, users, team, scopes, audit events.

Every change goes through ``tenants.manage`` (the portal's rules and audit events); this module only
maps the contract's models to those calls and their results back to the contract's models.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from identity.clients import APP_TYPES, PRIVATE_KEY_JWT, ClientSpec, list_clients
from identity.consents import list_consents, revoke_consent
from identity.db import tenant_query
from identity.models.client import Client
from identity.models.tenant import Tenant, TenantScope
from identity.models.user import User
from identity.users import list_users
from identity.web import app_context
from tenants import audit
from tenants.api import contract as c
from tenants.api.auth import Caller
from tenants.api.http import check_if_match, created, json_body, no_content, one, page
from tenants.api.operations import Api, Work
from tenants.api.views import (
    client_view,
    client_with_secret,
    event_view,
    member_view,
    scope_view,
    settings_view,
    user_view,
)
from tenants.manage import apps, scopes, team, users
from tenants.manage.errors import Missing
from tenants.manage.settings import change_settings
from tenants.members import members, role_of
from tenants.service import find_scope

api = Api(prefix="/t/{tenant}", platform=False)

CLIENTS, USERS, MEMBERS, SCOPES = "manage:clients", "manage:users", "manage:members", "manage:scopes"


# -- applications -----------------------------------------------------------------------------------------


def _spec_of(client: Client) -> ClientSpec:
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
        backchannel_logout_uri=client.backchannel_logout_uri,
        frontchannel_logout_uri=client.frontchannel_logout_uri,
        access_token_ttl=client.access_token_ttl,
        refresh_token_ttl=client.refresh_token_ttl,
        refresh_token_grace=client.refresh_token_grace,
        require_pushed_authorization_requests=client.require_pushed_requests,
        token_endpoint_auth_method=client.token_endpoint_auth_method,
        jwks=client.jwks,
        jwks_uri=client.jwks_uri,
        dpop_bound_access_tokens=client.dpop_bound_access_tokens,
        require_dpop_nonce=client.require_dpop_nonce,
    )


def _keys_follow_method(spec: ClientSpec, changes: dict[str, object]) -> None:
    """A change of keys or method replaces what it supersedes: jwks and jwks_uri exclude each other, and
    keys go with a move away from private_key_jwt (unless the same change gives them, to be refused)."""
    if "jwks_uri" in changes and "jwks" not in changes:
        spec.jwks = None
    if "jwks" in changes and "jwks_uri" not in changes:
        spec.jwks_uri = ""
    if changes.get("token_endpoint_auth_method", PRIVATE_KEY_JWT) != PRIVATE_KEY_JWT:
        spec.jwks = spec.jwks if "jwks" in changes else None
        spec.jwks_uri = spec.jwks_uri if "jwks_uri" in changes else ""


@api.operation("GET", "/api/clients", "List applications", CLIENTS, response=c.PAGES[c.Client], query=c.Paging)
def clients_list(request: Request, caller: Caller, query: c.Paging) -> Work:
    def work(session: Session, caller: Caller) -> Response:
        rows = list_clients(session, caller.tenant.id)
        items = [client_view(client) for client in rows[query.offset : query.offset + query.limit]]
        return page(request, items, len(rows), query.limit, query.offset)

    return work


@api.operation(
    "POST",
    "/api/clients",
    "Create an application",
    CLIENTS,
    status=201,
    response=c.ClientWithSecret,
    body=c.ClientCreate,
)
def client_create(request: Request, caller: Caller, body: c.ClientCreate) -> Work:
    defaults = APP_TYPES[body.app_type]
    spec = ClientSpec(
        name=body.name,
        redirect_uris=body.redirect_uris,
        app_type=body.app_type,
        public=defaults["public"],
        grant_types=body.grant_types if body.grant_types is not None else list(defaults["grant_types"]),
        scopes=body.scopes,
        description=body.description,
        logo_url=body.logo_url,
        post_logout_redirect_uris=body.post_logout_redirect_uris,
        backchannel_logout_uri=body.backchannel_logout_uri,
        frontchannel_logout_uri=body.frontchannel_logout_uri,
        access_token_ttl=body.access_token_ttl,
        refresh_token_ttl=body.refresh_token_ttl,
        refresh_token_grace=body.refresh_token_grace,
        require_pushed_authorization_requests=body.require_pushed_authorization_requests,
        token_endpoint_auth_method=body.token_endpoint_auth_method,
        jwks=body.jwks,
        jwks_uri=body.jwks_uri,
        dpop_bound_access_tokens=body.dpop_bound_access_tokens,
        require_dpop_nonce=body.require_dpop_nonce,
    )
    ctx = app_context(request)

    def work(session: Session, caller: Caller) -> Response:
        new = apps.create_app(session, ctx, caller.tenant, caller.actor, spec)
        return created(client_with_secret(new.client, new.client_secret), f"{request.url.path}/{new.client.id}")

    return work


@api.operation("GET", "/api/clients/{client_id}", "Read an application", CLIENTS, response=c.Client)
def client_get(request: Request, caller: Caller) -> Work:
    client_id = request.path_params["client_id"]
    return lambda session, caller: one(client_view(apps.get_app(session, caller.tenant, client_id)))


@api.operation(
    "PATCH",
    "/api/clients/{client_id}",
    "Change an application (the members given)",
    CLIENTS,
    response=c.Client,
    body=c.ClientUpdate,
    if_match=True,
)
def client_update(request: Request, caller: Caller, body: c.ClientUpdate) -> Work:
    client_id = request.path_params["client_id"]
    changes = body.model_dump(include=body.model_fields_set)
    ctx = app_context(request)

    def work(session: Session, caller: Caller) -> Response:
        client = apps.get_app(session, caller.tenant, client_id)
        check_if_match(request, client_view(client))
        spec = _spec_of(client)
        for name, value in changes.items():
            setattr(spec, name, value)
        _keys_follow_method(spec, changes)
        apps.update_app(session, ctx, caller.tenant, caller.actor, client, spec)
        return one(client_view(client))

    return work


@api.operation(
    "DELETE", "/api/clients/{client_id}", "Delete an application (idempotent)", CLIENTS, status=204, if_match=True
)
def client_delete(request: Request, caller: Caller) -> Work:
    client_id = request.path_params["client_id"]

    def work(session: Session, caller: Caller) -> Response:
        try:
            client = apps.get_app(session, caller.tenant, client_id)
        except Missing:
            return no_content()  # idempotent: deleting what is gone is done
        check_if_match(request, client_view(client))
        apps.delete_app(session, caller.tenant, caller.actor, client)
        return no_content()

    return work


@api.operation(
    "POST",
    "/api/clients/{client_id}/secret",
    "Rotate the secret (shown once)",
    CLIENTS,
    response=c.ClientWithSecret,
    body=c.SecretRotation,
)
def client_rotate_secret(request: Request, caller: Caller, body: c.SecretRotation) -> Work:
    client_id = request.path_params["client_id"]
    ctx = app_context(request)

    def work(session: Session, caller: Caller) -> Response:
        client = apps.get_app(session, caller.tenant, client_id)
        secret = apps.rotate_app_secret(session, ctx, caller.tenant, caller.actor, client, body.grace_seconds)
        return json_body(200, client_with_secret(client, secret).model_dump(mode="json"))

    return work


# -- settings -------------------------------------------------------------------------------------------


@api.operation("GET", "/api/settings", "Read the tenant's settings", CLIENTS, response=c.Settings)
def settings_get(request: Request, caller: Caller) -> Work:
    return lambda session, caller: one(settings_view(_tenant_row(session, caller)))


@api.operation(
    "PATCH",
    "/api/settings",
    "Change the tenant's settings (the members given)",
    CLIENTS,
    response=c.Settings,
    body=c.SettingsUpdate,
    if_match=True,
)
def settings_update(request: Request, caller: Caller, body: c.SettingsUpdate) -> Work:
    changes = body.model_dump(include=body.model_fields_set)

    def work(session: Session, caller: Caller) -> Response:
        tenant = _tenant_row(session, caller)
        check_if_match(request, settings_view(tenant))
        change_settings(session, tenant, caller.actor, **changes)
        return one(settings_view(tenant))

    return work


def _tenant_row(session: Session, caller: Caller) -> Tenant:
    """The caller's tenant as a row of this transaction (the cached one is shared and never changed)."""
    tenant = session.get(Tenant, caller.tenant.id)
    if tenant is None:
        raise Missing("no such tenant")
    return tenant


# -- users ----------------------------------------------------------------------------------------------


def _user_view(session: Session, caller: Caller, user: User) -> c.User:
    return user_view(user, role_of(session, caller.tenant.id, user.id))


@api.operation("GET", "/api/users", "List users", USERS, response=c.PAGES[c.User], query=c.UserQuery)
def users_list(request: Request, caller: Caller, query: c.UserQuery) -> Work:
    def work(session: Session, caller: Caller) -> Response:
        result = list_users(session, caller.tenant.id, q=query.q, per_page=query.limit, offset=query.offset)
        items = [_user_view(session, caller, user) for user in result.users]
        return page(request, items, result.total, query.limit, query.offset)

    return work


@api.operation("POST", "/api/users", "Create a user", USERS, status=201, response=c.User, body=c.UserCreate)
def user_create(request: Request, caller: Caller, body: c.UserCreate) -> Work:
    def work(session: Session, caller: Caller) -> Response:
        user = users.create_end_user(
            session, caller.tenant, caller.actor, email=body.email, password=body.password, name=body.name
        )
        return created(_user_view(session, caller, user), f"{request.url.path}/{user.id}")

    return work


@api.operation("GET", "/api/users/{user_id}", "Read a user", USERS, response=c.User)
def user_get(request: Request, caller: Caller) -> Work:
    user_id = request.path_params["user_id"]

    def work(session: Session, caller: Caller) -> Response:
        return one(_user_view(session, caller, users.get_end_user(session, caller.tenant, user_id)))

    return work


@api.operation(
    "PATCH", "/api/users/{user_id}", "Change a user", USERS, response=c.User, body=c.UserUpdate, if_match=True
)
def user_update(request: Request, caller: Caller, body: c.UserUpdate) -> Work:
    """Each member given is one change (and one audit event): name, disabled, password, and the profile
    (``email_verified`` and ``claims`` together)."""
    user_id = request.path_params["user_id"]
    given = body.model_fields_set

    def work(session: Session, caller: Caller) -> Response:
        user = users.get_end_user(session, caller.tenant, user_id)
        check_if_match(request, _user_view(session, caller, user))
        if "name" in given:
            users.rename_end_user(session, caller.tenant, caller.actor, user, body.name)
        if "disabled" in given:
            users.set_end_user_disabled(session, caller.tenant, caller.actor, user, body.disabled)
        if "password" in given:
            users.reset_end_user_password(session, caller.tenant, caller.actor, user, body.password)
        if "claims" in given or "email_verified" in given:
            claims = _claim_changes(body.claims) if "claims" in given else None
            verified = body.email_verified if "email_verified" in given else None
            users.update_end_user_profile(
                session, caller.tenant, caller.actor, user, claims=claims, email_verified=verified
            )
        return one(_user_view(session, caller, user))

    return work


def _claim_changes(claims: c.StandardClaims) -> dict[str, Any]:
    """The members given; the address, when given, with the parts it names (the rest are removed)."""
    changes = claims.model_dump(include=claims.model_fields_set)
    if "address" in changes and claims.address is not None:
        changes["address"] = claims.address.model_dump(include=claims.address.model_fields_set)
    return changes


@api.operation("DELETE", "/api/users/{user_id}", "Delete a user (idempotent)", USERS, status=204, if_match=True)
def user_delete(request: Request, caller: Caller) -> Work:
    user_id = request.path_params["user_id"]

    def work(session: Session, caller: Caller) -> Response:
        try:
            user = users.get_end_user(session, caller.tenant, user_id)
        except Missing:
            return no_content()
        check_if_match(request, _user_view(session, caller, user))
        users.delete_end_user(session, caller.tenant, caller.actor, user)
        return no_content()

    return work


@api.operation(
    "POST",
    "/api/users/{user_id}/sign-out",
    "Sign the user out everywhere: every session and grant ends, clients are told (back-channel logout)",
    USERS,
    status=204,
)
def user_sign_out(request: Request, caller: Caller) -> Work:
    user_id = request.path_params["user_id"]
    issuer = app_context(request).settings.issuer(request.path_params["tenant"])

    def work(session: Session, caller: Caller) -> Response:
        user = users.get_end_user(session, caller.tenant, user_id)
        users.sign_out_everywhere(session, caller.tenant, caller.actor, user, issuer)
        return no_content()

    return work


@api.operation("GET", "/api/users/{user_id}/consents", "The user's remembered consents", USERS, response=c.ConsentList)
def user_consents(request: Request, caller: Caller) -> Work:
    user_id = request.path_params["user_id"]

    def work(session: Session, caller: Caller) -> Response:
        user = users.get_end_user(session, caller.tenant, user_id)
        items = [c.Consent(**asdict(consent)) for consent in list_consents(session, caller.tenant.id, user.id)]
        return json_body(200, c.ConsentList(items=items, total=len(items)).model_dump(mode="json"))

    return work


@api.operation(
    "DELETE",
    "/api/users/{user_id}/consents/{client_id}",
    "Revoke a consent and the app's grants (idempotent)",
    USERS,
    status=204,
)
def user_consent_revoke(request: Request, caller: Caller) -> Work:
    user_id, client_id = request.path_params["user_id"], request.path_params["client_id"]

    def work(session: Session, caller: Caller) -> Response:
        try:
            user = users.get_end_user(session, caller.tenant, user_id)
        except Missing:
            return no_content()
        users.guard(session, caller.tenant, caller.actor, user)
        revoke_consent(session, caller.tenant.id, user.id, client_id, caller.actor)
        return no_content()

    return work


# -- the team -------------------------------------------------------------------------------------------


@api.operation("GET", "/api/members", "List team members", MEMBERS, response=c.PAGES[c.Member], query=c.Paging)
def members_list(request: Request, caller: Caller, query: c.Paging) -> Work:
    def work(session: Session, caller: Caller) -> Response:
        rows = members(session, caller.tenant.id)
        items = [member_view(user, m.role) for m, user in rows[query.offset : query.offset + query.limit]]
        return page(request, items, len(rows), query.limit, query.offset)

    return work


@api.operation(
    "POST", "/api/members", "Invite a team member", MEMBERS, status=201, response=c.Invitation, body=c.MemberInvite
)
def member_invite(request: Request, caller: Caller, body: c.MemberInvite) -> Work:
    settings = app_context(request).settings

    def work(session: Session, caller: Caller) -> Response:
        new = team.invite_member(session, caller.tenant, caller.actor, email=body.email, role=body.role, invited_by="")
        invitation = new.invitation
        link = f"{settings.issuer(caller.tenant.slug)}/portal/invitations/{new.token}"
        view = c.Invitation(
            id=invitation.id,
            email=invitation.email,
            role=invitation.role,
            expires_at=invitation.expires_at,
            invitation_url=link,
        )
        return created(view)

    return work


@api.operation("GET", "/api/members/{user_id}", "Read a team member", MEMBERS, response=c.Member)
def member_get(request: Request, caller: Caller) -> Work:
    user_id = request.path_params["user_id"]

    def work(session: Session, caller: Caller) -> Response:
        user, role = team.get_member(session, caller.tenant, user_id)
        return one(member_view(user, role))

    return work


@api.operation(
    "PATCH",
    "/api/members/{user_id}",
    "Change a team member's role",
    MEMBERS,
    response=c.Member,
    body=c.MemberUpdate,
    if_match=True,
)
def member_update(request: Request, caller: Caller, body: c.MemberUpdate) -> Work:
    user_id = request.path_params["user_id"]

    def work(session: Session, caller: Caller) -> Response:
        user, old_role = team.get_member(session, caller.tenant, user_id)
        check_if_match(request, member_view(user, old_role))
        team.change_member_role(session, caller.tenant, caller.actor, user_id, body.role)
        user, new_role = team.get_member(session, caller.tenant, user_id)
        return one(member_view(user, new_role))

    return work


@api.operation(
    "DELETE", "/api/members/{user_id}", "Remove a team member (idempotent)", MEMBERS, status=204, if_match=True
)
def member_remove(request: Request, caller: Caller) -> Work:
    user_id = request.path_params["user_id"]

    def work(session: Session, caller: Caller) -> Response:
        try:
            user, role = team.get_member(session, caller.tenant, user_id)
        except Missing:
            return no_content()
        check_if_match(request, member_view(user, role))
        team.remove_team_member(session, caller.tenant, caller.actor, user_id)
        return no_content()

    return work


# -- scopes ---------------------------------------------------------------------------------------------


@api.operation("GET", "/api/scopes", "List the tenant's scopes", SCOPES, response=c.PAGES[c.Scope], query=c.Paging)
def scopes_list(request: Request, caller: Caller, query: c.Paging) -> Work:
    def work(session: Session, caller: Caller) -> Response:
        rows = list(session.exec(tenant_query(TenantScope, caller.tenant.id).order_by(TenantScope.name)).all())
        items = [scope_view(scope) for scope in rows[query.offset : query.offset + query.limit]]
        return page(request, items, len(rows), query.limit, query.offset)

    return work


@api.operation("POST", "/api/scopes", "Define a scope", SCOPES, status=201, response=c.Scope, body=c.ScopeCreate)
def scope_create(request: Request, caller: Caller, body: c.ScopeCreate) -> Work:
    def work(session: Session, caller: Caller) -> Response:
        scope = scopes.define_scope(session, caller.tenant, caller.actor, name=body.name, description=body.description)
        return created(scope_view(scope), f"{request.url.path}/{scope.name}")

    return work


@api.operation("GET", "/api/scopes/{name}", "Read a scope", SCOPES, response=c.Scope)
def scope_get(request: Request, caller: Caller) -> Work:
    name = request.path_params["name"]
    return lambda session, caller: one(scope_view(scopes.get_scope(session, caller.tenant, name)))


@api.operation(
    "PATCH", "/api/scopes/{name}", "Describe a scope anew", SCOPES, response=c.Scope, body=c.ScopeUpdate, if_match=True
)
def scope_update(request: Request, caller: Caller, body: c.ScopeUpdate) -> Work:
    name = request.path_params["name"]

    def work(session: Session, caller: Caller) -> Response:
        scope = scopes.get_scope(session, caller.tenant, name)
        check_if_match(request, scope_view(scope))
        scopes.redescribe_scope(session, caller.tenant, caller.actor, scope, body.description)
        return one(scope_view(scope))

    return work


@api.operation(
    "DELETE", "/api/scopes/{name}", "Remove a scope no app uses (idempotent)", SCOPES, status=204, if_match=True
)
def scope_delete(request: Request, caller: Caller) -> Work:
    name = request.path_params["name"]

    def work(session: Session, caller: Caller) -> Response:
        scope = find_scope(session, caller.tenant.id, name)
        if scope is None:
            return no_content()
        check_if_match(request, scope_view(scope))
        scopes.remove_scope(session, caller.tenant, caller.actor, scope)
        return no_content()

    return work


# -- audit events -----------------------------------------------------------------------------------------


@api.operation(
    "GET",
    "/api/audit-events",
    "Audit events, newest first",
    "read:audit",
    response=c.PAGES[c.AuditEvent],
    query=c.AuditQuery,
)
def audit_events(request: Request, caller: Caller, query: c.AuditQuery) -> Work:
    def work(session: Session, caller: Caller) -> Response:
        tenant = caller.tenant
        audit.purge_expired(session, tenant.id, tenant.audit_retention_days)
        rows, total = audit.events(
            session, tenant.id, limit=query.limit, offset=query.offset, action=query.action, actor=query.actor
        )
        return page(request, [event_view(e) for e in rows], total, query.limit, query.offset)

    return work


routes = api.routes()
