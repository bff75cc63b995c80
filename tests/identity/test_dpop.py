"""DPoP (RFC 9449): proofs checked at the token endpoint and userinfo, tokens bound to the proof's key
(``cnf.jkt``), a public client's refresh token bound too, ``dpop_jkt`` at the authorization request, the
client's ``dpop_bound_access_tokens`` and nonce rules, introspection and discovery.

Proofs are made here with joserfc, and (``test_a_proof_made_with_pyjwkest_*``) with pyjwkest, another JOSE
library (oic's), so the verifier is not only checked against proofs shaped like its own idea of one."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey
from sqlmodel import select

from identity.crypto import sha256_hex
from identity.models.grant import AuthorizationCode, DPoPProofJti, RefreshToken
from identity.oauth.dpop import NONCE_WINDOW, DPoPNonces, access_token_hash
from tests.factories import REDIRECT_URI, inspect_db, make_client, make_tenant, make_user
from tests.flow import sign_in

PUBLIC = "http://127.0.0.1:8000"
TOKEN_URL = f"{PUBLIC}/t/acme/token"
USERINFO_URL = f"{PUBLIC}/t/acme/userinfo"
ALGS = 'algs="ES256 RS256 PS256 EdDSA"'


def proof(
    key: Any,
    htu: str = TOKEN_URL,
    htm: str = "POST",
    *,
    alg: str = "ES256",
    access_token: str | None = None,
    header: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    """A DPoP proof (RFC 9449 §4.2) made with joserfc; ``header`` and ``claims`` override (None removes)."""
    head = {"typ": "dpop+jwt", "alg": alg, "jwk": key.as_dict(private=False), **(header or {})}
    body: dict[str, Any] = {"jti": secrets.token_urlsafe(12), "htm": htm, "htu": htu, "iat": int(time.time())}
    if access_token is not None:
        body["ath"] = access_token_hash(access_token)
    body.update(claims)
    return jwt.encode(
        {k: v for k, v in head.items() if v is not None},
        {k: v for k, v in body.items() if v is not None},
        key,
        algorithms=[alg],
    )


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def error_of(response) -> str:  # type: ignore[no-untyped-def]
    return response.json()["error"]


@pytest.fixture
def acme(ctx):
    tenant = make_tenant(ctx)
    make_user(ctx, tenant)
    return tenant


@pytest.fixture
def key():
    return ECKey.generate_key("P-256")


@pytest.fixture
def m2m(ctx, acme):
    return make_client(ctx, acme, name="Worker", redirect_uris=[], grant_types=["client_credentials"], scopes=[])


def client_credentials(http, app, dpop: str | list[str] | None = None):  # type: ignore[no-untyped-def]
    headers = [("DPoP", value) for value in ([dpop] if isinstance(dpop, str) else dpop or [])]
    return http.post(
        "/t/acme/token",
        data={"grant_type": "client_credentials"},
        auth=(app.client_id, app.client_secret),
        headers=headers,
    )


def code_exchange(http, app, result, dpop: str | None = None):  # type: ignore[no-untyped-def]
    data = {
        "grant_type": "authorization_code",
        "code": result["code"],
        "redirect_uri": REDIRECT_URI,
        "code_verifier": result["_verifier"],
    }
    auth = None
    if app.client_secret:
        auth = (app.client_id, app.client_secret)
    else:
        data["client_id"] = app.client_id
    return http.post("/t/acme/token", data=data, auth=auth, headers={"DPoP": dpop} if dpop else {})


def refresh(http, app, token: str, dpop: str | None = None):  # type: ignore[no-untyped-def]
    data = {"grant_type": "refresh_token", "refresh_token": token}
    auth = None
    if app.client_secret:
        auth = (app.client_id, app.client_secret)
    else:
        data["client_id"] = app.client_id
    return http.post("/t/acme/token", data=data, auth=auth, headers={"DPoP": dpop} if dpop else {})


def stored_refresh_token(ctx, token: str) -> RefreshToken:
    with inspect_db(ctx) as session:
        return session.exec(select(RefreshToken).where(RefreshToken.token_hash == sha256_hex(token))).one()


# -- binding at the token endpoint -----------------------------------------------------------------------


def test_client_credentials_with_a_proof_gets_a_token_bound_to_the_key(http, m2m, key):
    response = client_credentials(http, m2m, proof(key))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "DPoP"
    assert claims_of(body["access_token"])["cnf"] == {"jkt": key.thumbprint()}
    assert response.headers["DPoP-Nonce"]  # RFC 9449 §8: a nonce for the next proof
    plain = client_credentials(http, m2m)  # without a proof: a plain bearer token, as before
    assert plain.json()["token_type"] == "Bearer" and "cnf" not in claims_of(plain.json()["access_token"])
    assert "dpop-nonce" not in plain.headers


@pytest.mark.parametrize(
    ("make", "alg"),
    [
        (lambda: ECKey.generate_key("P-256"), "ES256"),
        (lambda: RSAKey.generate_key(2048), "RS256"),
        (lambda: RSAKey.generate_key(2048), "PS256"),
        pytest.param(
            lambda: OKPKey.generate_key("Ed25519"),
            "EdDSA",
            marks=pytest.mark.filterwarnings("ignore:EdDSA is deprecated"),  # joserfc prefers RFC 9864's Ed25519
        ),
    ],
)
def test_every_advertised_algorithm_is_accepted(http, m2m, make, alg):
    key = make()
    response = client_credentials(http, m2m, proof(key, alg=alg))
    assert response.status_code == 200, response.text
    assert claims_of(response.json()["access_token"])["cnf"]["jkt"] == key.thumbprint()


def _unsigned(key: Any) -> str:
    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    header = {"typ": "dpop+jwt", "alg": "none", "jwk": key.as_dict(private=False)}
    return f"{b64(header)}.{b64({'jti': 'x1', 'htm': 'POST', 'htu': TOKEN_URL, 'iat': int(time.time())})}."


def _hs256() -> str:
    secret = OctKey.generate_key(256)
    header = {"typ": "dpop+jwt", "alg": "HS256", "jwk": {"kty": "oct", "k": "c2VjcmV0"}}
    claims = {"jti": "x2", "htm": "POST", "htu": TOKEN_URL, "iat": int(time.time())}
    return jwt.encode(header, claims, secret, algorithms=["HS256"])


def _small_rsa() -> str:
    import warnings

    from cryptography.hazmat.primitives.asymmetric import rsa

    with warnings.catch_warnings():  # joserfc warns about the short key this test means to make
        warnings.simplefilter("ignore")
        small = RSAKey.import_key(rsa.generate_private_key(public_exponent=65537, key_size=1024))
        return proof(small, alg="RS256")


def _raw(key: Any, header: dict[str, Any], payload: bytes) -> str:
    """An ES256 JWS of exactly this header and payload (joserfc's encoder would refuse some of them)."""
    from joserfc.jws import JWSRegistry

    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    signing_input = b64(json.dumps(header).encode()) + b"." + b64(payload)
    signature = JWSRegistry(algorithms=["ES256"]).get_alg("ES256").sign(signing_input, key)
    return (signing_input + b"." + b64(signature)).decode()


def _array_claims(key: Any) -> str:
    return _raw(key, {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}, b"[1, 2]")


def _private_jwk(key: Any) -> str:
    return proof(key, header={"jwk": key.as_dict(private=True)})


def _other_key_signed(key: Any) -> str:
    other = ECKey.generate_key("P-256")
    return jwt.encode(
        {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)},
        {"jti": "x3", "htm": "POST", "htu": TOKEN_URL, "iat": int(time.time())},
        other,
        algorithms=["ES256"],
    )


