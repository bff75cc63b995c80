"""Standard claims (OIDC Core §5.1, §5.4): set in the management API and the portal, checked the same way in
both, released by scope at userinfo and in the ID token, audited, and advertised in discovery."""

from __future__ import annotations

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from identity.models.user import User
from identity.profile import ProfileError, applied, checked_changes
from tests.api.helpers import ALL_TENANT_SCOPES, audit_rows, bearer, management_token
from tests.factories import inspect_db, make_client, make_tenant, make_user
from tests.flow import exchange, sign_in
from tests.tenants.portal_helpers import csrf, sign_up, tenant_of

ALICE = {
    "given_name": "Alice",
    "family_name": "Liddell",
    "nickname": "Al",
    "preferred_username": "alice",
    "picture": "https://cdn.example.com/alice.png",
    "birthdate": "0000-05-04",
    "zoneinfo": "Europe/London",
    "locale": "en-GB",
    "phone_number": "+44 20 7946 0958",
    "phone_number_verified": True,
    "address": {"street_address": "1 Rabbit Hole\nWonderland", "locality": "Oxford", "country": "GB"},
}


@pytest.fixture
def acme(ctx):
    return make_tenant(ctx)


@pytest.fixture
def alice(ctx, acme):
    return make_user(ctx, acme, name="Alice Liddell")


@pytest.fixture
def api(http, ctx, acme):
    token = management_token(http, ctx, acme, ALL_TENANT_SCOPES)
    return bearer(token)


def patch(http, api, user_id: str, body: dict):  # type: ignore[no-untyped-def]
    return http.patch(f"/t/acme/api/users/{user_id}", json=body, headers=api)


def tokens_for(http, ctx, acme, scope: str) -> dict:
    app = make_client(ctx, acme, scopes=["openid", "profile", "email", "address", "phone", "offline_access"])
    result = sign_in(http, "acme", app.client_id, scope=scope)
    tokens = exchange(http, "acme", app.client_id, app.client_secret, result["code"], result["_verifier"])
    assert tokens["status"] == 200, tokens
    return tokens


def id_token_claims(http, token: str) -> dict:
    keys = KeySet.import_key_set(http.get("/t/acme/.well-known/jwks.json").json())
    return jwt.decode(token, keys).claims


def test_the_api_sets_the_claims_and_userinfo_releases_them_by_scope(http, ctx, acme, alice, api):
    changed = patch(http, api, alice.id, {"claims": ALICE, "email_verified": True})
    assert changed.status_code == 200, changed.text
    view = changed.json()
    assert view["claims"]["phone_number"] == "+442079460958"  # spaces dropped: E.164
    assert view["claims"]["address"]["street_address"] == "1 Rabbit Hole\nWonderland"
    assert view["email_verified"] is True

    everything = tokens_for(http, ctx, acme, "openid profile email address phone")
    userinfo = http.get("/t/acme/userinfo", headers=bearer(everything["access_token"])).json()
    assert userinfo["given_name"] == "Alice" and userinfo["family_name"] == "Liddell"
    assert userinfo["zoneinfo"] == "Europe/London" and userinfo["birthdate"] == "0000-05-04"
    assert userinfo["name"] == "Alice Liddell" and isinstance(userinfo["updated_at"], int)
    assert userinfo["email_verified"] is True
    assert userinfo["address"] == {"street_address": "1 Rabbit Hole\nWonderland", "locality": "Oxford", "country": "GB"}
    assert userinfo["phone_number"] == "+442079460958" and userinfo["phone_number_verified"] is True

    http.cookies.clear()
    only_openid = tokens_for(http, ctx, acme, "openid email")
    narrow = http.get("/t/acme/userinfo", headers=bearer(only_openid["access_token"])).json()
    assert set(narrow) == {"sub", "email", "email_verified"}


def test_the_id_token_carries_the_claims_of_its_scopes(http, ctx, acme, alice, api):
    assert patch(http, api, alice.id, {"claims": {"given_name": "Alice", "locale": "en-GB"}}).status_code == 200
    claims = id_token_claims(http, tokens_for(http, ctx, acme, "openid profile")["id_token"])
    assert claims["given_name"] == "Alice" and claims["locale"] == "en-GB"
    assert "address" not in claims and "phone_number" not in claims


@pytest.mark.parametrize(
    ("claims", "field"),
    [
        ({"zoneinfo": "Mars/Olympus_Mons"}, "zoneinfo"),
        ({"phone_number": "020 7946 0958"}, "phone_number"),
        ({"picture": "http://cdn.example.com/a.png"}, "picture"),
        ({"website": "javascript:alert(1)"}, "website"),
        ({"birthdate": "1990-13-01"}, "birthdate"),
        ({"birthdate": "0000"}, "birthdate"),
        ({"locale": "not a locale"}, "locale"),
        ({"given_name": "Al\x07ice"}, "given_name"),
        ({"address": {"locality": "Ox\nford"}}, "address.locality"),
    ],
)
def test_bad_values_are_refused_with_the_field_named(http, ctx, acme, alice, api, claims, field):
    refused = patch(http, api, alice.id, {"claims": claims})
    assert refused.status_code in (400, 422), refused.text
    problem = refused.json()
    assert problem["type"] and field.split(".")[-1] in str(problem)
    with inspect_db(ctx) as session:
        assert session.get(User, (acme.id, alice.id)).claims == {}


