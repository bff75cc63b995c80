"""Portal: the tenant's end users (list and search, create, detail, disable/enable, reset password, delete).

Managed by admins and owners; developers get the 403 page. Users are only ever looked up through the
tenant (``get_user(session, tenant_id, user_id)``), so another tenant's user id is a 404 like an unknown one.
An admin cannot change an owner's account, and nobody can disable or delete their own.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from identity.models.user import User
from identity.passwords import password_problem
from identity.users import (
    UserError,
    create_user,
    delete_user,
    email_problem,
    get_user,
    list_users,
    normalize_email,
    reset_password,
    set_disabled,
)
from identity.web import in_transaction, redirect
from tenants import audit
from tenants.members import role_of
from tenants.models import ADMIN
from tenants.portal import forms
from tenants.portal.access import RANK, Forbidden, Member, NotFound, require_member
from tenants.portal.web import portal_page
from tenants.resolution import resolve_tenant

PER_PAGE = 25
NAME_MAX = 200

NOTICES = {
    "created": "User created. They can sign in with the email and password you chose.",
    "disabled": "User disabled. They are signed out everywhere and their tokens no longer work.",
    "enabled": "User enabled. They can sign in again.",
    "password": "Password changed. Tell the user their new password through a channel you trust.",
    "unchanged": "Nothing to change.",
}


def _user(session: Session, member: Member, user_id: str) -> User:
    user = get_user(session, member.tenant.id, user_id)
    if user is None:
        raise NotFound(user_id)
    return user


def _guard(session: Session, member: Member, user: User) -> str | None:
    """The user's portal role; refuse (403) when it outranks the acting member (an admin and an owner)."""
    role = role_of(session, member.tenant.id, user.id)
    if role is not None and RANK[role] > RANK[member.role]:
        raise Forbidden(
            member.tenant, f"{user.email} is an {role} of the developer portal: only an owner can change their account."
        )
    return role


def _detail(
    request: Request,
    session: Session,
    member: Member,
    user: User,
    *,
    notice: str = "",
    error: str = "",
    errors: dict[str, list[str]] | None = None,
    status: int = 200,
) -> Response:
    context = {
        "user": user,
        "role": role_of(session, member.tenant.id, user.id),
        "notice": notice,
        "error": error,
        "errors": errors or {},
        "is_self": user.id == member.user.id,
    }
    return portal_page(request, member, "portal/user_detail.html", context, section="users", status=status)


def _refused(_session: Session, response: Response) -> bool:
    return response.status_code < 400


async def users_list(request: Request) -> Response:
    slug = request.path_params["tenant"]
    q = request.query_params.get("q", "").strip()[:200]
    page = forms.page_number(request.query_params.get("page", "1"))

    def work(session: Session) -> Response:
        member = require_member(session, request, resolve_tenant(session, slug), ADMIN)
        result = list_users(session, member.tenant.id, q=q, page=page, per_page=PER_PAGE)
        deleted = request.query_params.get("deleted") == "1"
        return portal_page(
            request, member, "portal/users.html", {"result": result, "q": q, "deleted": deleted}, section="users"
        )

    return await in_transaction(request, work)


def _form_page(
    request: Request, member: Member, values: dict[str, str], errors: dict[str, list[str]], status: int = 200
) -> Response:
    return portal_page(
        request, member, "portal/user_form.html", {"values": values, "errors": errors}, section="users", status=status
    )


async def user_new(request: Request) -> Response:
    slug = request.path_params["tenant"]

    def work(session: Session) -> Response:
        member = require_member(session, request, resolve_tenant(session, slug), ADMIN)
        return _form_page(request, member, {"email": "", "name": ""}, {})

    return await in_transaction(request, work)


async def user_create(request: Request) -> Response:
    slug = request.path_params["tenant"]
    form = await request.form()
    values = {"email": forms.text(form, "email", 400), "name": forms.text(form, "name", 400)}
    password = forms.secret(form, "password")

    def work(session: Session) -> Response:
        member = require_member(
            session, request, resolve_tenant(session, slug), ADMIN, csrf=forms.text(form, "csrf_token")
        )
        errors: dict[str, list[str]] = {}
        if problem := email_problem(values["email"]):
            errors["email"] = [problem]
        if len(values["name"]) > NAME_MAX:
            errors["name"] = [f"Name must be at most {NAME_MAX} characters."]
        if not password:
            errors["password"] = ["Choose a password for the user."]
        elif problem := password_problem(password):
            errors["password"] = [problem]
        if not errors:
            try:
                user = create_user(
                    session, member.tenant.id, email=values["email"], password=password, name=values["name"]
                )
            except UserError as error:  # the address is already taken
                errors["email"] = [str(error)]
            except IntegrityError:  # taken by a request that committed while this one ran
                session.rollback()
                errors["email"] = [f"a user with email {values['email']} already exists in this tenant"]
            else:
                audit.record(session, member.tenant.id, member.actor, "user.created", user.id, email=user.email)
                return redirect(f"/t/{slug}/portal/users/{user.id}?notice=created", 303)
        return _form_page(request, member, values, errors, status=400)

    return await in_transaction(request, work, keep=_refused)