@pytest.mark.parametrize(
    ("case", "make"),
    [
        ("no typ", lambda key: proof(key, header={"typ": None})),
        ("typ JWT", lambda key: proof(key, header={"typ": "JWT"})),
        ("alg none", _unsigned),
        ("alg HS256", lambda key: _hs256()),
        ("private key in jwk", _private_jwk),
        ("no jwk", lambda key: proof(key, header={"jwk": None})),
        ("signed by another key", _other_key_signed),
        ("htm GET", lambda key: proof(key, htm="GET")),
        ("htu of another endpoint", lambda key: proof(key, htu=f"{PUBLIC}/t/acme/userinfo")),
        ("htu of another tenant", lambda key: proof(key, htu=f"{PUBLIC}/t/other/token")),
        ("htu of another host", lambda key: proof(key, htu="http://evil.example/t/acme/token")),
        ("iat too old", lambda key: proof(key, iat=int(time.time()) - 120)),
        ("iat too new", lambda key: proof(key, iat=int(time.time()) + 120)),
        ("iat not a number", lambda key: proof(key, iat="now")),
        ("no jti", lambda key: proof(key, jti=None)),
        ("not a JWT", lambda key: "not-a-jwt"),
        ("jwk of an unknown curve", lambda key: proof(key, header={"jwk": {**key.as_dict(), "crv": "P-999"}})),
        ("jwk of a symmetric key", lambda key: proof(key, header={"jwk": {"kty": "oct", "k": "c2VjcmV0"}})),
        ("jwk not an object", lambda key: _raw(key, {"typ": "dpop+jwt", "alg": "ES256", "jwk": "key"}, b"{}")),
        ("RSA key of 1024 bits", lambda key: _small_rsa()),
        ("claims not an object", lambda key: _array_claims(key)),
    ],
)
def test_a_bad_proof_at_the_token_endpoint_is_invalid_dpop_proof(http, m2m, key, case, make):
    response = client_credentials(http, m2m, make(key))
    assert response.status_code == 400, case
    assert error_of(response) == "invalid_dpop_proof", case
    assert response.headers["cache-control"] == "no-store"


