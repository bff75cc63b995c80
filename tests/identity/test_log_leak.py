"""A real ``identity serve`` in prod shape (JSON logs), a full protocol tour over HTTP, then its whole output
read back: every line one JSON object with the request fields, the request id sent found in that request's
lines and echoed, and none of the secrets the tour saw in any line."""

from __future__ import annotations

import json
import secrets
import time
from urllib.parse import parse_qs, urlsplit

import httpx

from identity.models.tenant import DEVICE_CODE
from tests.factories import PASSWORD, REDIRECT_URI
from tests.flow import hidden, pkce_pair
from tests.served import PROD_SECRET, Served, identity_serve

FIELDS = {"ts", "level", "logger", "msg", "request_id", "tenant", "route"}
SCOPE = "openid profile email offline_access"
EXCHANGE_ID = "leak-test.exchange_1"


class Tour:
    """The browser and the app of the tour, noting every secret value they see."""

    def __init__(self, served: Served, client_id: str, client_secret: str) -> None:
        self.base = served.url
        self.browser = httpx.Client(base_url=served.url, follow_redirects=False, timeout=30)
        self.client_id, self.auth = client_id, (client_id, client_secret)
        self.seen: dict[str, str] = {"password": PASSWORD, "client secret": client_secret}

    def note(self, what: str, value: str) -> str:
        assert value, what
        self.seen[f"{what} #{len(self.seen)}"] = value
        return value

    def note_cookies(self) -> None:
        for name, value in self.browser.cookies.items():
            self.note(f"cookie {name}", value)

    def note_form(self, html: str, *names: str) -> dict[str, str]:
        return {name: self.note(name, hidden(html, name)) for name in names}

    def sign_in(self, email: str = "alice@example.com", password: str = PASSWORD) -> httpx.Response:
        """authorize -> login (-> consent); the last response."""
        verifier, challenge = pkce_pair()
        self.verifier = self.note("code_verifier", verifier)
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": REDIRECT_URI,
            "scope": SCOPE,
            "state": self.note("state", secrets.token_urlsafe(8)),
            "nonce": self.note("nonce", secrets.token_urlsafe(8)),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        response = self.browser.get("/t/acme/authorize", params=params)
        location = response.headers["location"]
        if "/login?" in location:
            page = self.browser.get(location)
            form = self.note_form(page.text, "csrf_token", "flow")
            response = self.browser.post("/t/acme/login", data={**form, "email": email, "password": password})
            self.note_cookies()
            if response.status_code != 303:
                return response
            location = response.headers["location"]
        if "/consent?" in location:
            response = self.approve(location)
        return response

    def approve(self, location: str) -> httpx.Response:
        page = self.browser.get(location)
        form = self.note_form(page.text, "csrf_token", "flow")
        return self.browser.post("/t/acme/consent", data={**form, "decision": "approve", "scope": SCOPE.split()})

    def code_from(self, response: httpx.Response) -> str:
        assert response.status_code in (302, 303) and response.headers["location"].startswith(REDIRECT_URI), (
            response.text
        )
        return self.note("code", parse_qs(urlsplit(response.headers["location"]).query)["code"][0])

    def token(self, headers: dict[str, str] | None = None, **data: str) -> httpx.Response:
        return httpx.post(f"{self.base}/t/acme/token", data=data, auth=self.auth, headers=headers)

    def tokens(self, response: httpx.Response) -> dict[str, str]:
        assert response.status_code == 200, response.text
        body = response.json()
        for name in ("access_token", "id_token", "refresh_token"):
            if name in body:
                self.note(name, body[name])
        return body  # type: ignore[no-any-return]


