"""Portal: the tenant's end users (list and search, create, detail, disable/enable, reset password, delete).

Managed by admins and owners; developers get the 403 page. The rules (another tenant's user id is a 404
like an unknown one; an admin cannot change an owner's account; nobody disables or deletes their own) and
the audit events are ``tenants.manage.users``'s.
"""

from __future__ import annotations

from sqlmodel import Session
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from identity.models.team import ADMIN
from identity.models.user import User
from identity.users import list_users, normalize_email
from identity.web import app_context, in_transaction, redirect
from tenants.manage import users as manage
from tenants.manage.errors import Conflict, Invalid
from tenants.members import role_of
from tenants.portal import forms
from tenants.portal.access import Member, require_member
from tenants.portal.web import portal_page, refusals
from tenants.resolution import resolve_tenant

PER_PAGE = 25

NOTICES = {
    "created": "User created. They can sign in with the email and password you chose.",
    "disabled": "User disabled. They are signed out everywhere and their tokens no longer work.",
    "enabled": "User enabled. They can sign in again.",
    "password": "Password changed. Tell the user their new password through a channel you trust.",
    "unchanged": "Nothing to change.",
    "signed_out": "Signed out everywhere. Every session ended, every token stopped working, and the apps were told.",
    "profile": "Profile saved. Apps see the change at the next sign-in, token refresh or userinfo call.",
}

# The profile form: (claim, label, hint) in the order of OIDC Core §5.1; the address parts are ``address_<part>``.
PROFILE_FIELDS = [
    ("given_name", "Given name", ""),
    ("family_name", "Family name", ""),
    ("middle_name", "Middle name", ""),
    ("nickname", "Nickname", ""),
    ("preferred_username", "Preferred username", ""),
    ("profile", "Profile page", "https URL"),
    ("picture", "Picture", "https URL of an image"),
    ("website", "Website", "https URL"),
    ("gender", "Gender", ""),
    ("birthdate", "Birthdate", "YYYY-MM-DD, YYYY, or 0000-MM-DD"),
    ("zoneinfo", "Time zone", "e.g. Europe/Paris"),
    ("locale", "Locale", "e.g. fr-CA"),
    ("phone_number", "Phone number", "E.164, e.g. +14155552671"),
]
ADDRESS_FIELDS = [
    ("street_address", "Street address"),
    ("locality", "City"),
    ("region", "Region"),
    ("postal_code", "Postal code"),
    ("country", "Country"),
    ("formatted", "Formatted (as printed on mail)"),
]


def _user(session: Session, member: Member, user_id: str) -> User:
    with refusals(member):
        return manage.get_end_user(session, member.tenant, user_id)


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
    profile_values: dict[str, str] | None = None,
) -> Response:
    context = {
        "user": user,
        "profile_fields": PROFILE_FIELDS,
        "address_fields": ADDRESS_FIELDS,
        "profile_values": profile_values if profile_values is not None else _profile_values(user),
        "role": role_of(session, member.tenant.id, user.id),
        "notice": notice,
        "error": error,
        "errors": errors or {},
        "is_self": user.id == member.user.id,
    }
    return portal_page(request, member, "portal/user_detail.html", context, section="users", status=status)


def _profile_values(user: User) -> dict[str, str]:
    claims = user.claims or {}
    values = {name: str(claims.get(name, "")) for name, _, _ in PROFILE_FIELDS}
    values.update({f"address_{part}": claims.get("address", {}).get(part, "") for part, _ in ADDRESS_FIELDS})
    values.update(name=user.name, email_verified="yes" if user.email_verified else "")
    values["phone_number_verified"] = "yes" if claims.get("phone_number_verified") else ""
    return values


def _posted_profile(form: FormData) -> dict[str, str]:
    values = {name: forms.text(form, name, 2100) for name, _, _ in PROFILE_FIELDS}
    values.update({f"address_{part}": forms.text(form, f"address_{part}", 600) for part, _ in ADDRESS_FIELDS})
    values.update(name=forms.text(form, "name", 400))
    values.update({flag: forms.text(form, flag, 10) for flag in ("email_verified", "phone_number_verified")})
    return values


def _refused(_session: Session, response: Response) -> bool:
    return response.status_code < 400


async def users_list(request: Request) -> Response:
    slug = request.path_params["tenant"]
    q = forms.query_text(request, "q")
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
        try:
            with refusals(member):
                user = manage.create_end_user(
                    session, member.tenant, member.actor, email=values["email"], password=password, name=values["name"]
                )
        except (Invalid, Conflict) as error:
            return _form_page(request, member, values, error.fields or {"email": [error.message]}, status=400)
        return redirect(f"/t/{slug}/portal/users/{user.id}?notice=created", 303)

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
        try:
            with refusals(member):
                revoked = manage.set_end_user_disabled(session, member.tenant, member.actor, user, disabled)
        except (Invalid, Conflict) as error:
            return _detail(request, session, member, user, status=400, error=error.message)
        if revoked is None:
            return redirect(f"/t/{slug}/portal/users/{user.id}?notice=unchanged", 303)
        return redirect(f"/t/{slug}/portal/users/{user.id}?notice={'disabled' if disabled else 'enabled'}", 303)

    return await in_transaction(request, work, keep=_refused)


