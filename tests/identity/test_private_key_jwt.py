"""private_key_jwt client authentication (OIDC Core §9, RFC 7523): a client registered with its public keys
(``jwks``, or a ``jwks_uri`` served by a real local HTTP server) signs an assertion instead of sending a
secret, at the token endpoint (client_credentials and the code exchange), introspection, revocation and PAR.
Each refusal is 401 ``invalid_client`` with the rule it broke; what is stored is the assertion's jti, hashed."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from joserfc import jws
from joserfc.jwk import OctKey
from sqlmodel import select

from identity import outbound
from identity.clients import ClientError, ClientSpec, rotate_secret, update_client
from identity.crypto import sha256_hex
from identity.db import session_scope
from identity.models.client import Client, ClientAssertionJti
from identity.remote_jwks import RemoteJwks
from tests.assertions import assertion, form, new_key, public_jwks, serving
from tests.factories import inspect_db, make_client, make_scope, make_tenant, make_user
from tests.flow import REDIRECT_URI, sign_in

ISSUER = "http://127.0.0.1:8000/t/acme"
TOKEN_URL = f"{ISSUER}/token"


@pytest.fixture
def tenant(ctx):  # type: ignore[no-untyped-def]
    tenant = make_tenant(ctx)
    make_user(ctx, tenant)
    make_scope(ctx, tenant, "read:reports", "Read reports")
    return tenant


@pytest.fixture
def key():  # type: ignore[no-untyped-def]
    return new_key("RS256", kid="k1")


def keyed_client(ctx, tenant, key=None, *, jwks_uri: str = "", **metadata: Any):  # type: ignore[no-untyped-def]
    keys = {"jwks_uri": jwks_uri} if jwks_uri else {"jwks": public_jwks(key)}
    metadata.setdefault("grant_types", ["client_credentials"])
    metadata.setdefault("scopes", ["read:reports"])
    metadata.setdefault("redirect_uris", [])
    return make_client(ctx, tenant, token_endpoint_auth_method="private_key_jwt", **keys, **metadata)


@pytest.fixture
def m2m(ctx, tenant, key):  # type: ignore[no-untyped-def]
    return keyed_client(ctx, tenant, key)


def client_credentials(http, signed: str, **extra: str):  # type: ignore[no-untyped-def]
    response = http.post("/t/acme/token", data=form(signed, grant_type="client_credentials", **extra))
    assert response.headers["cache-control"] == "no-store"
    return response


def refused(response, description: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 401, response.text
    assert response.json() == {"error": "invalid_client", "error_description": description}


# -- the happy paths ---------------------------------------------------------------------------------------


def test_client_credentials_with_a_registered_jwks(http, ctx, m2m, key):
    signed = assertion(key, m2m.client_id, TOKEN_URL)
    response = client_credentials(http, signed)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["scope"] == "read:reports" and "refresh_token" not in body
    # The client has no secret at all, and the assertion's jti is kept only as its SHA-256.
    jti = json.loads(jws.extract_compact(signed.encode()).payload)["jti"]
    with inspect_db(ctx) as session:
        assert session.get(Client, (m2m.client.tenant_id, m2m.client_id)).secret_hash is None
        rows = session.exec(select(ClientAssertionJti)).all()
    assert m2m.client_secret is None
    assert [(r.client_id, r.jti_hash) for r in rows] == [(m2m.client_id, sha256_hex(jti))]


@pytest.mark.filterwarnings("ignore:EdDSA is deprecated via RFC 9864")
@pytest.mark.parametrize("alg", ["PS256", "ES256", "EdDSA"])
def test_every_advertised_algorithm_verifies(http, ctx, tenant, alg):
    key = new_key(alg)  # no kid: a set of one key needs none
    client = keyed_client(ctx, tenant, key)
    response = client_credentials(http, assertion(key, client.client_id, ISSUER, alg=alg))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("audience", [ISSUER, TOKEN_URL, ["https://elsewhere.example", ISSUER]])
def test_the_issuer_and_the_token_endpoint_are_both_accepted_as_audience(http, m2m, key, audience):
    assert client_credentials(http, assertion(key, m2m.client_id, audience)).status_code == 200


def test_code_flow_exchange_with_an_assertion(http, ctx, tenant, key):
    web = keyed_client(
        ctx,
        tenant,
        key,
        grant_types=["authorization_code", "refresh_token"],
        scopes=["openid", "profile", "offline_access"],
        redirect_uris=[REDIRECT_URI],
    )
    result = sign_in(http, "acme", web.client_id, scope="openid profile offline_access")
    data = {
        "grant_type": "authorization_code",
        "code": result["code"],
        "redirect_uri": REDIRECT_URI,
        "code_verifier": result["_verifier"],
    }
    tokens = http.post("/t/acme/token", data=form(assertion(key, web.client_id, TOKEN_URL), **data))
    assert tokens.status_code == 200, tokens.text
    assert {"access_token", "id_token", "refresh_token"} <= set(tokens.json())
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens.json()["refresh_token"]}
    again = http.post("/t/acme/token", data=form(assertion(key, web.client_id, TOKEN_URL), **refresh))
    assert again.status_code == 200, again.text
    # Without the assertion the client cannot redeem anything: it has no secret and is not public.
    bare = http.post("/t/acme/token", data={**refresh, "client_id": web.client_id})
    assert bare.status_code == 401 and bare.json()["error"] == "invalid_client"


def test_introspection_revocation_and_par_take_assertions(http, ctx, tenant, key):
    web = keyed_client(
        ctx,
        tenant,
        key,
        grant_types=["authorization_code", "client_credentials"],
        scopes=["openid", "read:reports"],
        redirect_uris=[REDIRECT_URI],
    )
    token = client_credentials(http, assertion(key, web.client_id, ISSUER), scope="read:reports").json()
    introspected = http.post(
        "/t/acme/introspect",
        data=form(assertion(key, web.client_id, f"{ISSUER}/introspect"), token=token["access_token"]),
    )
    assert introspected.status_code == 200 and introspected.json()["active"] is True, introspected.text
    revoked = http.post("/t/acme/revoke", data=form(assertion(key, web.client_id, ISSUER), token=token["access_token"]))
    assert revoked.status_code == 200, revoked.text
    after = http.post(
        "/t/acme/introspect", data=form(assertion(key, web.client_id, ISSUER), token=token["access_token"])
    )
    assert after.json() == {"active": False}
    pushed = http.post(
        "/t/acme/par",
        data=form(
            assertion(key, web.client_id, ISSUER),
            response_type="code",
            redirect_uri=REDIRECT_URI,
            scope="openid",
            code_challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            code_challenge_method="S256",
        ),
    )
    assert pushed.status_code == 201, pushed.text
    # A bad assertion at these endpoints is the same 401 invalid_client.
    stale = assertion(key, web.client_id, ISSUER, exp=int(time.time()) - 120)
    for path in ("/t/acme/introspect", "/t/acme/revoke", "/t/acme/par"):
        refused(http.post(path, data=form(stale, token="x")), "The assertion has expired.")


# -- refusals -----------------------------------------------------------------------------------------------


def test_a_signature_by_another_key_is_refused(http, m2m):
    impostor = new_key("RS256", kid="k1")  # same kid, another key
    refused(
        client_credentials(http, assertion(impostor, m2m.client_id, TOKEN_URL)),
        "The assertion's signature does not verify with the client's keys.",
    )


def test_issuer_and_subject_must_be_the_client(http, ctx, tenant, m2m, key):
    other = keyed_client(ctx, tenant, key, name="Other")
    message = "The assertion's iss and sub must both be the client_id."
    refused(client_credentials(http, assertion(key, m2m.client_id, TOKEN_URL, iss=other.client_id)), message)
    refused(client_credentials(http, assertion(key, m2m.client_id, TOKEN_URL, sub=None)), message)
    refused(
        client_credentials(http, assertion(key, m2m.client_id, TOKEN_URL), client_id=other.client_id),
        "The client_id is not the assertion's subject.",
    )
    refused(client_credentials(http, assertion(key, "no-such-client", TOKEN_URL)), "Client authentication failed.")


def test_another_audience_is_refused(http, m2m, key):
    for audience in ("https://elsewhere.example/token", "http://127.0.0.1:8000/t/other", [f"{ISSUER}/"]):
        refused(
            client_credentials(http, assertion(key, m2m.client_id, audience)),
            "The assertion's aud is not this issuer or its token endpoint.",
        )
    refused(
        client_credentials(http, assertion(key, m2m.client_id, TOKEN_URL, aud=None)),
        "The assertion lacks the aud claim.",
    )


def test_lifetime_rules(http, m2m, key):
    t = int(time.time())
    cid = m2m.client_id
    refused(client_credentials(http, assertion(key, cid, TOKEN_URL, exp=t - 31)), "The assertion has expired.")
    refused(client_credentials(http, assertion(key, cid, TOKEN_URL, exp=None)), "The assertion lacks the exp claim.")
    refused(
        client_credentials(http, assertion(key, cid, TOKEN_URL, exp=t + 3600 + 120)),
        "The assertion's exp is too far ahead (at most 3600 seconds).",
    )
    refused(
        client_credentials(http, assertion(key, cid, TOKEN_URL, nbf=t + 120)), "The assertion's nbf claim is invalid."
    )
    refused(
        client_credentials(http, assertion(key, cid, TOKEN_URL, iat=t + 120)), "The assertion's iat claim is invalid."
    )
    # Within the leeway (30 s) of clock skew, both ways, it passes.
    assert client_credentials(http, assertion(key, cid, TOKEN_URL, exp=t - 5, iat=t - 60)).status_code == 200
    assert client_credentials(http, assertion(key, cid, TOKEN_URL, nbf=t + 10, iat=t + 10)).status_code == 200
    assert client_credentials(http, assertion(key, cid, TOKEN_URL, lifetime=3600)).status_code == 200  # Authlib's


def test_jti_is_required_and_single_use(http, ctx, m2m, key):
    refused(
        client_credentials(http, assertion(key, m2m.client_id, TOKEN_URL, jti=None)),
        "The assertion lacks the jti claim.",
    )
    signed = assertion(key, m2m.client_id, TOKEN_URL)
    assert client_credentials(http, signed).status_code == 200
    refused(client_credentials(http, signed), "The assertion was already used (its jti is spent).")
    # Spent even when the request it came with failed: an assertion is single use, whatever follows.
    spent = assertion(key, m2m.client_id, TOKEN_URL)
    wrong_scope = client_credentials(http, spent, scope="openid")
    assert wrong_scope.status_code == 400 and wrong_scope.json()["error"] == "invalid_scope"
    refused(client_credentials(http, spent), "The assertion was already used (its jti is spent).")


def test_the_same_jti_is_separate_per_client(http, ctx, tenant, m2m, key):
    other_key = new_key("ES256")
    other = keyed_client(ctx, tenant, other_key, name="Other")
    first = assertion(key, m2m.client_id, TOKEN_URL, jti="shared-id")
    second = assertion(other_key, other.client_id, TOKEN_URL, alg="ES256", jti="shared-id")
    assert client_credentials(http, first).status_code == 200
    assert client_credentials(http, second).status_code == 200


@pytest.mark.parametrize("alg", ["none", "HS256"])
def test_none_and_symmetric_algorithms_are_refused(http, m2m, alg):
    if alg == "none":
        import base64  # noqa: PLC0415

        def part(value: dict[str, Any]) -> str:
            return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

        t = int(time.time())
        claims = {"iss": m2m.client_id, "sub": m2m.client_id, "aud": TOKEN_URL, "exp": t + 60, "jti": "j-none"}
        signed = f"{part({'alg': 'none'})}.{part(claims)}."
    else:
        signed = assertion(OctKey.generate_key(256), m2m.client_id, TOKEN_URL, alg="HS256")
    refused(client_credentials(http, signed), "The assertion must be signed with one of RS256, PS256, ES256, EdDSA.")


def test_malformed_assertions_are_refused(http, m2m):
    refused(client_credentials(http, "not-a-jwt"), "The client_assertion is not a signed JWT.")
    wrong_type = {
        "client_assertion_type": "urn:example:other",
        "client_assertion": "x",
        "grant_type": "client_credentials",
    }
    refused(
        http.post("/t/acme/token", data=wrong_type),
        "private_key_jwt takes client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer "
        "and a client_assertion.",
    )
    refused(client_credentials(http, "a" * 9000), "The client_assertion is too large.")


def test_a_private_key_jwt_client_cannot_use_a_secret_and_a_secret_client_cannot_use_an_assertion(
    http, ctx, tenant, m2m, key
):
    for auth, data in (((m2m.client_id, "anything"), {}), (None, {"client_id": m2m.client_id, "client_secret": "x"})):
        response = http.post("/t/acme/token", data={"grant_type": "client_credentials", **data}, auth=auth)
        assert response.status_code == 401 and response.json()["error"] == "invalid_client", response.text
    secret_client = make_client(ctx, tenant, name="Secret", grant_types=["client_credentials"], redirect_uris=[])
    refused(
        client_credentials(http, assertion(key, secret_client.client_id, TOKEN_URL)),
        "This client is not registered for private_key_jwt.",
    )
    ok = http.post(
        "/t/acme/token",
        data={"grant_type": "client_credentials"},
        auth=(secret_client.client_id, secret_client.client_secret),
    )
    assert ok.status_code == 200  # (its secret still works, by either secret method)


def test_one_authentication_method_per_request(http, ctx, tenant, m2m, key):
    """RFC 6749 §2.3: a secret and an assertion together are invalid_request, whichever would have worked."""
    secret_client = make_client(ctx, tenant, name="Secret", grant_types=["client_credentials"], redirect_uris=[])
    both = http.post(
        "/t/acme/token",
        data=form(assertion(key, m2m.client_id, TOKEN_URL), grant_type="client_credentials"),
        auth=(secret_client.client_id, secret_client.client_secret),
    )
    assert both.status_code == 400 and both.json() == {
        "error": "invalid_request",
        "error_description": "The request uses more than one client authentication method.",
    }
    also = http.post(
        "/t/acme/token",
        data={"grant_type": "client_credentials", "client_secret": secret_client.client_secret},
        auth=(secret_client.client_id, secret_client.client_secret),
    )
    assert also.status_code == 400 and also.json()["error"] == "invalid_request"


def test_with_the_in_process_cache_on_an_assertion_is_still_single_use(database_url, key):
    """The fast lane answers client_credentials from memory; a request with an assertion is never one of
    those (its jti is claimed in the database), whatever is cached."""
    from starlette.testclient import TestClient  # noqa: PLC0415

    from identity.app import create_app  # noqa: PLC0415
    from tests.conftest import PUBLIC_URL, make_settings  # noqa: PLC0415

    application = create_app(make_settings(database_url, cache_seconds=30))
    cached_ctx = application.state.ctx
    tenant = make_tenant(cached_ctx)
    make_scope(cached_ctx, tenant, "read:reports", "Read reports")
    app = keyed_client(cached_ctx, tenant, key)
    with TestClient(application, base_url=PUBLIC_URL) as client:
        for _ in range(2):  # warm: the tenant, the client and the keys in memory
            assert client_credentials(client, assertion(key, app.client_id, TOKEN_URL)).status_code == 200
        signed = assertion(key, app.client_id, TOKEN_URL)
        assert client_credentials(client, signed, client_id=app.client_id).status_code == 200
        refused(
            client_credentials(client, signed, client_id=app.client_id),
            "The assertion was already used (its jti is spent).",
        )
    application.state.ctx.engine.dispose()


# -- jwks_uri ---------------------------------------------------------------------------------------------


def test_jwks_uri_is_fetched_cached_and_refetched_for_an_unknown_kid(http, ctx, tenant, key):
    ctx.remote_jwks.refetch_min = 0  # (production waits REFETCH_MIN_SECONDS between forced refetches)
    with serving(public_jwks(key)) as jwks:
        client = keyed_client(ctx, tenant, jwks_uri=jwks.url)
        assert client_credentials(http, assertion(key, client.client_id, TOKEN_URL)).status_code == 200
        assert client_credentials(http, assertion(key, client.client_id, TOKEN_URL)).status_code == 200
        assert jwks.requests == 1  # cached
        rotated = new_key("ES256", kid="k2")
        jwks.document = public_jwks(key, rotated)
        signed = assertion(rotated, client.client_id, TOKEN_URL, alg="ES256")
        assert client_credentials(http, signed).status_code == 200, "the new kid made us fetch again"
        assert jwks.requests == 2
        stranger = new_key("RS256", kid="k3")
        refused(
            client_credentials(http, assertion(stranger, client.client_id, TOKEN_URL)),
            "No key of the client matches the assertion's kid and alg.",
        )
        assert jwks.requests == 3  # refetched once, then refused


def test_unknown_kid_refetches_are_rate_limited(http, ctx, tenant, key):
    with serving(public_jwks(key)) as jwks:
        client = keyed_client(ctx, tenant, jwks_uri=jwks.url)
        assert client_credentials(http, assertion(key, client.client_id, TOKEN_URL)).status_code == 200
        for kid in ("x1", "x2", "x3"):
            refused(
                client_credentials(http, assertion(new_key("RS256", kid=kid), client.client_id, TOKEN_URL)),
                "No key of the client matches the assertion's kid and alg.",
            )
        assert jwks.requests == 1  # unknown kids cannot make the provider hammer the client's server


def test_a_slow_jwks_uri_is_abandoned(http, ctx, tenant, key):
    ctx.remote_jwks.timeout = 1.0
    with serving(public_jwks(key)) as jwks:
        jwks.delay = 3.0
        client = keyed_client(ctx, tenant, jwks_uri=jwks.url)
        started = time.monotonic()
        response = client_credentials(http, assertion(key, client.client_id, TOKEN_URL))
        assert time.monotonic() - started < 2.5
        refused(response, "The client's jwks_uri did not answer in time.")


def test_a_jwks_uri_that_trickles_is_cut_off_at_the_deadline(http, ctx, tenant, key):
    ctx.remote_jwks.timeout = 1.0
    with serving(public_jwks(key)) as jwks:
        jwks.padding, jwks.chunk_delay = 40_000, 0.4  # each chunk in time, the whole body not
        client = keyed_client(ctx, tenant, jwks_uri=jwks.url)
        started = time.monotonic()
        response = client_credentials(http, assertion(key, client.client_id, TOKEN_URL))
        assert time.monotonic() - started < 2.0
        refused(response, "The client's jwks_uri did not answer in time.")


def test_a_too_large_jwks_document_is_not_read_past_its_limit(http, ctx, tenant, key):
    with serving(public_jwks(key)) as jwks:
        jwks.padding = 200_000
        client = keyed_client(ctx, tenant, jwks_uri=jwks.url)
        refused(
            client_credentials(http, assertion(key, client.client_id, TOKEN_URL)),
            "The client's jwks_uri document is too large (65536 bytes at most).",
        )


def test_a_jwks_uri_serving_private_keys_is_refused(http, ctx, tenant, key):
    with serving({"keys": [key.as_dict(private=True)]}) as jwks:
        client = keyed_client(ctx, tenant, jwks_uri=jwks.url)
        refused(
            client_credentials(http, assertion(key, client.client_id, TOKEN_URL)),
            "The client's jwks_uri document key 1 contains private key material: register the public key only.",
        )


def test_in_prod_a_jwks_uri_on_a_private_address_is_never_fetched(http, ctx, tenant, key):
    ctx.remote_jwks = RemoteJwks(prod=True)  # what create_app builds with IDENTITY_ENV=prod
    with serving(public_jwks(key)) as jwks:
        for uri in (jwks.url, jwks.url.replace("http://", "https://")):
            client = keyed_client(ctx, tenant, jwks_uri=uri)
            response = client_credentials(http, assertion(key, client.client_id, TOKEN_URL))
            assert response.status_code == 401
            assert response.json()["error_description"].startswith("The client's jwks_uri cannot be fetched: ")
        assert jwks.requests == 0


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("https://127.0.0.1/jwks", "the host resolves to a private or loopback address"),
        ("https://10.1.2.3/jwks", "the host resolves to a private or loopback address"),
        ("https://169.254.169.254/latest", "the host resolves to a private or loopback address"),
        ("https://[::1]/jwks", "the host resolves to a private or loopback address"),
        ("https://[fd00::1]/jwks", "the host resolves to a private or loopback address"),
        ("https://100.64.0.1/jwks", "the host resolves to a private or loopback address"),
        ("https://localhost/jwks", "the host resolves to a private or loopback address"),
        ("http://93.184.215.14/jwks", "https is required"),
        ("https://8.8.8.8/jwks", None),
    ],
)
def test_the_shared_outbound_address_check(uri, problem):
    assert outbound.address_problem(uri, prod=True) == problem
    assert outbound.address_problem(uri, prod=False) is None  # dev: tests serve from loopback


def test_in_prod_the_connection_goes_to_the_address_that_was_checked():
    """The URL names the checked address; Host and SNI keep the name (the certificate is verified for it)."""
    target = outbound.checked_target("https://8.8.8.8:8443/keys?x=1", prod=True)
    assert target.url == "https://8.8.8.8:8443/keys?x=1"
    assert target.headers == {"Host": "8.8.8.8:8443"} and target.extensions == {"sni_hostname": "8.8.8.8"}
    v6 = outbound.checked_target("https://[2001:4860:4860::8888]/jwks", prod=True)
    assert v6.url == "https://[2001:4860:4860::8888]:443/jwks" and v6.headers == {"Host": "[2001:4860:4860::8888]"}
    assert outbound.checked_target("http://127.0.0.1:9/jwks", prod=False).url == "http://127.0.0.1:9/jwks"


# -- registration -------------------------------------------------------------------------------------------


def spec(**overrides: Any) -> ClientSpec:
    values: dict[str, Any] = {
        "name": "Service",
        "redirect_uris": [],
        "grant_types": ["client_credentials"],
        "scopes": [],
        "token_endpoint_auth_method": "private_key_jwt",
    }
    values.update(overrides)
    return ClientSpec(**values)


def problems(item: ClientSpec, *, dev: bool = False) -> dict[str, list[str]]:
    return item.problems({}, dev=dev)


def test_registration_rules_for_keys(key):
    good = public_jwks(key)
    assert problems(spec(jwks=good)) == {}
    assert problems(spec(jwks_uri="https://keys.example.com/jwks.json")) == {}
    assert problems(spec(jwks=good, jwks_uri="https://keys.example.com/jwks.json")) == {
        "jwks": ["register either jwks or jwks_uri, not both (OIDC Dynamic Client Registration §2)"]
    }
    assert problems(spec()) == {
        "jwks": ["private_key_jwt needs the client's public keys: a JWK Set (jwks) or a jwks_uri"]
    }
    cases = {
        "the JWK Set key 1 contains private key material: register the public key only": {
            "keys": [key.as_dict(private=True)]
        },
        "the JWK Set key 1 has an unsupported kty (RSA, EC or OKP)": {"keys": [{"kty": "XYZ"}]},
        "the JWK Set key 1 is too short (RSA keys of 2048 bits at least)": {
            "keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]
        },
        'the JWK Set must be a JWK Set: a JSON object with a "keys" array': {"kid": "x"},
        "the JWK Set has no keys": {"keys": []},
        "the JWK Set is too large (16384 bytes at most)": {"keys": [good["keys"][0]], "pad": "x" * 17000},
        'the JWK Set key 1 is not a signing key ("use" must be "sig")': {"keys": [{**good["keys"][0], "use": "enc"}]},
        'the JWK Set needs a distinct "kid" on every key when it has more than one': {
            "keys": [good["keys"][0], good["keys"][0]]
        },
        "the JWK Set key 1 is not a valid RSA public key": {"keys": [{**good["keys"][0], "e": "!!"}]},
        "the JWK Set key 1 must use the P-256 curve": {"keys": [{"kty": "EC", "crv": "P-384", "x": "a", "y": "b"}]},
    }
    # A symmetric key is refused (as private material: its "k" is the secret itself).
    assert problems(spec(jwks={"keys": [{"kty": "oct", "k": "c2VjcmV0"}]})) == {
        "jwks": ["the JWK Set key 1 has an unsupported kty (RSA, EC or OKP)"]
    }
    for message, document in cases.items():
        assert problems(spec(jwks=document)) == {"jwks": [message]}, message


def test_registration_rules_for_jwks_uri_and_method():
    assert problems(spec(jwks_uri="http://keys.example.com/jwks")) == {
        "jwks_uri": ["the jwks_uri must be an https URL"]
    }
    assert problems(spec(jwks_uri="http://127.0.0.1:9000/jwks")) == {"jwks_uri": ["the jwks_uri must be an https URL"]}
    assert problems(spec(jwks_uri="http://127.0.0.1:9000/jwks"), dev=True) == {}
    assert problems(spec(jwks_uri="https://keys.example.com/jwks#x")) == {
        "jwks_uri": ["the jwks_uri must be an absolute https URL without a fragment"]
    }
    assert problems(spec(token_endpoint_auth_method="client_secret_jwt")) == {
        "token_endpoint_auth_method": [
            "unknown authentication method 'client_secret_jwt' "
            "(client_secret_basic, client_secret_post, private_key_jwt, none)"
        ]
    }
    assert problems(spec(token_endpoint_auth_method="client_secret_post", jwks_uri="https://k.example/j")) == {
        "jwks_uri": ["a jwks_uri is registered only for the private_key_jwt method"]
    }
    assert problems(spec(token_endpoint_auth_method="none")) == {
        "token_endpoint_auth_method": ["a confidential client authenticates: with a secret or private_key_jwt"]
    }
    public = spec(public=True, grant_types=["authorization_code"], redirect_uris=["https://a.example/cb"])
    assert problems(public)["token_endpoint_auth_method"] == [
        "a public client authenticates with none: it holds no secret or key"
    ]


def test_moving_to_private_key_jwt_ends_the_secret_and_rotation_is_refused(http, ctx, tenant, key):
    app = make_client(ctx, tenant, name="Service", grant_types=["client_credentials"], redirect_uris=[])
    with session_scope(ctx.sessions) as session:
        client = session.get_one(Client, (tenant.id, app.client_id))
        update_client(session, client, spec(jwks=public_jwks(key)), dev=True)
        with pytest.raises(ClientError, match="a private_key_jwt client has no secret"):
            rotate_secret(session, client, ctx.hasher)
    old_secret = http.post(
        "/t/acme/token", data={"grant_type": "client_credentials"}, auth=(app.client_id, app.client_secret)
    )
    assert old_secret.status_code == 401
    assert client_credentials(http, assertion(key, app.client_id, TOKEN_URL)).status_code == 200