def test_unknown_claims_and_parts_are_refused_by_the_contract(http, acme, alice, api):
    assert patch(http, api, alice.id, {"claims": {"sub": "someone-else"}}).status_code == 422
    assert patch(http, api, alice.id, {"claims": {"address": {"planet": "Earth"}}}).status_code == 422
    assert patch(http, api, alice.id, {"claims": {"phone_number_verified": "yes"}}).status_code == 422


def test_a_new_phone_number_is_no_longer_verified_and_blank_removes_a_claim(http, ctx, acme, alice, api):
    patch(http, api, alice.id, {"claims": {"phone_number": "+14155552671", "phone_number_verified": True}})
    moved = patch(http, api, alice.id, {"claims": {"phone_number": "+14155550000"}}).json()["claims"]
    assert moved == {"phone_number": "+14155550000"}
    cleared = patch(http, api, alice.id, {"claims": {"phone_number": ""}}).json()["claims"]
    assert cleared == {}


def test_each_change_is_one_audit_event_naming_the_claims(http, ctx, acme, alice, api):
    before = alice.updated_at
    patch(http, api, alice.id, {"claims": {"given_name": "Alice", "nickname": "Al"}})
    patch(http, api, alice.id, {"claims": {"given_name": "Alice"}})  # no change: no event
    (event,) = audit_rows(ctx, acme.id, "user.profile_updated")
    assert event.target == alice.id and event.details["claims_changed"] == ["given_name", "nickname"]
    with inspect_db(ctx) as session:
        assert session.get(User, (acme.id, alice.id)).updated_at >= before


def test_discovery_advertises_the_scopes_and_claims(http, acme):
    document = http.get("/t/acme/.well-known/openid-configuration").json()
    assert {"address", "phone"} <= set(document["scopes_supported"])
    assert {"given_name", "birthdate", "address", "phone_number", "phone_number_verified"} <= set(
        document["claims_supported"]
    )


def test_the_rules_normalize_and_remove():
    changes = checked_changes({"given_name": "  Alice ", "address": {"formatted": "a\r\nb", "region": ""}})
    assert changes == {"given_name": "Alice", "address": {"formatted": "a\nb"}}
    assert applied({"nickname": "Al"}, {"nickname": ""}) == {}
    assert applied({}, {"phone_number_verified": True}) == {}  # no number, nothing verified
    with pytest.raises(ProfileError) as refused:
        checked_changes({"email": "x@example.com"})
    assert refused.value.field == "email"


# -- the portal ---------------------------------------------------------------------------------------


def test_the_portal_edits_the_profile_and_keeps_what_was_typed_on_an_error(http, ctx):
    sign_up(http)
    tenant = tenant_of(ctx, "globex")
    user = make_user(ctx, tenant, email="bob@example.com", name="Bob")
    page = http.get(f"/t/globex/portal/users/{user.id}")
    assert page.status_code == 200 and 'id="claims-title"' in page.text
    form = {
        "csrf_token": csrf(page.text),
        "name": "Bob Builder",
        "given_name": "Bob",
        "zoneinfo": "Nowhere/Land",
        "address_locality": "Springfield",
        "email_verified": "yes",
    }
    refused = http.post(f"/t/globex/portal/users/{user.id}/profile", data=form)
    assert refused.status_code == 400
    assert "IANA" in refused.text and 'value="Springfield"' in refused.text and 'value="Bob"' in refused.text

    saved = http.post(f"/t/globex/portal/users/{user.id}/profile", data={**form, "zoneinfo": "America/Chicago"})
    assert saved.status_code == 303
    with inspect_db(ctx) as session:
        stored = session.get(User, (tenant.id, user.id))
        assert stored.name == "Bob Builder" and stored.email_verified is True
        assert stored.claims == {
            "given_name": "Bob",
            "zoneinfo": "America/Chicago",
            "address": {"locality": "Springfield"},
        }
    shown = http.get(saved.headers["location"].split("#")[0])
    assert "Profile saved" in shown.text and 'value="America/Chicago"' in shown.text


def test_the_portal_profile_form_needs_its_csrf_token(http, ctx):
    sign_up(http)
    user = make_user(ctx, tenant_of(ctx, "globex"), email="bob@example.com")
    refused = http.post(f"/t/globex/portal/users/{user.id}/profile", data={"given_name": "Mallory"})
    assert refused.status_code in (400, 403)
    with inspect_db(ctx) as session:
        assert session.get(User, (tenant_of(ctx, "globex").id, user.id)).claims == {}