def test_two_dpop_headers_are_refused(http, m2m, key):
    response = client_credentials(http, m2m, [proof(key), proof(key)])
    assert response.status_code == 400 and error_of(response) == "invalid_dpop_proof"


def test_htu_is_compared_after_normalisation(http, m2m, key):
    """RFC 9449 §4.3: case of scheme and host, the default port, percent-encoding of unreserved characters;
    query and fragment ignored."""
    htu = "HTTP://127.0.0.1:8000/t/%61cme/token?x=1#f"
    response = client_credentials(http, m2m, proof(key, htu=htu))
    assert response.status_code == 200, response.text


def test_htu_follows_the_public_url_not_the_host_header(ctx, acme, key):
    """Behind a proxy the request reaches us as another host: the proof names the public URL."""
    from starlette.testclient import TestClient

    app = make_client(ctx, acme, name="W", redirect_uris=[], grant_types=["client_credentials"], scopes=[])
    from identity.app import create_app

    with TestClient(create_app(ctx.settings), base_url="http://internal:9000") as inner:
        ok = client_credentials(inner, app, proof(key, htu=TOKEN_URL))
        assert ok.status_code == 200, ok.text
        wrong = client_credentials(inner, app, proof(key, htu="http://internal:9000/t/acme/token"))
        assert wrong.status_code == 400 and error_of(wrong) == "invalid_dpop_proof"


def test_a_replayed_proof_is_refused(http, ctx, acme, m2m, key):
    used = proof(key)
    assert client_credentials(http, m2m, used).status_code == 200
    again = client_credentials(http, m2m, used)
    assert again.status_code == 400 and error_of(again) == "invalid_dpop_proof"
    assert "used already" in again.json()["error_description"]
    with inspect_db(ctx) as session:
        (row,) = session.exec(select(DPoPProofJti)).all()
    assert row.tenant_id == acme.id and row.jti_hash == sha256_hex(claims_of(used)["jti"])


def test_the_proof_of_a_refused_request_is_spent_too(http, m2m, key):
    """The jti is claimed in its own transaction: a request refused afterwards does not free its proof."""
    used = proof(key)
    refused = http.post(
        "/t/acme/token",
        data={"grant_type": "client_credentials", "scope": "not-allowed"},
        auth=(m2m.client_id, m2m.client_secret),
        headers={"DPoP": used},
    )
    assert refused.status_code == 400 and error_of(refused) == "invalid_scope"
    again = client_credentials(http, m2m, used)
    assert again.status_code == 400 and error_of(again) == "invalid_dpop_proof"


def test_the_same_jti_in_two_tenants_is_two_proofs(http, ctx, acme, key):
    """Replay is per tenant: the jti store is keyed by tenant."""
    make_tenant(ctx, "globex", "Globex")
    from tests.factories import make_client as client_of

    apps = {
        slug: client_of(ctx, tenant, name="W", redirect_uris=[], grant_types=["client_credentials"], scopes=[])
        for slug, tenant in (("acme", acme), ("globex", _tenant(ctx, "globex")))
    }
    jti = secrets.token_urlsafe(12)
    for slug, app in apps.items():
        response = http.post(
            f"/t/{slug}/token",
            data={"grant_type": "client_credentials"},
            auth=(app.client_id, app.client_secret),
            headers={"DPoP": proof(key, htu=f"{PUBLIC}/t/{slug}/token", jti=jti)},
        )
        assert response.status_code == 200, (slug, response.text)


