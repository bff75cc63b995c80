"""Sessions and logout: ``sid`` in ID tokens, RP-initiated logout at ``{issuer}/logout`` (OIDC RP-Initiated
Logout 1.0), back-channel logout tokens delivered to a real HTTP receiver (Back-Channel Logout 1.0), the
front-channel iframes (Front-Channel Logout 1.0), and signing out everywhere."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlmodel import col, select
from starlette.testclient import TestClient

from identity import logout_delivery
from identity.models.audit import AuditEvent
from identity.models.grant import Grant, LogoutDelivery
from identity.models.interaction import BrowserSession
from identity.tokens import Signer
from tests.conftest import PUBLIC_URL
from tests.factories import inspect_db, make_client, make_tenant, make_user
from tests.flow import exchange, hidden, query_of, sign_in

ISSUER = f"{PUBLIC_URL}/t/acme"
AFTER_LOGOUT = "https://app.example.com/signed-out"


class Receiver:
    """A relying party's back-channel logout endpoint: a real HTTP server on loopback that records each POST
    and answers with the statuses it is told to (then 200)."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self.statuses: list[int] = []
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
                receiver.received.append(parse_qs(body)["logout_token"][0])
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                receiver.arrived.set()

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.uri = f"http://127.0.0.1:{self.server.server_address[1]}/backchannel-logout"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, count: int, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            self.arrived.wait(0.1)
            self.arrived.clear()
        assert len(self.received) >= count, f"{len(self.received)} logout tokens arrived, expected {count}"


