"""The portal's applications with private_key_jwt: registering an app's public keys through the form (a
JWK Set, or a JWKS URL), each refusal shown at its field, and the app then authenticating with assertions."""

from __future__ import annotations

import html as html_lib
import json
import re

from sqlmodel import select

from identity.models.client import Client
from tests.assertions import assertion, form, new_key, public_jwks
from tests.factories import inspect_db, make_scope
from tests.tenants.portal_helpers import create_app, portal_form, sign_up, tenant_of

ISSUER = "http://127.0.0.1:8000/t/globex"


def m2m_fields(**fields: str) -> dict:
    return {
        "app_type": "m2m",
        "name": "Reports service",
        "redirect_uris": "",
        "scopes": ["read:reports"],
        "token_endpoint_auth_method": "private_key_jwt",
        **fields,
    }


def field_errors(html: str, name: str) -> list[str]:
    block = re.search(rf'<ul class="field-errors" id="{name}-errors">(.*?)</ul>', html, re.S)
    return (
        [
            html_lib.unescape(re.sub(r"\s+", " ", item).strip())
            for item in re.findall(r"<li>(.*?)</li>", block.group(1), re.S)
        ]
        if block
        else []
    )


def test_an_app_registered_with_a_jwks_authenticates_with_assertions(http, ctx):
    sign_up(http)
    make_scope(ctx, tenant_of(ctx), "read:reports", "Read reports")
    key = new_key("ES256", kid="svc")
    client_id, secret, page = create_app(http, "globex", **m2m_fields(jwks=json.dumps(public_jwks(key))))
    assert secret is None and "Copy the client secret now" not in page
    assert "it signs a client assertion with one of its registered keys (private_key_jwt)" in page
    assert "client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer" in page  # quick start
    assert "Rotate secret" not in page
    assert 'id="auth-private_key_jwt" name="token_endpoint_auth_method" value="private_key_jwt" checked' in page
    with inspect_db(ctx) as session:
        row = session.exec(select(Client).where(Client.id == client_id)).one()
    assert (row.token_endpoint_auth_method, row.jwks, row.secret_hash) == ("private_key_jwt", public_jwks(key), None)
    signed = assertion(key, client_id, f"{ISSUER}/token", alg="ES256")
    token = http.post("/t/globex/token", data=form(signed, grant_type="client_credentials"))
    assert token.status_code == 200 and token.json()["scope"] == "read:reports", token.text


def test_refusals_are_shown_at_their_field_and_nothing_is_created(http, ctx):
    sign_up(http)
    make_scope(ctx, tenant_of(ctx), "read:reports", "Read reports")
    key = new_key("RS256")
    token = portal_form(http, "/t/globex/portal/apps/new")
    cases = [
        (
            {"jwks": json.dumps({"keys": [key.as_dict(private=True)]})},
            "jwks",
            "the JWK Set key 1 contains private key material: register the public key only",
        ),
        ({"jwks": "{not json"}, "jwks", "the JWK Set is not valid JSON"),
        (
            {"jwks": json.dumps({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]})},
            "jwks",
            "the JWK Set key 1 has an unsupported kty (RSA, EC or OKP)",
        ),
        (
            {"jwks": json.dumps({"keys": [public_jwks(key)["keys"][0]], "pad": "x" * 17000})},
            "jwks",
            "the JWK Set is too large (16384 bytes at most)",
        ),
        ({}, "jwks", "private_key_jwt needs the client's public keys: a JWK Set (jwks) or a jwks_uri"),
        (
            {"jwks_uri": "http://keys.example.com/jwks"},
            "jwks_uri",
            "the jwks_uri must be an https URL (or http on a loopback address)",
        ),
    ]
    for extra, name, message in cases:
        response = http.post("/t/globex/portal/apps/new", data={"csrf_token": token, **m2m_fields(**extra)})
        assert response.status_code == 400, response.text[-1500:]
        assert field_errors(response.text, name) == [message], (extra, field_errors(response.text, name))
        assert (
            f'aria-describedby="{name}-help {name}-errors"' in response.text
            or f'aria-describedby="{name}-errors"' in response.text
        )
    # What was typed comes back as typed, so it can be corrected.
    assert (
        "{not json"
        in http.post("/t/globex/portal/apps/new", data={"csrf_token": token, **m2m_fields(jwks="{not json")}).text
    )
    with inspect_db(ctx) as session:
        assert [c.name for c in session.exec(select(Client)).all()] == ["Developer portal"]


def test_a_web_app_moves_to_a_jwks_uri_and_its_secret_stops_working(http, ctx):
    sign_up(http)
    client_id, secret, _ = create_app(http, "globex")
    assert secret
    token = portal_form(http, f"/t/globex/portal/apps/{client_id}")
    saved = http.post(
        f"/t/globex/portal/apps/{client_id}",
        data={
            "csrf_token": token,
            "name": "Shop",
            "redirect_uris": "https://shop.example.com/cb",
            "scopes": ["openid", "profile"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": "https://keys.shop.example.com/jwks.json",
        },
    )
    assert saved.status_code == 303, saved.text[-1500:]
    page = http.get(saved.headers["location"]).text
    assert 'value="https://keys.shop.example.com/jwks.json"' in page and "Rotate secret" not in page
    with inspect_db(ctx) as session:
        row = session.exec(select(Client).where(Client.id == client_id)).one()
    assert (row.token_endpoint_auth_method, row.jwks_uri, row.jwks, row.secret_hash) == (
        "private_key_jwt",
        "https://keys.shop.example.com/jwks.json",
        None,
        None,
    )
    refused = http.post("/t/globex/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