def _tenant(ctx, slug: str):  # type: ignore[no-untyped-def]
    from tenants.resolution import find_tenant

    with inspect_db(ctx) as session:
        return find_tenant(session, slug)


# -- the client's rules -----------------------------------------------------------------------------------


def test_a_dpop_bound_client_without_a_proof_is_refused(http, ctx, acme, key):
    app = make_client(
        ctx,
        acme,
        name="W",
        redirect_uris=[],
        grant_types=["client_credentials"],
        scopes=[],
        dpop_bound_access_tokens=True,
    )
    refused = client_credentials(http, app)
    assert refused.status_code == 400 and error_of(refused) == "invalid_dpop_proof"
    assert client_credentials(http, app, proof(key)).status_code == 200


def test_a_client_that_requires_nonces_gets_use_dpop_nonce_then_succeeds_with_it(http, ctx, acme, key):
    app = make_client(
        ctx, acme, name="W", redirect_uris=[], grant_types=["client_credentials"], scopes=[], require_dpop_nonce=True
    )
    first = client_credentials(http, app, proof(key))
    assert first.status_code == 400 and error_of(first) == "use_dpop_nonce"
    nonce = first.headers["DPoP-Nonce"]
    assert nonce == ctx.dpop_nonces.current(acme.id)
    second = client_credentials(http, app, proof(key, nonce=nonce))
    assert second.status_code == 200, second.text
    assert second.json()["token_type"] == "DPoP"


def test_a_stale_or_foreign_nonce_is_use_dpop_nonce_with_a_fresh_one(http, ctx, acme, m2m, key):
    old = DPoPNonces(ctx.settings.secret_key, window=NONCE_WINDOW)
    step = int(time.time()) // NONCE_WINDOW
    stale = old._nonce(acme.id, step - 2)  # two windows ago: no longer accepted
    for nonce in (stale, "made-up", DPoPNonces("another-secret-" + "y" * 32).current(acme.id)):
        response = client_credentials(http, m2m, proof(key, nonce=nonce))
        assert response.status_code == 400 and error_of(response) == "use_dpop_nonce", nonce
        assert response.headers["DPoP-Nonce"] == ctx.dpop_nonces.current(acme.id)
    previous = old._nonce(acme.id, step - 1)  # the window before this one is still good
    assert client_credentials(http, m2m, proof(key, nonce=previous)).status_code == 200


def test_nonces_are_per_tenant(ctx, acme):
    make_tenant(ctx, "globex", "Globex")
    globex = _tenant(ctx, "globex")
    assert ctx.dpop_nonces.current(acme.id) != ctx.dpop_nonces.current(globex.id)
    assert not ctx.dpop_nonces.valid(globex.id, ctx.dpop_nonces.current(acme.id))


# -- code flow, refresh, dpop_jkt -------------------------------------------------------------------------


@pytest.fixture
def spa(ctx, acme):
    return make_client(ctx, acme, name="SPA", public=True, app_type="spa")


@pytest.fixture
def web(ctx, acme):
    return make_client(ctx, acme, grant_types=["authorization_code", "refresh_token"])


def test_a_public_clients_refresh_token_is_bound_and_needs_the_same_key(http, ctx, spa, key):
    tokens = code_exchange(http, spa, sign_in(http, "acme", spa.client_id), proof(key))
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert body["token_type"] == "DPoP" and claims_of(body["access_token"])["cnf"] == {"jkt": key.thumbprint()}
    assert stored_refresh_token(ctx, body["refresh_token"]).dpop_jkt == key.thumbprint()

    thief = ECKey.generate_key("P-256")
    stolen = refresh(http, spa, body["refresh_token"], proof(thief))
    assert stolen.status_code == 400 and error_of(stolen) == "invalid_grant"
    bare = refresh(http, spa, body["refresh_token"])
    assert bare.status_code == 400 and error_of(bare) == "invalid_dpop_proof"
    # Neither refusal spent the token or revoked the family: the client's own refresh works.
    own = refresh(http, spa, body["refresh_token"], proof(key))
    assert own.status_code == 200, own.text
    rotated = own.json()
    assert rotated["token_type"] == "DPoP"
    assert stored_refresh_token(ctx, rotated["refresh_token"]).dpop_jkt == key.thumbprint()