def tour(served: Served, client_id: str, client_secret: str) -> Tour:
    t = Tour(served, client_id, client_secret)
    # Authorization code with PKCE through the hosted login and consent forms; the exchange under our id.
    code = t.code_from(t.sign_in())
    exchange = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
    exchanged = t.token({"X-Request-ID": EXCHANGE_ID}, **exchange, code_verifier=t.verifier)
    assert exchanged.headers["x-request-id"] == EXCHANGE_ID
    first = t.tokens(exchanged)
    refreshed = t.tokens(t.token(grant_type="refresh_token", refresh_token=first["refresh_token"]))
    bearer = {"Authorization": f"Bearer {refreshed['access_token']}"}
    assert httpx.get(f"{t.base}/t/acme/userinfo", headers=bearer).status_code == 200
    introspected = httpx.post(f"{t.base}/t/acme/introspect", data={"token": refreshed["access_token"]}, auth=t.auth)
    assert introspected.json()["active"] is True
    machine = t.tokens(t.token(grant_type="client_credentials"))
    assert machine["token_type"] == "Bearer"
    # Error paths that log: a reused refresh token (its family revoked, a warning), a bad client secret, a
    # replayed code, a wrong password, a request id we refuse (replaced by ours).
    reused = t.token(grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    wrong_secret = httpx.post(
        f"{t.base}/t/acme/token", data={"grant_type": "client_credentials"}, auth=(client_id, "wrong-" + "x" * 20)
    )
    assert wrong_secret.status_code == 401
    t.note("wrong secret", "wrong-" + "x" * 20)
    second = t.code_from(t.sign_in())  # signed in and consented already: the code at once
    second_tokens = t.tokens(t.token(**exchange | {"code": second}, code_verifier=t.verifier))
    replayed = t.token(**exchange | {"code": second}, code_verifier=t.verifier)
    assert replayed.status_code == 400
    refused_id = httpx.get(f"{t.base}/t/acme/.well-known/jwks.json", headers={"X-Request-ID": "bad id;" + "x" * 200})
    assert refused_id.status_code == 200 and len(refused_id.headers["x-request-id"]) == 32
    stranger = Tour(served, client_id, client_secret)
    assert stranger.sign_in(password="not the password, typed").status_code == 401
    t.note("wrong password", "not the password, typed")
    t.seen.update({f"stranger {k}": v for k, v in stranger.seen.items()})
    stranger.browser.close()
    # The device flow: the user code typed on the device page by the signed-in browser.
    started = httpx.post(f"{t.base}/t/acme/device_authorization", data={"scope": SCOPE}, auth=t.auth).json()
    t.note("device_code", started["device_code"])
    t.note("user_code", started["user_code"])
    t.note("user_code typed plain", started["user_code"].replace("-", ""))
    page = t.browser.get("/t/acme/device", params={"user_code": started["user_code"]})
    entered = t.browser.post(
        "/t/acme/device", data={**t.note_form(page.text, "csrf_token"), "user_code": started["user_code"]}
    )
    assert entered.status_code == 303, entered.text
    assert t.approve(entered.headers["location"]).status_code in (200, 303)
    device = t.tokens(t.token(grant_type=DEVICE_CODE, device_code=started["device_code"]))
    assert device["access_token"]
    revoked = httpx.post(f"{t.base}/t/acme/revoke", data={"token": device["refresh_token"]}, auth=t.auth)
    assert revoked.status_code == 200
    # RP-initiated logout with the ID token as hint (it names the signed-in user: signed out at once).
    hint = t.note("id_token_hint", second_tokens["id_token"])
    assert t.browser.get("/t/acme/logout", params={"id_token_hint": hint}).status_code in (200, 303)
    t.note_cookies()
    t.browser.close()
    return t


def fragments(value: str, width: int = 16) -> list[str]:
    """What must not appear: the value, and ``width``-character stretches of a long one every 4 characters
    (so any 19 characters of it are caught: a log line holding a tenth of a token is a leak too). For a JWT
    its payload and signature: its header (algorithm, kid) is public."""
    parts = value.split(".")[1:] if value.count(".") == 2 and value.startswith("eyJ") else [value]
    pieces = []
    for part in parts:
        pieces.append(part)
        if len(part) > 2 * width:
            pieces += [part[i : i + width] for i in range(0, len(part) - width + 1, 4)] + [part[-width:]]
    return pieces


def test_no_secret_reaches_the_logs_and_every_line_is_structured(database_url, tmp_path):
    prod = {"IDENTITY_ENV": "prod", "IDENTITY_SECRET_KEY": PROD_SECRET, "IDENTITY_LOG_JSON": "true"}
    with identity_serve(database_url, tmp_path, workers=1, IDENTITY_ACCESS_LOG="true", **prod) as served:
        served.cli("tenant", "create", "acme", "--name", "Acme Corp")
        app = served.cli(
            "client",
            "create",
            "--tenant",
            "acme",
            "--name",
            "Web",
            "--redirect-uri",
            REDIRECT_URI,
            *("--grant-type", "authorization_code", "--grant-type", "refresh_token"),
            *("--grant-type", "client_credentials", "--grant-type", DEVICE_CODE),
            *(arg for scope in SCOPE.split() for arg in ("--scope", scope)),
        )
        served.cli(
            "user", "create", "--tenant", "acme", "--email", "alice@example.com", "--password-stdin", stdin=PASSWORD
        )
        seen = tour(served, app["client_id"], app["client_secret"]).seen
        # (one worker: the same metrics, served by the same process; it writes its counts once a second)
        deadline = time.monotonic() + 10
        scraped = httpx.get(served.metrics_url).text
        while "identity_code_replay_detected_total 1.0" not in scraped and time.monotonic() < deadline:
            time.sleep(0.5)
            scraped = httpx.get(served.metrics_url).text
    assert 'identity_logins_total{result="failure"} 1.0' in scraped
    assert "identity_code_replay_detected_total 1.0" in scraped
    lines = served.output_lines()
    text = "\n".join(lines)
    for what, value in seen.items():
        for piece in fragments(value):
            assert piece not in text, f"a part of the {what} is in the logs: {piece!r}"
    entries = []
    for line in lines:
        entry = json.loads(line)  # every line, stdout and stderr, uvicorn's included
        assert isinstance(entry, dict) and FIELDS <= entry.keys(), line
        entries.append(entry)
    # One access line per request, under the request's id, with the route template and the tenant.
    exchange_lines = [e for e in entries if e["request_id"] == EXCHANGE_ID]
    assert [(e["logger"], e["route"], e["tenant"]) for e in exchange_lines] == [
        ("identity.access", "/t/{tenant}/token", "acme")
    ]
    assert exchange_lines[0]["status"] == 200 and "?" not in exchange_lines[0]["msg"]
    access = [e for e in entries if e["logger"] == "identity.access"]
    assert all(e["request_id"] and e["duration_ms"] >= 0 for e in access)
    visited = {"authorize", "login", "consent", "token", "userinfo", "introspect", "revoke", "device", "logout"}
    assert {f"/t/{{tenant}}/{name}" for name in visited} <= {e["route"] for e in access}
    assert any(e["logger"].startswith("uvicorn") for e in entries)  # uvicorn's own lines are JSON too
    warnings = [e for e in entries if e["level"] == "warning" and e["request_id"]]
    assert warnings, "the reused refresh token and the replayed code log a warning within their request"
    assert all(e["route"] == "/t/{tenant}/token" and e["tenant"] == "acme" for e in warnings)
