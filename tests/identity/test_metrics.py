"""What the metrics count, in one process (its own registry): requests by route template and bounded
tenant label (the fast lane's answers too), tokens per grant, logins, replays, caches; the request id of
every response and of every log line made while serving it."""

from __future__ import annotations

import io
import json
import logging
import multiprocessing
import re
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Histogram
from starlette.testclient import TestClient

from identity import metrics, observe
from identity.app import create_app
from identity.logging import JsonFormatter
from identity.models.tenant import DEVICE_CODE
from identity.settings import Settings, SettingsError
from tests.conftest import PUBLIC_URL, make_settings
from tests.device import approve, poll, started
from tests.factories import PASSWORD, REDIRECT_URI, make_client, make_tenant, make_user
from tests.flow import exchange, pkce_pair, sign_in, submit_login

DISCOVERY = "/t/{tenant}/.well-known/openid-configuration"
TOKEN = "/t/{tenant}/token"
LEGACY = ["authorization_code", "refresh_token", "client_credentials", DEVICE_CODE, "password", "implicit"]


def sample(name: str, **labels: str) -> float:
    registry = metrics.registry()
    assert registry is not None, "tests run the in-process registry"
    return registry.get_sample_value(name, labels) or 0.0


class Delta:
    """Counts since this was made (the registry is the process's: other tests count into it too)."""

    def __init__(self) -> None:
        self.before: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}

    def __call__(self, name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return sample(name, **labels) - self.before.setdefault(key, 0.0)

    def start(self, *names: tuple[str, dict[str, str]]) -> Delta:
        for name, labels in names:
            self.before[(name, tuple(sorted(labels.items())))] = sample(name, **labels)
        return self


@pytest.fixture
def observed(database_url: str) -> Iterator[tuple[object, TestClient]]:
    app = create_app(make_settings(database_url, cache_seconds=60, metrics_tenants=("acme",), access_log=True))
    with TestClient(app, base_url=PUBLIC_URL, follow_redirects=False) as http:
        yield app.state.ctx, http
    app.state.ctx.engine.dispose()


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logging.getLogger("identity").addHandler(handler)
    yield stream
    logging.getLogger("identity").removeHandler(handler)


def test_requests_are_counted_by_route_template_and_bounded_tenant(observed):
    ctx, http = observed
    make_tenant(ctx)
    make_tenant(ctx, slug="globex", name="Globex")
    requests = "identity_http_requests_total"
    watched = [
        (requests, {"route": DISCOVERY, "method": "GET", "status": "200", "tenant": "acme"}),
        (requests, {"route": DISCOVERY, "method": "GET", "status": "200", "tenant": "other"}),
        (requests, {"route": "unmatched", "method": "GET", "status": "404", "tenant": ""}),
        (requests, {"route": "/t/{tenant}/userinfo", "method": "other", "status": "405", "tenant": "acme"}),
        (requests, {"route": "/healthz", "method": "GET", "status": "200", "tenant": ""}),
        (requests, {"route": "/static/{path}", "method": "GET", "status": "200", "tenant": ""}),
        (requests, {"route": "/t/{tenant}/.well-known/jwks.json", "method": "GET", "status": "404", "tenant": "other"}),
    ]
    delta = Delta().start(*watched)
    duration = Delta().start(
        ("identity_http_request_duration_seconds_count", {"route": DISCOVERY, "method": "GET", "tenant": "acme"})
    )
    for _ in range(3):  # the first from the app, the others from the fast lane: one route
        assert http.get("/t/acme/.well-known/openid-configuration").status_code == 200
    assert http.get("/t/globex/.well-known/openid-configuration").status_code == 200  # not listed: "other"
    assert http.get("/no/such/page?code=secret").status_code == 404
    assert http.request("BREW", "/t/acme/userinfo").status_code == 405  # any method a client makes up: "other"
    assert http.get("/healthz").status_code == 200
    assert http.get("/static/css/admin.css").status_code == 200
    assert http.get("/t/nobody-here/.well-known/jwks.json").status_code == 404  # an unknown tenant: "other"
    assert [delta(name, **labels) for name, labels in watched] == [3, 1, 1, 1, 1, 1, 1]
    assert duration("identity_http_request_duration_seconds_count", route=DISCOVERY, method="GET", tenant="acme") == 3
    assert sample("identity_http_requests_total", route="/no/such/page", method="GET", status="404", tenant="") == 0


def test_tokens_by_grant_logins_replays_and_caches(observed):
    ctx, http = observed
    tenant = make_tenant(ctx, allowed_grant_types=LEGACY)
    make_user(ctx, tenant)
    web = make_client(
        ctx, tenant, grant_types=["authorization_code", "refresh_token", "client_credentials", DEVICE_CODE, "password"]
    )
    spa = make_client(ctx, tenant, public=True, grant_types=["implicit"], scopes=["openid", "profile"])
    issued, logins = "identity_tokens_issued_total", "identity_logins_total"
    grants = ["authorization_code", "refresh_token", "client_credentials", "password", "implicit", DEVICE_CODE]
    delta = Delta().start(
        *[(issued, {"grant_type": g}) for g in grants],
        (logins, {"result": "success"}),
        (logins, {"result": "failure"}),
        ("identity_code_replay_detected_total", {}),
        ("identity_refresh_token_reuse_detected_total", {}),
        ("identity_cache_lookups_total", {"cache": "client", "result": "hit"}),
        ("identity_password_queue_wait_seconds_count", {}),
    )
    auth = (web.client_id, web.client_secret)
    result = sign_in(http, "acme", web.client_id)  # a hosted login: success
    tokens = exchange(http, "acme", web.client_id, web.client_secret, result["code"], result["_verifier"])
    assert tokens["status"] == 200
    again = exchange(http, "acme", web.client_id, web.client_secret, result["code"], result["_verifier"])
    assert again["status"] == 400  # the code replayed
    second = sign_in(http, "acme", web.client_id)  # (the session: no login)
    fresh = exchange(http, "acme", web.client_id, web.client_secret, second["code"], second["_verifier"])
    rotate = {"grant_type": "refresh_token", "refresh_token": fresh["refresh_token"]}
    assert http.post("/t/acme/token", data=rotate, auth=auth).status_code == 200
    assert http.post("/t/acme/token", data=rotate, auth=auth).status_code == 400  # reused
    for _ in range(2):
        assert http.post("/t/acme/token", data={"grant_type": "client_credentials"}, auth=auth).status_code == 200
    password = {"grant_type": "password", "username": "alice@example.com", "scope": "openid"}
    assert http.post("/t/acme/token", data={**password, "password": PASSWORD}, auth=auth).status_code == 200
    assert http.post("/t/acme/token", data={**password, "password": "wrong"}, auth=auth).status_code == 400
    implicit = sign_in(http, "acme", spa.client_id, scope="openid profile", response_type="id_token token")
    assert implicit["access_token"]
    device = started(http, web, scope="openid")
    http.cookies.clear()  # the device's user signs in on the device page: a hosted login again
    approve(http, device["user_code"], scopes=())
    assert poll(http, web, device["device_code"]).status_code == 200

    assert [delta(issued, grant_type=g) for g in grants] == [2, 1, 2, 1, 1, 1]
    assert delta(logins, result="success") == 3  # two hosted logins and the password grant
    assert delta(logins, result="failure") == 1  # the password grant's wrong password
    assert delta("identity_code_replay_detected_total") == 1
    assert delta("identity_refresh_token_reuse_detected_total") == 1
    assert delta("identity_cache_lookups_total", cache="client", result="hit") > 0
    assert delta("identity_password_queue_wait_seconds_count") == 4
    assert sample("identity_password_queue_depth") == 0


def test_a_wrong_password_on_the_login_page_is_a_failed_login(observed):
    ctx, http = observed
    tenant = make_tenant(ctx)
    make_user(ctx, tenant)
    app = make_client(ctx, tenant)
    delta = Delta().start(("identity_logins_total", {"result": "failure"}))
    _verifier, challenge = pkce_pair()
    start = http.get(
        "/t/acme/authorize",
        params={
            "response_type": "code",
            "client_id": app.client_id,
            "redirect_uri": REDIRECT_URI,
            "scope": "openid",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
    )
    page = http.get(start.headers["location"])
    assert submit_login(http, "acme", page.text, "alice@example.com", "not it").status_code == 401
    assert delta("identity_logins_total", result="failure") == 1


def test_the_request_id_is_the_clients_when_well_formed_and_in_every_line_of_its_request(observed, log_lines):
    ctx, http = observed
    make_tenant(ctx)
    kept = http.get("/t/acme/.well-known/jwks.json", headers={"X-Request-ID": "trace.A-1_2"})
    assert kept.headers["x-request-id"] == "trace.A-1_2"
    for refused in ("has space", "x" * 129, "semi;colon", ""):
        answer = http.get("/t/acme/.well-known/jwks.json", headers={"X-Request-ID": refused})
        assert len(answer.headers["x-request-id"]) == 32 and answer.headers["x-request-id"] != refused
    own = http.get("/t/acme/.well-known/jwks.json").headers["x-request-id"]
    assert own != answer.headers["x-request-id"]
    # A request that logs on its way (a replay warning) and its access line share the id, route and tenant.
    bad = http.post(
        "/t/acme/token?code=in-the-query",
        data={"grant_type": "client_credentials"},
        auth=("nobody", "nothing"),
        headers={"X-Request-ID": "token-req-7"},
    )
    assert bad.status_code == 401 and bad.headers["x-request-id"] == "token-req-7"
    entries = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    mine = [e for e in entries if e["request_id"] == "token-req-7"]
    assert mine and all(e["route"] == "/t/{tenant}/token" and e["tenant"] == "acme" for e in mine)
    access = [e for e in mine if e["logger"] == "identity.access"]
    assert len(access) == 1 and access[0]["status"] == 401 and access[0]["method"] == "POST"
    assert "in-the-query" not in log_lines.getvalue()
    outside = logging.getLogger("identity.test")
    outside.info("between requests")
    last = json.loads(log_lines.getvalue().splitlines()[-1])
    assert (last["msg"], last["request_id"], last["tenant"], last["route"]) == ("between requests", "", "", "")


def test_counters_for_the_outage_handlers_and_the_pool(observed):
    ctx, http = observed
    delta = Delta().start(("identity_db_unavailable_total", {}))
    metrics.count_db_unavailable()
    assert delta("identity_db_unavailable_total") == 1
    with ctx.engine.connect():
        metrics.sample_pool(ctx.engine)
        assert sample("identity_db_pool_connections", state="checked_out") >= 1
        held = sample("identity_db_pool_connections", state="checked_out")
    metrics.sample_pool(ctx.engine)  # (the app's background tasks may hold one of their own meanwhile)
    assert sample("identity_db_pool_connections", state="checked_out") <= held - 1
    assert sample("identity_db_pool_connections", state="idle") >= 1


def test_flushed_http_counts_are_what_observing_each_request_would_have_written(observed):
    """The per-worker sums (``metrics.flush``) write prometheus_client's private histogram values: the same
    buckets, sum and count as ``Histogram.observe`` once per request, bounds included."""
    durations = [0.0, 0.0004, 0.0005, 0.00051, 0.003, 0.005, 0.7, 1.0, 9.99, 10.0, 42.0]
    reference = Histogram("reference", "", buckets=metrics.HTTP_BUCKETS, registry=CollectorRegistry())
    for seconds in durations:
        reference.observe(seconds)
        metrics.record_request("/flush-test", "GET", 200, "", seconds)
    expected = {s.labels.get("le"): s.value for s in reference.collect()[0].samples if s.name != "reference_created"}
    registry = metrics.registry()  # (flushes)
    assert registry is not None
    name = "identity_http_request_duration_seconds"
    labels = {"route": "/flush-test", "method": "GET", "tenant": ""}
    for le in [*(str(float(b)) for b in metrics.HTTP_BUCKETS), "+Inf"]:
        assert registry.get_sample_value(f"{name}_bucket", {**labels, "le": le}) == expected[le], le
    assert registry.get_sample_value(f"{name}_count", labels) == len(durations)
    assert registry.get_sample_value(f"{name}_sum", labels) == pytest.approx(sum(durations))
    assert sample("identity_http_requests_total", status="200", **labels) == len(durations)
    metrics.flush()  # nothing pending: nothing counted twice
    assert sample("identity_http_requests_total", status="200", **labels) == len(durations)


def test_new_request_ids_are_unique_in_a_forked_worker_too():
    here = [observe.request_id_of({"headers": []}) for _ in range(3)]
    assert len(set(here)) == 3 and all(re.fullmatch("[0-9a-f]{32}", rid) for rid in here)
    assert len({rid[:16] for rid in here}) == 1  # one process, one prefix, a counter after it
    with multiprocessing.get_context("fork").Pool(1) as pool:
        child = pool.apply(observe.request_id_of, ({"headers": []},))
    assert child[:16] != here[0][:16]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("METRICS_PORT", "nine", "whole number"),
        ("METRICS_PORT", "70000", "between 0"),
        ("METRICS_PORT", "-1", "between 0"),
        ("METRICS_DIR", "relative/dir", "absolute"),
        ("METRICS_TENANTS", "acme,Not A Slug", "slugs"),
    ],
)
def test_bad_metrics_settings_are_refused(name, value, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({f"IDENTITY_{name}": value})


def test_metrics_settings_are_read():
    settings = Settings.from_env(
        {"IDENTITY_METRICS_PORT": "0", "IDENTITY_METRICS_DIR": "/tmp/m", "IDENTITY_METRICS_TENANTS": " acme, globex ,"}
    )
    assert (settings.metrics_port, settings.metrics_dir, settings.metrics_tenants) == (0, "/tmp/m", ("acme", "globex"))
    assert Settings.from_env({}).metrics_port == 9464
