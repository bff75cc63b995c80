"""The portal's side of the seed grants (password, implicit): the organisation allows them in its settings,
then opts each app in on the app's page, with a warning at each step; nothing is on by default."""

from __future__ import annotations

from tests.factories import PASSWORD, make_user
from tests.tenants.portal_helpers import create_app, portal_form, sign_up
from tests.tenants.test_portal_settings import VALID, save, tenant_row


def allow_legacy(http) -> None:
    saved = save(http, {**VALID, "allowed_grant_types": [*VALID["allowed_grant_types"], "password", "implicit"]})
    assert saved.status_code == 303, saved.text


def edit(http, client_id: str, page: str, **fields):
    data = {
        "csrf_token": portal_form(http, f"/t/globex/portal/apps/{client_id}"),
        "name": "Shop",
        "redirect_uris": "https://shop.example.com/cb",
        "scopes": ["openid", "profile", "email", "offline_access"],
        "refresh_token_grace": "0",
        **fields,
    }
    return http.post(f"/t/globex/portal/apps/{client_id}", data=data)


def test_nothing_is_offered_until_the_organisation_allows_it(http, ctx):
    sign_up(http)
    assert not {"password", "implicit"} & set(tenant_row(ctx).allowed_grant_types)
    settings = http.get("/t/globex/portal/settings").text
    assert 'value="password"' in settings and "legacy" in settings  # offered, unticked, with its warning
    assert 'value="password" checked' not in settings
    client_id, _secret, page = create_app(http, "globex")
    assert 'name="legacy_grants"' not in page
    # a hand-made form cannot opt an app in either: the organisation's settings refuse it
    refused = edit(http, client_id, page, legacy_grants=["password"])
    assert refused.status_code == 400 and "does not allow the password grant" in refused.text


def test_a_web_app_opted_into_the_password_grant_uses_it_and_says_so(http, ctx):
    sign_up(http)
    allow_legacy(http)
    client_id, secret, page = create_app(http, "globex")
    assert 'id="legacy-password"' in page and 'id="legacy-implicit"' in page and 'class="warning"' in page
    assert 'id="legacy-warning"' not in page  # not opted in yet
    saved = edit(http, client_id, page, legacy_grants=["password"])
    assert saved.status_code == 303, saved.text
    detail = http.get(f"/t/globex/portal/apps/{client_id}").text
    assert 'id="legacy-warning"' in detail and "resource owner password grant" in detail
    assert (
        'id="legacy-password" name="legacy_grants" value="password" aria-describedby="legacy-password-help" checked'
        in detail
    )
    make_user(ctx, tenant_row(ctx), email="carol@globex.test")
    token = http.post(
        "/t/globex/token",
        data={"grant_type": "password", "username": "carol@globex.test", "password": PASSWORD, "scope": "openid"},
        auth=(client_id, secret),
    )
    assert token.status_code == 200, token.text
    # turning it off again: the app keeps its code flow, loses the password grant
    assert edit(http, client_id, detail).status_code == 303
    again = http.post(
        "/t/globex/token",
        data={"grant_type": "password", "username": "carol@globex.test", "password": PASSWORD, "scope": "openid"},
        auth=(client_id, secret),
    )
    assert again.json()["error"] == "unauthorized_client"


def test_a_single_page_app_is_offered_implicit_but_never_the_password_grant(http):
    sign_up(http)
    allow_legacy(http)
    client_id, _secret, page = create_app(http, "globex", app_type="spa")
    assert 'id="legacy-implicit"' in page and 'id="legacy-password"' not in page
    refused = edit(http, client_id, page, legacy_grants=["password"])
    assert refused.status_code == 400 and "public client cannot use the password grant" in refused.text
    assert edit(http, client_id, page, legacy_grants=["implicit"]).status_code == 303


def test_the_organisation_cannot_withdraw_a_grant_an_app_still_uses(http):
    sign_up(http)
    allow_legacy(http)
    client_id, _secret, page = create_app(http, "globex")
    assert edit(http, client_id, page, legacy_grants=["implicit"]).status_code == 303
    refused = save(http, VALID)
    assert refused.status_code == 400 and "implicit is still used by: Shop" in refused.text