def test_a_confidential_clients_refresh_token_stays_unbound(http, ctx, web, key):
    tokens = code_exchange(http, web, sign_in(http, "acme", web.client_id), proof(key)).json()
    assert tokens["token_type"] == "DPoP"
    assert stored_refresh_token(ctx, tokens["refresh_token"]).dpop_jkt is None
    plain = refresh(http, web, tokens["refresh_token"])  # RFC 9449 §5: it authenticates, so no binding needed
    assert plain.status_code == 200 and plain.json()["token_type"] == "Bearer"


def test_dpop_jkt_binds_the_code_to_the_key(http, ctx, web, key):
    result = sign_in(http, "acme", web.client_id, dpop_jkt=key.thumbprint())
    with inspect_db(ctx) as session:
        code = session.exec(
            select(AuthorizationCode).where(AuthorizationCode.code_hash == sha256_hex(result["code"]))
        ).one()
    assert code.dpop_jkt == key.thumbprint()
    other = code_exchange(http, web, result, proof(ECKey.generate_key("P-256")))
    assert other.status_code == 400 and error_of(other) == "invalid_grant"
    bare = code_exchange(http, web, result)
    assert bare.status_code == 400 and error_of(bare) == "invalid_dpop_proof"
    good = code_exchange(http, web, result, proof(key))  # the refusals did not burn the code
    assert good.status_code == 200, good.text
    assert claims_of(good.json()["access_token"])["cnf"]["jkt"] == key.thumbprint()


def test_a_malformed_dpop_jkt_is_invalid_request(http, web):
    from tests.flow import authorize_url, query_of

    response = http.get(authorize_url("acme", web.client_id, dpop_jkt="short", state="s"))
    assert response.status_code == 302
    assert query_of(response.headers["location"])["error"] == "invalid_request"


# -- userinfo ---------------------------------------------------------------------------------------------


@pytest.fixture
def bound(http, web, key):
    tokens = code_exchange(http, web, sign_in(http, "acme", web.client_id), proof(key)).json()
    return tokens["access_token"]


def userinfo(http, token: str, dpop: str | None, scheme: str = "DPoP", method: str = "GET"):  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"{scheme} {token}"}
    if dpop:
        headers["DPoP"] = dpop
    return http.request(method, "/t/acme/userinfo", headers=headers)


def test_userinfo_takes_a_bound_token_with_its_proof(http, bound, key):
    response = userinfo(http, bound, proof(key, USERINFO_URL, "GET", access_token=bound))
    assert response.status_code == 200, response.text
    assert response.json()["email"] == "alice@example.com"
    assert response.headers["DPoP-Nonce"]
    post = userinfo(http, bound, proof(key, USERINFO_URL, "POST", access_token=bound), method="POST")
    assert post.status_code == 200


def test_a_bound_token_presented_as_bearer_is_refused_on_every_lane(http, bound):
    for _ in range(2):  # the second request takes the fast lane (everything is in memory by then)
        response = userinfo(http, bound, None, scheme="Bearer")
        assert response.status_code == 401
        challenge = response.headers["www-authenticate"]
        assert challenge.startswith("DPoP ") and 'error="invalid_token"' in challenge and ALGS in challenge


@pytest.mark.parametrize(
    ("case", "make", "error"),
    [
        ("no proof", lambda key, token: None, "invalid_dpop_proof"),
        (
            "wrong ath",
            lambda key, token: proof(key, USERINFO_URL, "GET", access_token=token + "x"),
            "invalid_dpop_proof",
        ),
        ("no ath", lambda key, token: proof(key, USERINFO_URL, "GET"), "invalid_dpop_proof"),
        ("htm POST", lambda key, token: proof(key, USERINFO_URL, "POST", access_token=token), "invalid_dpop_proof"),
        ("htu token", lambda key, token: proof(key, TOKEN_URL, "GET", access_token=token), "invalid_dpop_proof"),
        (
            "another key",
            lambda key, token: proof(ECKey.generate_key("P-256"), USERINFO_URL, "GET", access_token=token),
            "invalid_token",
        ),
    ],
)
def test_userinfo_refusals_carry_the_dpop_challenge(http, bound, key, case, make, error):
    response = userinfo(http, bound, make(key, bound))
    assert response.status_code == 401, case
    assert response.json()["error"] == error, case
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("DPoP ") and f'error="{error}"' in challenge and ALGS in challenge, case