async def user_detail(request: Request) -> Response:
    slug, user_id = request.path_params["tenant"], request.path_params["user_id"]

    def work(session: Session) -> Response:
        member = require_member(session, request, resolve_tenant(session, slug), ADMIN)
        notice = NOTICES.get(request.query_params.get("notice", ""), "")
        return _detail(request, session, member, _user(session, member, user_id), notice=notice)

    return await in_transaction(request, work)


async def _toggle(request: Request, disabled: bool) -> Response:
    slug, user_id = request.path_params["tenant"], request.path_params["user_id"]
    form = await request.form()

    def work(session: Session) -> Response:
        member = require_member(
            session, request, resolve_tenant(session, slug), ADMIN, csrf=forms.text(form, "csrf_token")
        )
        user = _user(session, member, user_id)
        _guard(session, member, user)
        if user.id == member.user.id:
            return _detail(
                request,
                session,
                member,
                user,
                status=400,
                error="You cannot disable your own account. Ask another admin or owner.",
            )
        if user.disabled == disabled:
            return redirect(f"/t/{slug}/portal/users/{user.id}?notice=unchanged", 303)
        revoked = set_disabled(session, user, disabled)
        if disabled:
            audit.record(
                session,
                member.tenant.id,
                member.actor,
                "user.disabled",
                user.id,
                email=user.email,
                sessions_ended=revoked.sessions,
                grants_revoked=revoked.grants,
            )
        else:
            audit.record(session, member.tenant.id, member.actor, "user.enabled", user.id, email=user.email)
        return redirect(f"/t/{slug}/portal/users/{user.id}?notice={'disabled' if disabled else 'enabled'}", 303)

    return await in_transaction(request, work, keep=_refused)


async def user_disable(request: Request) -> Response:
    return await _toggle(request, True)


async def user_enable(request: Request) -> Response:
    return await _toggle(request, False)


async def user_reset_password(request: Request) -> Response:
    slug, user_id = request.path_params["tenant"], request.path_params["user_id"]
    form = await request.form()
    password = forms.secret(form, "new_password")

    def work(session: Session) -> Response:
        member = require_member(
            session, request, resolve_tenant(session, slug), ADMIN, csrf=forms.text(form, "csrf_token")
        )
        user = _user(session, member, user_id)
        _guard(session, member, user)
        try:
            reset_password(session, user, password)
        except UserError as error:
            return _detail(request, session, member, user, errors={"new_password": [str(error)]}, status=400)
        audit.record(session, member.tenant.id, member.actor, "user.password_reset", user.id, email=user.email)
        return redirect(f"/t/{slug}/portal/users/{user.id}?notice=password", 303)

    return await in_transaction(request, work, keep=_refused)


def _delete_page(request: Request, member: Member, user: User, error: str = "", status: int = 200) -> Response:
    context = {"user": user, "error": error, "is_self": user.id == member.user.id}
    return portal_page(request, member, "portal/user_delete.html", context, section="users", status=status)


async def user_delete_confirm(request: Request) -> Response:
    slug, user_id = request.path_params["tenant"], request.path_params["user_id"]

    def work(session: Session) -> Response:
        member = require_member(session, request, resolve_tenant(session, slug), ADMIN)
        user = _user(session, member, user_id)
        _guard(session, member, user)
        return _delete_page(request, member, user)

    return await in_transaction(request, work)


async def user_delete(request: Request) -> Response:
    slug, user_id = request.path_params["tenant"], request.path_params["user_id"]
    form = await request.form()

    def work(session: Session) -> Response:
        member = require_member(
            session, request, resolve_tenant(session, slug), ADMIN, csrf=forms.text(form, "csrf_token")
        )
        user = _user(session, member, user_id)
        role = _guard(session, member, user)
        if user.id == member.user.id:
            return _delete_page(request, member, user, "You cannot delete your own account.", 400)
        if normalize_email(forms.text(form, "confirm_email", 400)) != user.email_normalized:
            return _delete_page(request, member, user, "Type the user's email address exactly to confirm.", 400)
        email = user.email
        delete_user(session, user)
        details: dict[str, Any] = {"email": email, **({"portal_role": role} if role else {})}
        audit.record(session, member.tenant.id, member.actor, "user.deleted", user_id, **details)
        return redirect(f"/t/{slug}/portal/users?deleted=1", 303)

    return await in_transaction(request, work, keep=_refused)


routes = [
    Route("/portal/users", users_list, methods=["GET"]),
    Route("/portal/users/new", user_new, methods=["GET"]),
    Route("/portal/users/new", user_create, methods=["POST"]),
    Route("/portal/users/{user_id}", user_detail, methods=["GET"]),
    Route("/portal/users/{user_id}/disable", user_disable, methods=["POST"]),
    Route("/portal/users/{user_id}/enable", user_enable, methods=["POST"]),
    Route("/portal/users/{user_id}/reset-password", user_reset_password, methods=["POST"]),
    Route("/portal/users/{user_id}/delete", user_delete_confirm, methods=["GET"]),
    Route("/portal/users/{user_id}/delete", user_delete, methods=["POST"]),
]