def wait_until_recorded(ctx, count: int = 1, timeout: float = 15) -> list[LogoutDelivery]:  # type: ignore[no-untyped-def]
    """The deliveries once ``count`` of them are no longer pending: the sender records the outcome after the
    receiver answered, so the receiver having the token is not yet the row saying so."""
    deadline = time.monotonic() + timeout
    while True:
        with inspect_db(ctx) as db:
            rows = list(db.exec(select(LogoutDelivery)))
        if sum(r.status != "pending" for r in rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def tenant(ctx):
    return make_tenant(ctx)


@pytest.fixture
def alice(ctx, tenant):
    return make_user(ctx, tenant)


@pytest.fixture
def rp(ctx, tenant, receiver):
    return make_client(
        ctx,
        tenant,
        post_logout_redirect_uris=[AFTER_LOGOUT],
        backchannel_logout_uri=receiver.uri,
        frontchannel_logout_uri="https://app.example.com/frontchannel-logout?from=op",
    )


def signed_in_tokens(http, rp, scope="openid email"):
    result = sign_in(http, "acme", rp.client_id, scope=scope)
    issued = exchange(http, "acme", rp.client_id, rp.client_secret, result["code"], result["_verifier"])
    assert issued["status"] == 200, issued
    return issued


def claims_of(http, token):
    keys = KeySet.import_key_set(http.get("/t/acme/.well-known/jwks.json").json())
    return jwt.decode(token, keys)


def userinfo_status(http, access_token):
    return http.get("/t/acme/userinfo", headers={"Authorization": f"Bearer {access_token}"}).status_code


def is_signed_in(http, rp):
    """Whether this browser still has a session: /authorize goes to the client, not to the login page."""
    response = http.get(
        f"/t/acme/authorize?response_type=code&client_id={rp.client_id}&scope=openid"
        "&redirect_uri=https://app.example.com/callback&code_challenge=" + "a" * 43 + "&code_challenge_method=S256"
    )
    return "/login?" not in response.headers["location"]


def test_discovery_advertises_the_logout_endpoints(http, tenant):
    metadata = http.get("/t/acme/.well-known/openid-configuration").json()
    assert metadata["end_session_endpoint"] == f"{ISSUER}/logout"
    for name in ("frontchannel_logout", "backchannel_logout"):
        assert metadata[f"{name}_supported"] is True
        assert metadata[f"{name}_session_supported"] is True
    assert "sid" in metadata["claims_supported"]


def test_id_tokens_carry_the_session_id_and_refresh_keeps_it(app, http, alice, rp):
    first = signed_in_tokens(http, rp, scope="openid offline_access")
    sid = claims_of(http, first["id_token"]).claims["sid"]
    assert len(sid) == 32
    with inspect_db(app.state.ctx) as db:
        assert db.exec(select(BrowserSession)).one().sid == sid
    refreshed = http.post(
        "/t/acme/token",
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        auth=(rp.client_id, rp.client_secret),
    ).json()
    assert claims_of(http, refreshed["id_token"]).claims["sid"] == sid
    # The same browser signing in again to the same session: the same sid; another browser: another.
    again = signed_in_tokens(http, rp)
    assert claims_of(http, again["id_token"]).claims["sid"] == sid
    with TestClient(app, base_url=PUBLIC_URL, follow_redirects=False) as other:
        other_tokens = signed_in_tokens(other, rp)
    assert claims_of(http, other_tokens["id_token"]).claims["sid"] != sid


def test_logout_with_a_matching_hint_signs_out_at_once_and_returns_with_state(app, http, alice, rp, receiver):
    online = signed_in_tokens(http, rp)
    offline = signed_in_tokens(http, rp, scope="openid offline_access")
    sid = claims_of(http, online["id_token"]).claims["sid"]
    response = http.get(
        "/t/acme/logout",
        params={"id_token_hint": online["id_token"], "post_logout_redirect_uri": AFTER_LOGOUT, "state": "xyz"},
    )
    # The client has a front-channel URI: the signed-out page loads it, then returns (tested below).
    assert response.status_code == 200, response.text
    assert not is_signed_in(http, rp)
    assert 'idp_session=""' in response.headers["set-cookie"]
    # What the session authorized without offline_access ends with it; offline access stays.
    assert userinfo_status(http, online["access_token"]) == 401
    assert userinfo_status(http, offline["access_token"]) == 200
    receiver.wait(1)
    token = claims_of(http, receiver.received[0])
    assert token.header["typ"] == "logout+jwt"
    assert token.claims["iss"] == ISSUER and token.claims["aud"] == rp.client_id
    assert token.claims["sub"] == alice.id and token.claims["sid"] == sid
    assert token.claims["events"] == {"http://schemas.openid.net/event/backchannel-logout": {}}
    assert "nonce" not in token.claims and token.claims["jti"]
    assert token.claims["exp"] > token.claims["iat"] >= int(time.time()) - 30
    [delivery] = wait_until_recorded(app.state.ctx)
    assert (delivery.status, delivery.attempts, delivery.sid) == ("delivered", 1, sid)
    with inspect_db(app.state.ctx) as db:
        assert (
            db.exec(select(AuditEvent).where(AuditEvent.action == "session.ended")).one().target == f"user:{alice.id}"
        )


def test_without_front_channel_logout_returns_straight_to_the_registered_uri(ctx, http, tenant, alice):
    rp = make_client(ctx, tenant, post_logout_redirect_uris=[AFTER_LOGOUT])
    issued = signed_in_tokens(http, rp)
    response = http.get(
        "/t/acme/logout",
        params={"id_token_hint": issued["id_token"], "post_logout_redirect_uri": AFTER_LOGOUT, "state": "s 1"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == AFTER_LOGOUT + "?state=s+1"
    assert not is_signed_in(http, rp)


def test_the_signed_out_page_loads_front_channel_iframes_with_iss_and_sid(http, alice, rp):
    issued = signed_in_tokens(http, rp)
    sid = claims_of(http, issued["id_token"]).claims["sid"]
    response = http.post(
        "/t/acme/logout", data={"id_token_hint": issued["id_token"], "post_logout_redirect_uri": AFTER_LOGOUT}
    )
    assert response.status_code == 200
    frame = urlsplit(hidden_iframe(response.text))
    assert (frame.scheme, frame.netloc, frame.path) == ("https", "app.example.com", "/frontchannel-logout")
    assert query_of(frame.geturl()) == {"from": "op", "iss": ISSUER, "sid": sid}
    csp = response.headers["content-security-policy"]
    assert "frame-src https://app.example.com;" in csp and "script-src 'self'" in csp
    assert f'data-return-to="{AFTER_LOGOUT}"' in response.text


def hidden_iframe(html: str) -> str:
    start = html.index('<iframe class="logout-frame" src="') + len('<iframe class="logout-frame" src="')
    return html[start : html.index('"', start)].replace("&amp;", "&")


def test_an_expired_hint_is_still_accepted(ctx, http, tenant, alice, rp):
    issued = signed_in_tokens(http, rp)
    sid = claims_of(http, issued["id_token"]).claims["sid"]
    with inspect_db(ctx) as db:
        signer = Signer(ISSUER, ctx.keys.get(db, tenant), tenant.access_token_alg, tenant.id_token_alg)
    expired = signer.id_token(
        client_id=rp.client_id, subject=alice.id, ttl=-3600, auth_time=0, nonce=None, access_token=None,
        user_claims={}, sid=sid,
    )  # fmt: skip
    response = http.get("/t/acme/logout", params={"id_token_hint": expired, "post_logout_redirect_uri": AFTER_LOGOUT})
    assert response.status_code == 200 and "You have signed out" in response.text
    assert not is_signed_in(http, rp)


@pytest.mark.parametrize(
    "params, reason",
    [
        ({"post_logout_redirect_uri": "https://evil.example/"}, "has not registered"),
        ({"post_logout_redirect_uri": AFTER_LOGOUT + "/"}, "has not registered"),  # exact match only
        ({"id_token_hint": "not-a-jwt"}, "malformed"),
        ({"client_id": "someone-else"}, "does not match"),
        ({"state": "a", "extra": "b", "_repeat": "state"}, "more than once"),
    ],
)
def test_bad_logout_requests_get_an_error_page_and_end_nothing(http, alice, rp, params, reason):
    issued = signed_in_tokens(http, rp)
    query = [("id_token_hint", issued["id_token"])]
    repeat = params.pop("_repeat", None)
    query = [(k, v) for k, v in query if k not in params] + list(params.items())
    if repeat:
        query.append((repeat, "again"))
    response = http.get("/t/acme/logout", params=query)
    assert response.status_code == 400
    assert reason in response.text
    assert "location" not in response.headers
    assert is_signed_in(http, rp)
    assert userinfo_status(http, issued["access_token"]) == 200


def test_a_post_logout_redirect_needs_to_know_the_client(http, alice, rp):
    signed_in_tokens(http, rp)
    response = http.get("/t/acme/logout", params={"post_logout_redirect_uri": AFTER_LOGOUT})
    assert response.status_code == 400 and "client_id" in response.text
    assert is_signed_in(http, rp)


def test_a_hint_from_another_issuer_is_refused(ctx, app, http, alice, rp):
    other = make_tenant(ctx, slug="globex", name="Globex")
    bob = make_user(ctx, other, email="bob@example.com")
    other_rp = make_client(ctx, other)
    result = sign_in(http, "globex", other_rp.client_id, email=bob.email, scope="openid")
    foreign = exchange(http, "globex", other_rp.client_id, other_rp.client_secret, result["code"], result["_verifier"])
    signed_in_tokens(http, rp)
    response = http.get("/t/acme/logout", params={"id_token_hint": foreign["id_token"]})
    assert response.status_code == 400
    assert is_signed_in(http, rp)


def confirm(http, page_html, decision="sign_out", everywhere=False):
    data = {"csrf_token": hidden(page_html, "csrf_token"), "sealed": hidden(page_html, "sealed"), "decision": decision}
    if everywhere:
        data["everywhere"] = "yes"
    return http.post("/t/acme/logout/confirm", data=data)


def test_without_a_hint_the_user_confirms_first(http, alice, rp):
    issued = signed_in_tokens(http, rp)
    page = http.get(
        "/t/acme/logout", params={"client_id": rp.client_id, "post_logout_redirect_uri": AFTER_LOGOUT, "state": "k"}
    )
    assert page.status_code == 200 and "Sign out of Acme Corp?" in page.text
    assert is_signed_in(http, rp)  # a link or an image elsewhere cannot sign anyone out
    stayed = confirm(http, page.text, decision="stay")
    assert stayed.status_code == 200 and "You are still signed in" in stayed.text
    assert is_signed_in(http, rp) and userinfo_status(http, issued["access_token"]) == 200
    done = confirm(http, page.text)
    assert done.status_code == 200 and "You have signed out" in done.text
    assert f'data-return-to="{AFTER_LOGOUT}?state=k"' in done.text
    assert not is_signed_in(http, rp)


def test_the_confirmation_is_csrf_protected(http, alice, rp):
    signed_in_tokens(http, rp)
    page = http.get("/t/acme/logout")
    forged = http.post(
        "/t/acme/logout/confirm",
        data={"csrf_token": "x" * 64, "sealed": hidden(page.text, "sealed"), "decision": "sign_out"},
    )
    assert forged.status_code == 400
    tampered = http.post(
        "/t/acme/logout/confirm",
        data={"csrf_token": hidden(page.text, "csrf_token"), "sealed": "e30.forged", "decision": "sign_out"},
    )
    assert tampered.status_code == 400
    assert is_signed_in(http, rp)


def test_a_hint_of_another_user_asks_for_confirmation(ctx, app, http, tenant, alice, rp):
    make_user(ctx, tenant, email="bob@example.com")
    with TestClient(app, base_url=PUBLIC_URL, follow_redirects=False) as bobs_browser:
        result = sign_in(bobs_browser, "acme", rp.client_id, email="bob@example.com", scope="openid")
        bobs = exchange(bobs_browser, "acme", rp.client_id, rp.client_secret, result["code"], result["_verifier"])
    signed_in_tokens(http, rp)
    page = http.get("/t/acme/logout", params={"id_token_hint": bobs["id_token"]})
    assert page.status_code == 200 and "Sign out of Acme Corp?" in page.text
    assert is_signed_in(http, rp)


def test_logout_without_a_session_just_returns(http, tenant, rp):
    response = http.get("/t/acme/logout", params={"client_id": rp.client_id, "post_logout_redirect_uri": AFTER_LOGOUT})
    assert response.status_code == 303 and response.headers["location"] == AFTER_LOGOUT
    plain = http.get("/t/acme/logout")
    assert plain.status_code == 200 and "You have signed out" in plain.text


def test_sign_out_everywhere_ends_every_session_and_grant(ctx, app, http, alice, rp, receiver):
    with TestClient(app, base_url=PUBLIC_URL, follow_redirects=False) as phone:
        on_phone = signed_in_tokens(phone, rp, scope="openid offline_access")
        here = signed_in_tokens(http, rp)
        page = http.get("/t/acme/logout")
        done = confirm(http, page.text, everywhere=True)
        assert done.status_code == 200
        assert not is_signed_in(http, rp) and not is_signed_in(phone, rp)
    assert userinfo_status(http, here["access_token"]) == 401
    assert userinfo_status(http, on_phone["access_token"]) == 401  # offline access too
    refreshed = http.post(
        "/t/acme/token",
        data={"grant_type": "refresh_token", "refresh_token": on_phone["refresh_token"]},
        auth=(rp.client_id, rp.client_secret),
    )
    assert refreshed.json()["error"] == "invalid_grant"
    receiver.wait(1)
    token = claims_of(http, receiver.received[0]).claims
    assert token["sub"] == alice.id and "sid" not in token  # sub alone: every session of the user (§2.4)
    with inspect_db(ctx) as db:
        assert all(s.revoked_at for s in db.exec(select(BrowserSession)))
        assert all(g.revoked_at for g in db.exec(select(Grant)))
        ended = db.exec(select(AuditEvent).where(AuditEvent.action == "session.ended")).all()
        assert len(ended) == 2 and {e.details["reason"] for e in ended} == {"sign_out_everywhere"}


def test_a_failed_delivery_is_retried_with_backoff_then_given_up(ctx, http, alice, rp, receiver):
    receiver.statuses = [500] * logout_delivery.MAX_ATTEMPTS
    issued = signed_in_tokens(http, rp)
    http.get("/t/acme/logout", params={"id_token_hint": issued["id_token"]})
    receiver.wait(1)

    def row():
        with inspect_db(ctx) as db:
            return db.exec(select(LogoutDelivery)).one()

    deadline = time.monotonic() + 10
    while row().attempts == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    first = row()
    assert (first.status, first.attempts, first.last_error) == ("pending", 1, "HTTP 500")
    assert first.next_attempt_at >= int(time.time()) + logout_delivery.BACKOFF[0] - 2
    for attempt in range(2, logout_delivery.MAX_ATTEMPTS + 1):
        with inspect_db(ctx) as db:  # the backoff has passed
            db.exec(
                LogoutDelivery.__table__.update().values(next_attempt_at=0)  # type: ignore[attr-defined]
            )
            db.commit()
        assert logout_delivery.deliver_due(ctx) in {0, 1}
        deadline = time.monotonic() + 10
        while row().attempts < attempt and time.monotonic() < deadline:  # or the background sender did it
            time.sleep(0.05)
    last = row()
    assert (last.status, last.attempts) == ("failed", logout_delivery.MAX_ATTEMPTS)
    assert len(receiver.received) == logout_delivery.MAX_ATTEMPTS  # never twice per attempt


def test_a_delivery_that_fails_once_is_delivered_on_retry(ctx, http, alice, rp, receiver):
    receiver.statuses = [503]
    issued = signed_in_tokens(http, rp)
    http.get("/t/acme/logout", params={"id_token_hint": issued["id_token"]})
    receiver.wait(1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the failed attempt recorded (its backoff set) before we skip it
        with inspect_db(ctx) as db:
            if db.exec(select(LogoutDelivery)).one().attempts == 1:
                break
        time.sleep(0.05)
    with inspect_db(ctx) as db:
        db.exec(LogoutDelivery.__table__.update().values(next_attempt_at=0))  # type: ignore[attr-defined]
        db.commit()
    logout_delivery.deliver_due(ctx)
    receiver.wait(2)
    with inspect_db(ctx) as db:
        delivery = db.exec(select(LogoutDelivery)).one()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("delivered", 2, "")
    # Each attempt is signed afresh: a retry never carries a token that may have expired meanwhile.
    first, second = (claims_of(http, t).claims for t in receiver.received)
    assert first["jti"] != second["jti"] and first["sid"] == second["sid"]


def test_prod_refuses_to_call_private_addresses():
    assert logout_delivery.address_problem("https://127.0.0.1/logout", prod=True) is not None
    assert logout_delivery.address_problem("https://10.1.2.3/logout", prod=True) is not None
    assert logout_delivery.address_problem("https://[::1]/logout", prod=True) is not None
    assert logout_delivery.address_problem("http://8.8.8.8/logout", prod=True) == "https is required"
    assert logout_delivery.address_problem("http://127.0.0.1:9/logout", prod=False) is None


@pytest.mark.parametrize(
    "uri, accepted",
    [
        ("https://app.example.com/logout?x=1", True),
        ("http://127.0.0.1:8080/logout", True),
        ("http://app.example.com/logout", False),
        ("https://app.example.com/logout#frag", False),
        ("com.example.app:/logout", False),
        ("javascript:alert(1)", False),
    ],
)
def test_logout_uris_are_validated_like_redirect_uris(http, ctx, tenant, uri, accepted):
    from identity.clients import ClientError  # noqa: PLC0415

    for field in ("backchannel_logout_uri", "frontchannel_logout_uri"):
        if accepted:
            assert getattr(make_client(ctx, tenant, **{field: uri}).client, field) == uri
        else:
            with pytest.raises(ClientError) as refused:
                make_client(ctx, tenant, **{field: uri})
            assert field in refused.value.fields


def test_sessions_before_sids_still_sign_out(ctx, http, alice, rp):
    """A session made before this release has no sid: it signs out, and no client is told about it."""
    signed_in_tokens(http, rp)
    with inspect_db(ctx) as db:
        db.exec(BrowserSession.__table__.update().values(sid=""))  # type: ignore[attr-defined]
        db.commit()
    page = http.get("/t/acme/logout")
    assert confirm(http, page.text).status_code == 200
    assert not is_signed_in(http, rp)
    with inspect_db(ctx) as db:
        assert db.exec(select(LogoutDelivery).where(col(LogoutDelivery.status) == "pending")).all() == []


def test_the_confirmation_checks_the_registration_again(ctx, http, alice, rp):
    from identity.clients import ClientSpec, update_client  # noqa: PLC0415
    from identity.models.client import Client  # noqa: PLC0415

    signed_in_tokens(http, rp)
    page = http.get("/t/acme/logout", params={"client_id": rp.client_id, "post_logout_redirect_uri": AFTER_LOGOUT})
    with inspect_db(ctx) as db:  # the developer removes the URI while the page is open
        client = db.exec(select(Client).where(Client.id == rp.client_id)).one()
        spec = ClientSpec(name=client.name, redirect_uris=list(client.redirect_uris), scopes=list(client.scopes))
        update_client(db, client, spec, dev=True)
        db.commit()
    refused = confirm(http, page.text)
    assert refused.status_code == 400 and "has not registered" in refused.text
    assert is_signed_in(http, rp)