def test_a_replayed_proof_at_userinfo_is_refused(http, bound, key):
    used = proof(key, USERINFO_URL, "GET", access_token=bound)
    assert userinfo(http, bound, used).status_code == 200
    again = userinfo(http, bound, used)
    assert again.status_code == 401 and again.json()["error"] == "invalid_dpop_proof"


def test_an_unbound_token_presented_with_dpop_is_invalid_token(http, web, key):
    plain = code_exchange(http, web, sign_in(http, "acme", web.client_id)).json()["access_token"]
    response = userinfo(http, plain, proof(key, USERINFO_URL, "GET", access_token=plain))
    assert response.status_code == 401 and response.json()["error"] == "invalid_token"
    assert userinfo(http, plain, None, scheme="Bearer").status_code == 200  # as a bearer token it works


def test_userinfo_asks_for_a_nonce_when_the_tokens_client_requires_them(http, ctx, acme, key):
    app = make_client(ctx, acme, name="Strict", require_dpop_nonce=True)
    first = code_exchange(http, app, sign_in(http, "acme", app.client_id), proof(key))
    assert error_of(first) == "use_dpop_nonce"
    token = code_exchange(
        http, app, sign_in(http, "acme", app.client_id), proof(key, nonce=first.headers["DPoP-Nonce"])
    ).json()["access_token"]
    refused = userinfo(http, token, proof(key, USERINFO_URL, "GET", access_token=token))
    assert refused.status_code == 401 and refused.json()["error"] == "use_dpop_nonce"
    assert 'error="use_dpop_nonce"' in refused.headers["www-authenticate"]
    nonce = refused.headers["DPoP-Nonce"]
    ok = userinfo(http, token, proof(key, USERINFO_URL, "GET", access_token=token, nonce=nonce))
    assert ok.status_code == 200, ok.text


# -- introspection, discovery, settings ---------------------------------------------------------------------


def test_introspection_shows_the_binding(http, spa, web, key):
    tokens = code_exchange(http, spa, sign_in(http, "acme", spa.client_id), proof(key)).json()
    auth = (web.client_id, web.client_secret)
    access = http.post("/t/acme/introspect", data={"token": tokens["access_token"]}, auth=auth).json()
    assert access["active"] is True
    assert access["cnf"] == {"jkt": key.thumbprint()} and access["token_type"] == "DPoP"
    plain = http.post(
        "/t/acme/introspect",
        data={"token": plain_access_token(http, web)},
        auth=auth,
    ).json()
    assert "cnf" not in plain


def plain_access_token(http, web) -> str:  # type: ignore[no-untyped-def]
    tokens = code_exchange(http, web, sign_in(http, "acme", web.client_id)).json()
    return str(tokens["access_token"])


def test_discovery_advertises_the_proof_algorithms(http, acme):
    doc = http.get("/t/acme/.well-known/openid-configuration").json()
    assert doc["dpop_signing_alg_values_supported"] == ["ES256", "RS256", "PS256", "EdDSA"]


# -- a proof from another JOSE library --------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("alg", ["ES256", "PS256"])
def test_a_proof_made_with_pyjwkest_is_accepted_and_binds_to_its_thumbprint(http, web, alg):
    """pyjwkest (oic's JOSE library, installed with it) makes the keys, the proof's JSON and its signature,
    and the thumbprint is computed by hand from RFC 7638: our verifier and thumbprint agree with an
    implementation that is not joserfc."""
    from Cryptodome.PublicKey import RSA
    from jwkest.ecc import P256
    from jwkest.jwk import ECKey as JwkestEC
    from jwkest.jwk import RSAKey as JwkestRSA
    from jwkest.jws import JWS

    if alg == "ES256":
        private, public = P256.key_pair()
        their_key: Any = JwkestEC(x=public[0], y=public[1], d=private, crv="P-256")
    else:
        their_key = JwkestRSA(key=RSA.generate(2048))
    public = their_key.serialize(private=False)
    # RFC 7638 §3 by hand (pyjwkest's own EC thumbprint leaves out "kty"): the required members, sorted.
    required = ["crv", "kty", "x", "y"] if public["kty"] == "EC" else ["e", "kty", "n"]
    members = json.dumps({name: public[name] for name in required}, separators=(",", ":"), sort_keys=True)
    thumbprint = base64.urlsafe_b64encode(hashlib.sha256(members.encode()).digest()).rstrip(b"=").decode()

    def their_proof(htm: str, htu: str, access_token: str | None = None) -> str:
        claims = {"jti": secrets.token_urlsafe(12), "htm": htm, "htu": htu, "iat": int(time.time())}
        if access_token:
            claims["ath"] = (
                base64.urlsafe_b64encode(hashlib.sha256(access_token.encode()).digest()).rstrip(b"=").decode()
            )
        header = {"typ": "dpop+jwt", "jwk": public}
        return str(JWS(json.dumps(claims), alg=alg).sign_compact(keys=[their_key], protected=header))

    tokens = code_exchange(http, web, sign_in(http, "acme", web.client_id), their_proof("POST", TOKEN_URL))
    assert tokens.status_code == 200, tokens.text
    access = tokens.json()["access_token"]
    assert claims_of(access)["cnf"] == {"jkt": thumbprint}
    info = userinfo(http, access, their_proof("GET", USERINFO_URL, access))
    assert info.status_code == 200, info.text


