"""Driving the device authorization grant (RFC 8628) over plain HTTP: the device's requests and the user's
pages, for the tests of the device flow and of its audit events."""

from __future__ import annotations

from identity.models.tenant import DEVICE_CODE
from tests.factories import PASSWORD
from tests.flow import hidden, submit_login

SCOPE = "openid profile offline_access"


def authorize_device(http, app, scope=SCOPE, **extra):
    data = {"scope": scope, **extra}
    if app.client_secret:
        return http.post("/t/acme/device_authorization", data=data, auth=(app.client_id, app.client_secret))
    return http.post("/t/acme/device_authorization", data={"client_id": app.client_id, **data})


def started(http, app, scope=SCOPE) -> dict:
    response = authorize_device(http, app, scope)
    assert response.status_code == 200, response.text
    return response.json()


def poll(http, app, device_code):
    data = {"grant_type": DEVICE_CODE, "device_code": device_code}
    if app.client_secret:
        return http.post("/t/acme/token", data=data, auth=(app.client_id, app.client_secret))
    return http.post("/t/acme/token", data={**data, "client_id": app.client_id})


def error_of(response) -> str:
    return response.json()["error"]


def enter_code(http, user_code, prefill=None):
    """The device page, then its form posted with ``user_code``; the raw response."""
    page = http.get("/t/acme/device", params={"user_code": prefill} if prefill else None)
    assert page.status_code == 200, page.text
    return http.post("/t/acme/device", data={"csrf_token": hidden(page.text, "csrf_token"), "user_code": user_code})


def consent(http, location, decision="approve", scopes=("profile", "offline_access")):
    page = http.get(location)
    assert page.status_code == 200, page.text
    return page, http.post(
        "/t/acme/consent",
        data={
            "csrf_token": hidden(page.text, "csrf_token"),
            "flow": hidden(page.text, "flow"),
            "decision": decision,
            "scope": list(scopes),
        },
    )


def approve(http, user_code, decision="approve", scopes=("profile", "offline_access")):
    """Enter the code, sign in as alice, answer the consent page; the final page."""
    entered = enter_code(http, user_code)
    assert entered.status_code == 303 and "/login?" in entered.headers["location"], entered.text
    login = http.get(entered.headers["location"])
    assert login.status_code == 200 and "Acme" in login.text
    signed_in = submit_login(http, "acme", login.text, "alice@example.com", PASSWORD)
    assert signed_in.status_code == 303 and "/consent?" in signed_in.headers["location"], signed_in.text
    _page, done = consent(http, signed_in.headers["location"], decision, scopes)
    return done
