"""Seeded fuzzing of every protocol endpoint and hosted form: random, unicode, control, oversized and
broken-escape values, odd content types and every HTTP method. Whatever comes in, the answer is a 4xx
(or a success, or a redirect) with the endpoint's error shape, never a 5xx.

Deterministic (fixed seeds); a failure prints the request that caused it."""

from __future__ import annotations

import random
from urllib.parse import quote

import pytest
from starlette.testclient import TestClient

from tests.conftest import PUBLIC_URL
from tests.factories import REDIRECT_URI, make_client, make_tenant, make_user
from tests.flow import authorize_url, hidden, pkce_pair

ENDPOINTS = [
    "/t/acme/authorize",
    "/t/acme/token",
    "/t/acme/userinfo",
    "/t/acme/introspect",
    "/t/acme/revoke",
    "/t/acme/par",
    "/t/acme/logout",
    "/t/acme/logout/confirm",
    "/t/acme/.well-known/openid-configuration",
    "/.well-known/oauth-authorization-server/t/acme",
    "/t/acme/.well-known/jwks.json",
    "/t/acme/login",
    "/t/acme/consent",
    "/t/acme/register",
    "/t/acme/branding.css",
    "/signup",
    "/t/acme/api/clients",
]
PARAMETERS = [
    "response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "prompt", "max_age", "ui_locales",
    "login_hint", "code_challenge", "code_challenge_method", "response_mode", "grant_type", "code",
    "code_verifier", "refresh_token", "client_secret", "token", "token_type_hint", "access_token", "flow",
    "csrf_token", "email", "password", "name", "decision", "request", "claims", "id_token_hint",
    "post_logout_redirect_uri", "sealed", "everywhere", "x",
]  # fmt: skip
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]
CONTENT_TYPES = [
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=utf-16",
    "application/json",
    "multipart/form-data; boundary=xyz",
    "multipart/form-data",
    "text/plain",
    "application/x-www-form-urlencoded\x00",
    "",
]


class Values:
    """Random values of the kinds that broke endpoints before, plus the real ones, so that requests also
    get past the first checks."""

    def __init__(self, rng: random.Random, real: dict[str, str]) -> None:
        self.rng, self.real = rng, real

    def raw(self) -> str:
        """An already percent-encoded value: escapes may be broken on purpose."""
        rng = self.rng
        kind = rng.randrange(10)
        if kind == 0:
            return quote(rng.choice(list(self.real.values())), safe="")
        if kind == 1:
            return rng.choice(["%", "%z", "%zz", "%f", "%ff%fe", "%c3", "%00", "%0d%0a", "%e2%80%ae", "%ed%a0%80"])
        if kind == 2:
            return quote("\"\\'<>{}|^`", safe="") * rng.randint(1, 3)
        if kind == 3:
            return "a" * rng.choice([4097, 16 * 1024 + 1, 33 * 1024])
        if kind == 4:
            return quote("".join(chr(rng.randrange(0, 32)) for _ in range(rng.randint(1, 8))), safe="")
        if kind == 5:
            text = "".join(chr(rng.choice([rng.randrange(0x80, 0x800), rng.randrange(0x4E00, 0x9FFF), 0x1F600]))
                           for _ in range(rng.randint(1, 12)))  # fmt: skip
            return quote(text, safe="")
        if kind == 6:
            return rng.choice(["code", "token", "code id_token", "none", "login consent", "openid", "S256", "plain"])
        if kind == 7:
            return quote(REDIRECT_URI + rng.choice(["", "/", "?x=1", "#f", "\\", '"']), safe="")
        if kind == 8:
            return ""
        return "".join(rng.choice("abc%=&+;/?#[]@!$'()*,") for _ in range(rng.randint(1, 30)))

    def query(self) -> str:
        rng = self.rng
        pairs = []
        for _ in range(rng.randint(0, 8)):
            name = rng.choice(PARAMETERS) if rng.random() < 0.9 else self.raw()
            pairs.append(f"{name}={self.raw()}" if rng.random() < 0.95 else name)
        return "&".join(pairs)

    def body(self, content_type: str) -> bytes:
        rng = self.rng
        kind = rng.randrange(5)
        if kind == 0:
            return self.query().encode()
        if kind == 1:
            return b'{"grant_type": "' + self.raw().encode() + b'", "x": [1, {"y": null}]}'
        if kind == 2:
            return bytes(rng.randrange(256) for _ in range(rng.randint(1, 300)))
        if kind == 3:
            return b'--xyz\r\nContent-Disposition: form-data; name="' + self.raw().encode() + b'"\r\n\r\nv\r\n--xyz'
        return (self.query() + "&").encode() * rng.randint(1, 40)


@pytest.fixture
def target(ctx, app):
    tenant = make_tenant(ctx)
    make_user(ctx, tenant)
    rp = make_client(ctx, tenant)
    http = TestClient(app, base_url=PUBLIC_URL, follow_redirects=False, raise_server_exceptions=False)
    _, challenge = pkce_pair()
    login = http.get(http.get(authorize_url("acme", rp.client_id, code_challenge=challenge,
                                            code_challenge_method="S256")).headers["location"])  # fmt: skip
    real = {
        "client_id": rp.client_id,
        "client_secret": rp.client_secret,
        "redirect_uri": REDIRECT_URI,
        "flow": hidden(login.text, "flow"),
        "csrf_token": hidden(login.text, "csrf_token"),
        "email": "alice@example.com",
    }
    return http, real


@pytest.mark.parametrize("seed", range(6))
def test_no_input_makes_a_server_error(target, seed):
    http, real = target
    rng = random.Random(seed)
    values = Values(rng, real)
    for _ in range(250):
        path = rng.choice(ENDPOINTS)
        method = rng.choice(METHODS) if rng.random() < 0.3 else rng.choice(["GET", "POST"])
        query = values.query()
        headers = {}
        content = None
        if method in ("POST", "PUT", "PATCH") or rng.random() < 0.1:
            content_type = rng.choice(CONTENT_TYPES)
            if content_type:
                headers["Content-Type"] = content_type
            content = values.body(content_type)
        if rng.random() < 0.3:
            headers["Authorization"] = rng.choice(["Bearer ", "Basic ", "Bearer a.b.c", "Basic !!!", "Digest x"])
            headers["Authorization"] += values.raw()[:200]
        if rng.random() < 0.1:
            headers["Cookie"] = "idp_browser=" + values.raw()[:5000] + "; idp_session=" + values.raw()[:100]
        url = (path + ("?" + query if query else ""))[:60_000]  # httpx's own limit is 64 KiB
        response = http.request(method, url, content=content, headers=headers)
        assert response.status_code < 500, (method, url[:500], headers, (content or b"")[:500], response.text[:500])