# -- with the caches warm: the fast lane ------------------------------------------------------------------


@pytest.fixture
def warm(database_url):  # type: ignore[no-untyped-def]
    from starlette.testclient import TestClient

    from identity.app import create_app
    from tests.conftest import PUBLIC_URL, make_settings

    app = create_app(make_settings(database_url, cache_seconds=60))
    with TestClient(app, base_url=PUBLIC_URL, follow_redirects=False) as http:
        yield app.state.ctx, http
    app.state.ctx.engine.dispose()


def test_warm_lanes_refuse_a_bound_bearer_and_hand_dpop_requests_to_the_app(warm, key):
    ctx, http = warm
    tenant = make_tenant(ctx)
    make_user(ctx, tenant)
    web = make_client(ctx, tenant, grant_types=["authorization_code", "refresh_token"])
    m2m = make_client(ctx, tenant, name="W", redirect_uris=[], grant_types=["client_credentials"], scopes=[])
    token = code_exchange(http, web, sign_in(http, "acme", web.client_id), proof(key)).json()["access_token"]
    plain = code_exchange(http, web, sign_in(http, "acme", web.client_id)).json()["access_token"]
    assert userinfo(http, plain, None, scheme="Bearer").status_code == 200  # warms tenant, keys, grant user
    cold, hot = (userinfo(http, token, None, scheme="Bearer") for _ in range(2))
    assert cold.status_code == hot.status_code == 401
    assert cold.headers["www-authenticate"] == hot.headers["www-authenticate"]
    assert hot.headers["www-authenticate"].startswith('DPoP realm="userinfo", error="invalid_token"')
    for _ in range(2):  # DPoP at userinfo, warm: the lane hands it on, the app claims each proof's jti
        used = proof(key, USERINFO_URL, "GET", access_token=token)
        assert userinfo(http, token, used).status_code == 200
        replayed = userinfo(http, token, used)
        assert replayed.status_code == 401 and replayed.json()["error"] == "invalid_dpop_proof"
    for _ in range(2):  # client_credentials with a proof, warm: never answered inline without the jti claim
        used = proof(key)
        assert client_credentials(http, m2m, used).status_code == 200
        assert error_of(client_credentials(http, m2m, used)) == "invalid_dpop_proof"


def test_a_bound_token_is_refused_as_bearer_by_the_management_api(http, ctx, acme, key):
    from tests.api.helpers import bearer

    app = make_client(
        ctx, acme, name="Ops", redirect_uris=[], grant_types=["client_credentials"], scopes=["manage:clients"]
    )
    tokens = client_credentials(http, app, proof(key)).json()
    assert tokens["token_type"] == "DPoP"
    response = http.get("/t/acme/api/clients", headers=bearer(tokens["access_token"]))
    assert response.status_code == 401 and response.json()["type"].endswith("invalid_token")
    assert response.headers["www-authenticate"].startswith('DPoP realm="api", error="invalid_token"')


# -- the settings: management API and portal ----------------------------------------------------------------


