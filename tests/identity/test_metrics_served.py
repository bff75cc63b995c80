"""``identity serve --workers 2``: what both workers counted is summed at ``GET /metrics`` on the management
port, and only there."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict

from identity import metrics
from tests.flow import hidden
from tests.served import (
    PROD_SECRET,
    ROOT,
    Samples,
    identity_serve,
    metric_value,
    scrape_metrics,
    served_environment,
)

DISCOVERY = "/t/demo/.well-known/openid-configuration"
DISCOVERY_ROUTE = "/t/{tenant}/.well-known/openid-configuration"
N = 40
BOTH_WORKERS_SECONDS = 60
QUIET_SECONDS = 10


def per_worker_discovery_counts(directory: Path) -> dict[str, float]:
    """What each worker's own file holds (the file names carry the pid)."""
    counts: dict[str, float] = defaultdict(float)
    for path in directory.glob("counter_*.db"):
        for key, count, _ts, _pos in MmapedDict.read_all_values_from_file(str(path)):
            _metric, name, labels, *_ = json.loads(key)
            if name == "identity_http_requests_total" and labels.get("route") == DISCOVERY_ROUTE:
                counts[path.name] += count
    return counts


def wrong_password_login(base: str, client_id: str, redirect_uri: str, email: str) -> int:
    with httpx.Client(base_url=base, follow_redirects=False, timeout=30) as http:
        params = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": "openid",
            "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "code_challenge_method": "S256",
        }
        login = http.get(http.get("/t/demo/authorize", params=params).headers["location"])
        answer = http.post(
            "/t/demo/login",
            data={
                "csrf_token": hidden(login.text, "csrf_token"),
                "flow": hidden(login.text, "flow"),
                "email": email,
                "password": "not the password",
            },
        )
        return answer.status_code


def test_two_workers_counts_are_summed_on_the_management_port_only(database_url, tmp_path):
    metrics_dir = tmp_path / "metrics"
    with identity_serve(
        database_url, tmp_path, workers=2, args=["--json"], IDENTITY_METRICS_DIR=str(metrics_dir)
    ) as served:
        demo = json.loads(served.stdout.read_text().splitlines()[0])["demo"]
        before = scrape_metrics(served.metrics_url)

        def discover(_: int) -> int:  # a new connection each: the two workers share the accepting
            return httpx.get(served.url + DISCOVERY, headers={"Connection": "close"}, timeout=10).status_code

        # The kernel hands connections to whichever worker accepts first; on a busy machine one may take
        # whole batches, or still be starting. Send batches until both have answered some (then the sum is
        # what it must prove), for a while rather than a number of batches.
        sent = 0
        deadline = time.monotonic() + BOTH_WORKERS_SECONDS
        with ThreadPoolExecutor(8) as pool:
            while time.monotonic() < deadline:
                assert set(pool.map(discover, range(N))) == {200}
                sent += N
                if len([c for c in per_worker_discovery_counts(metrics_dir).values() if c > 0]) == 2:
                    break
        credentials = (demo["client_id"], demo["client_secret"])
        for _ in range(3):
            token = httpx.post(
                served.url + "/t/demo/token", data={"grant_type": "client_credentials"}, auth=credentials
            )
            assert token.status_code == 200, token.text
        assert wrong_password_login(served.url, demo["client_id"], demo["redirect_uri"], demo["user_email"]) == 401
        assert httpx.get(served.url + "/metrics").status_code == 404  # never on the main port
        assert httpx.get(served.metrics_url.replace("/metrics", "/other")).status_code == 404

        # Each worker samples its pool and writes its HTTP counts at PUBLISH_SECONDS' pace, later on a loaded
        # machine: scrape until the last request's connection is back in its pool (a leaked one never is) and
        # the last requests are counted, for a while.
        requests = "identity_http_requests_total"
        labels = {"route": DISCOVERY_ROUTE, "method": "GET", "status": "200", "tenant": "other"}
        login_failed = {"route": "/t/{tenant}/login", "method": "POST", "status": "401", "tenant": "other"}

        def settled(scraped: Samples) -> bool:
            return (
                metric_value(scraped, "identity_db_pool_connections", state="checked_out") == 0
                and metric_value(scraped, requests, **labels) - metric_value(before, requests, **labels) >= sent
                and metric_value(scraped, requests, **login_failed) >= 1
            )

        deadline = time.monotonic() + QUIET_SECONDS
        time.sleep(metrics.PUBLISH_SECONDS + 0.5)
        after = scrape_metrics(served.metrics_url)
        while not settled(after) and time.monotonic() < deadline:
            time.sleep(metrics.PUBLISH_SECONDS)
            after = scrape_metrics(served.metrics_url)
        workers = per_worker_discovery_counts(metrics_dir)

    assert metric_value(after, requests, **labels) - metric_value(before, requests, **labels) == sent
    assert sum(workers.values()) == sent and len([c for c in workers.values() if c > 0]) == 2, workers
    duration = "identity_http_request_duration_seconds_count"
    assert metric_value(after, duration, route=DISCOVERY_ROUTE, method="GET", tenant="other") >= sent
    issued = "identity_tokens_issued_total"
    assert (
        metric_value(after, issued, grant_type="client_credentials")
        - metric_value(before, issued, grant_type="client_credentials")
        == 3
    )
    assert (
        metric_value(after, "identity_logins_total", result="failure")
        - metric_value(before, "identity_logins_total", result="failure")
        == 1
    )
    assert metric_value(after, requests, **login_failed) == 1
    assert metric_value(after, requests, route="unmatched", method="GET", status="404", tenant="") >= 1
    # Each live worker reports its pool; both idle connections and none checked out once quiet.
    assert metric_value(after, "identity_db_pool_connections", state="checked_out") == 0
    assert metric_value(after, "identity_db_pool_connections", state="idle") >= 2
    assert metric_value(after, "identity_password_queue_wait_seconds_count") >= 1
    assert metric_value(after, "identity_password_queue_depth") == 0
    assert metric_value(after, "identity_cache_lookups_total", cache="tenant", result="hit") > 0
    for name in ("identity_refresh_token_reuse_detected_total", "identity_code_replay_detected_total"):
        assert (name, ()) in after


def test_metrics_port_0_serves_no_metrics(database_url, tmp_path):
    with identity_serve(database_url, tmp_path, IDENTITY_METRICS_PORT="0") as served:
        assert httpx.get(served.url + DISCOVERY).status_code == 200
        assert httpx.get(served.url + "/metrics").status_code == 404
        with pytest.raises(httpx.ConnectError):  # (the port the test would have given it: nothing listens)
            httpx.get(served.metrics_url)


def test_a_busy_metrics_port_stops_a_prod_server_and_only_warns_in_dev(database_url, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = str(taken.getsockname()[1])
        prod = {"IDENTITY_ENV": "prod", "IDENTITY_SECRET_KEY": PROD_SECRET}
        env = {**served_environment(database_url, "http://127.0.0.1:9"), **prod, "IDENTITY_METRICS_PORT": busy}
        refused = subprocess.run(
            [sys.executable, "-m", "identity.cli", "serve", "--port", "9"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert refused.returncode != 0 and f"cannot serve metrics on 127.0.0.1:{busy}" in refused.stderr
        with identity_serve(database_url, tmp_path, IDENTITY_METRICS_PORT=busy) as served:
            assert httpx.get(served.url + DISCOVERY).status_code == 200
        assert "no metrics: cannot serve them" in served.stderr.read_text()
