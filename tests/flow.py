"""Driving the hosted pages over plain HTTP (no browser), the way a scripted user agent would."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

from starlette.testclient import TestClient

from tests.factories import PASSWORD, REDIRECT_URI


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no hidden field {name!r} in page"
    return match.group(1)


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def fragment_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).fragment).items()}


@dataclass
class Authorization:
    code: str
    verifier: str
    params: dict[str, str]
    redirect: dict[str, str]


def submit_login(http: TestClient, slug: str, page_html: str, email: str, password: str):  # type: ignore[no-untyped-def]
    """POST the hosted login form shown in ``page_html`` with these credentials; the raw response."""
    return http.post(
        f"/t/{slug}/login",
        data={
            "csrf_token": hidden(page_html, "csrf_token"),
            "flow": hidden(page_html, "flow"),
            "email": email,
            "password": password,
        },
    )


def sign_in_and_approve(
    http: TestClient,
    slug: str,
    login_location: str,
    *,
    email: str = "alice@example.com",
    scopes: tuple[str, ...] = ("profile",),
) -> dict[str, str]:
    """From the login page a request was sent to, to the redirect back: sign in, approve ``scopes`` (the
    optional ones to keep ticked); returns the redirect's query. The consent page must be shown."""
    login = http.get(login_location)
    after = submit_login(http, slug, login.text, email, PASSWORD)
    consent = http.get(after.headers["location"])
    assert consent.status_code == 200 and "/consent" in after.headers["location"], after.headers["location"]
    done = http.post(
        f"/t/{slug}/consent",
        data={
            "csrf_token": hidden(consent.text, "csrf_token"),
            "flow": hidden(consent.text, "flow"),
            "decision": "approve",
            "scope": list(scopes),
        },
    )
    return query_of(done.headers["location"])


def authorize_url(slug: str, client_id: str, **params: str) -> str:
    base = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI, "scope": "openid"}
    base.update(params)
    return f"/t/{slug}/authorize?" + urlencode(base)


def sign_in(
    http: TestClient,
    slug: str,
    client_id: str,
    *,
    email: str = "alice@example.com",
    password: str = PASSWORD,
    scope: str = "openid profile email offline_access",
    approve: bool = True,
    untick: tuple[str, ...] = (),
    redirect_uri: str = REDIRECT_URI,
    **extra: str,
) -> dict[str, str]:
    """authorize -> login -> (consent) -> the redirect back to the client; returns its query."""
    verifier, challenge = pkce_pair()
    params = {
        "scope": scope,
        "state": secrets.token_urlsafe(8),
        "nonce": secrets.token_urlsafe(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "redirect_uri": redirect_uri,
        **extra,
    }
    response = http.get(authorize_url(slug, client_id, **params))
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    if "/login?" in location:
        page = http.get(location)
        assert page.status_code == 200, page.text
        response = submit_login(http, slug, page.text, email, password)
        assert response.status_code == 303, response.text
        location = response.headers["location"]
    if "/consent?" in location:
        page = http.get(location)
        assert page.status_code == 200, page.text
        scopes = [s for s in scope.split() if s not in untick]
        response = http.post(
            f"/t/{slug}/consent",
            data={
                "csrf_token": hidden(page.text, "csrf_token"),
                "flow": hidden(page.text, "flow"),
                "decision": "approve" if approve else "deny",
                "scope": scopes,
            },
        )
        assert response.status_code == 303, response.text
        location = response.headers["location"]
    assert location.startswith(redirect_uri), location
    result = query_of(location) | fragment_of(location)  # (the implicit flow answers in the fragment)
    result["_verifier"] = verifier
    result["_state"] = params["state"]
    result["_nonce"] = params["nonce"]
    return result


def exchange(
    http: TestClient,
    slug: str,
    client_id: str,
    secret: str | None,
    code: str,
    verifier: str,
    redirect_uri: str = REDIRECT_URI,
) -> dict:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "code_verifier": verifier}
    auth = (client_id, secret) if secret else None
    if not secret:
        data["client_id"] = client_id
    response = http.post(f"/t/{slug}/token", data=data, auth=auth)
    return {"status": response.status_code, **response.json()}