def test_the_api_sets_and_shows_the_dpop_settings(http, ctx, acme, key):
    from tests.api.helpers import ALL_TENANT_SCOPES, bearer, management_token

    auth = bearer(management_token(http, ctx, acme, ALL_TENANT_SCOPES))
    created = http.post(
        "/t/acme/api/clients",
        json={"name": "Worker", "app_type": "m2m", "scopes": [], "dpop_bound_access_tokens": True},
        headers=auth,
    )
    assert created.status_code == 201, created.text
    app = created.json()
    assert app["dpop_bound_access_tokens"] is True and app["require_dpop_nonce"] is False
    refused = http.post(
        "/t/acme/token", data={"grant_type": "client_credentials"}, auth=(app["client_id"], app["client_secret"])
    )
    assert refused.status_code == 400 and error_of(refused) == "invalid_dpop_proof"
    read = http.get(f"/t/acme/api/clients/{app['client_id']}", headers=auth)
    changed = http.patch(
        f"/t/acme/api/clients/{app['client_id']}",
        json={"dpop_bound_access_tokens": False, "require_dpop_nonce": True},
        headers={**auth, "If-Match": read.headers["etag"]},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["dpop_bound_access_tokens"] is False and changed.json()["require_dpop_nonce"] is True
    nonce_needed = http.post(
        "/t/acme/token",
        data={"grant_type": "client_credentials"},
        auth=(app["client_id"], app["client_secret"]),
        headers={"DPoP": proof(key)},
    )
    assert nonce_needed.status_code == 400 and error_of(nonce_needed) == "use_dpop_nonce"


def test_the_portal_form_sets_the_dpop_settings(http, ctx):
    from identity.clients import find_client
    from tests.tenants.portal_helpers import create_app, sign_up, tenant_of

    sign_up(http)
    client_id, _, page = create_app(http, "globex", dpop_bound="yes", dpop_nonce="yes")
    tenant = tenant_of(ctx)
    with inspect_db(ctx) as session:
        client = find_client(session, tenant.id, client_id)
        assert client is not None and client.dpop_bound_access_tokens and client.require_dpop_nonce
    shown = http.get(f"/t/globex/portal/apps/{client_id}").text
    assert 'id="dpop_bound" name="dpop_bound" value="yes" checked' in shown
    assert 'id="dpop_nonce" name="dpop_nonce" value="yes" checked' in shown
    plain_id, _, _ = create_app(http, "globex", name="Plain")
    with inspect_db(ctx) as session:
        plain = find_client(session, tenant.id, plain_id)
        assert plain is not None and not plain.dpop_bound_access_tokens and not plain.require_dpop_nonce


# -- pushed authorization requests (RFC 9449 §10.1) ---------------------------------------------------------


def test_a_proof_sent_with_the_push_binds_the_code_to_its_key(http, ctx, web, key):
    from tests.flow import sign_in_and_approve
    from tests.identity.test_par import follow, push, pushed_params

    par_url = f"{PUBLIC}/t/acme/par"
    params, verifier = pushed_params()
    answer = http.post(
        "/t/acme/par", data=params, auth=(web.client_id, web.client_secret), headers={"DPoP": proof(key, par_url)}
    )
    assert answer.status_code == 201, answer.text
    assert answer.headers["DPoP-Nonce"]
    back = sign_in_and_approve(
        http, "acme", follow(http, web.client_id, answer.json()["request_uri"]).headers["location"]
    )
    result = {"code": back["code"], "_verifier": verifier}
    other = code_exchange(http, web, result, proof(ECKey.generate_key("P-256")))
    assert other.status_code == 400 and error_of(other) == "invalid_grant"
    good = code_exchange(http, web, result, proof(key))
    assert good.status_code == 200 and claims_of(good.json()["access_token"])["cnf"]["jkt"] == key.thumbprint()

    # A dpop_jkt beside a proof of another key, or a bad proof, is refused in the push's own answer.
    mismatch, _ = pushed_params(dpop_jkt=ECKey.generate_key("P-256").thumbprint())
    refused = http.post(
        "/t/acme/par", data=mismatch, auth=(web.client_id, web.client_secret), headers={"DPoP": proof(key, par_url)}
    )
    assert refused.status_code == 400 and error_of(refused) == "invalid_dpop_proof"
    stale = http.post(
        "/t/acme/par", data=pushed_params()[0], auth=(web.client_id, web.client_secret), headers={"DPoP": proof(key)}
    )  # htu of the token endpoint
    assert stale.status_code == 400 and error_of(stale) == "invalid_dpop_proof"
    assert push(http, web, pushed_params()[0]).status_code == 201  # without DPoP, as before