async def user_disable(request: Request) -> Response:
    return await _toggle(request, True)


async def user_enable(request: Request) -> Response:
    return await _toggle(request, False)


async def user_sign_out(request: Request) -> Response:
    slug, user_id = request.path_params["tenant"], request.path_params["user_id"]
    form = await request.form()
    issuer = app_context(request).settings.issuer(slug)

    def work(session: Session) -> Response:
        member = require_member(
            session, request, resolve_tenant(session, slug), ADMIN, csrf=forms.text(form, "csrf_token")
        )
        user = _user(session, member, user_id)
        with refusals(member):
            manage.sign_out_everywhere(session, member.tenant, member.actor, user, issuer)
        return redirect(f"/t/{slug}/portal/users/{user.id}?notice=signed_out", 303)

    response = await in_transaction(request, work, keep=_refused)
    request.app.state.logout_wakeup.set()
    return response


async def user_profile(request: Request) -> Response:
    """The whole profile form at once: every claim is set to what the form holds (blank removes it)."""
    slug, user_id = request.path_params["tenant"], request.path_params["user_id"]
    form = await request.form()
    values = _posted_profile(form)
    claims: dict[str, object] = {name: values[name] for name, _, _ in PROFILE_FIELDS}
    claims["phone_number_verified"] = values["phone_number_verified"] == "yes"
    claims["address"] = {part: values[f"address_{part}"] for part, _ in ADDRESS_FIELDS}

    def work(session: Session) -> Response:
        member = require_member(
            session, request, resolve_tenant(session, slug), ADMIN, csrf=forms.text(form, "csrf_token")
        )
        user = _user(session, member, user_id)
        try:
            with refusals(member):
                manage.rename_end_user(session, member.tenant, member.actor, user, values["name"])
                manage.update_end_user_profile(
                    session,
                    member.tenant,
                    member.actor,
                    user,
                    claims=claims,
                    email_verified=values["email_verified"] == "yes",
                )
        except Invalid as error:
            field = next(iter(error.fields), "")
            errors = {field.replace(".", "_"): error.fields[field]} if field else {"profile": [error.message]}
            return _detail(request, session, member, user, errors=errors, status=400, profile_values=values)
        return redirect(f"/t/{slug}/portal/users/{user.id}?notice=profile#claims-title", 303)

    return await in_transaction(request, work, keep=_refused)


async def user_reset_password(request: Request) -> Response:
    slug, user_id = request.path_params["tenant"], request.path_params["user_id"]
    form = await request.form()
    password = forms.secret(form, "new_password")

    def work(session: Session) -> Response:
        member = require_member(
            session, request, resolve_tenant(session, slug), ADMIN, csrf=forms.text(form, "csrf_token")
        )
        user = _user(session, member, user_id)
        try:
            with refusals(member):
                manage.reset_end_user_password(session, member.tenant, member.actor, user, password)
        except Invalid as error:  # its field is "password"; the form's is "new_password"
            problems = error.fields.get("password") or [error.message]
            return _detail(request, session, member, user, errors={"new_password": problems}, status=400)
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
        with refusals(member):
            manage.guard(session, member.tenant, member.actor, user)
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
        confirmed = normalize_email(forms.text(form, "confirm_email", 400)) == user.email_normalized
        try:
            with refusals(member):
                if not confirmed:  # the rules come first (an admin may not even try an owner), then the typing
                    manage.guard(session, member.tenant, member.actor, user)
                    return _delete_page(request, member, user, "Type the user's email address exactly to confirm.", 400)
                manage.delete_end_user(session, member.tenant, member.actor, user)
        except (Invalid, Conflict) as error:
            return _delete_page(request, member, user, error.message, 400)
        return redirect(f"/t/{slug}/portal/users?deleted=1", 303)

    return await in_transaction(request, work, keep=_refused)


routes = [
    Route("/portal/users", users_list, methods=["GET"]),
    Route("/portal/users/new", user_new, methods=["GET"]),
    Route("/portal/users/new", user_create, methods=["POST"]),
    Route("/portal/users/{user_id}", user_detail, methods=["GET"]),
    Route("/portal/users/{user_id}/disable", user_disable, methods=["POST"]),
    Route("/portal/users/{user_id}/enable", user_enable, methods=["POST"]),
    Route("/portal/users/{user_id}/profile", user_profile, methods=["POST"]),
    Route("/portal/users/{user_id}/reset-password", user_reset_password, methods=["POST"]),
    Route("/portal/users/{user_id}/sign-out", user_sign_out, methods=["POST"]),
    Route("/portal/users/{user_id}/delete", user_delete_confirm, methods=["GET"]),
    Route("/portal/users/{user_id}/delete", user_delete, methods=["POST"]),
]
