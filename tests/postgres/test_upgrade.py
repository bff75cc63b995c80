"""A rolling upgrade, for real: the previous release's code (the commit in tests/upgrade_baseline.txt, exported
with ``git archive``) migrates an empty PostgreSQL database and fills it through its CLI and its server; then
this code's migrations run while the old server keeps serving (as the Helm pre-upgrade Job does), and the old
and the new server run side by side on the one database, each reading what the other wrote.

The servers are plain uvicorn processes (``identity.app:create_app``, as ``identity serve`` runs in prod),
so neither migrates at start: the old code could not, its Alembic knows no revision newer than its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import inspect, text

from identity.db import make_engine
from tests.conftest import PG_URL, PUBLIC_URL, free_port
from tests.factories import PASSWORD, REDIRECT_URI
from tests.flow import exchange, sign_in
from tests.postgres.servers import ToPort

pytestmark = pytest.mark.postgres

REPO = Path(__file__).resolve().parents[2]
BASELINE_FILE = REPO / "tests" / "upgrade_baseline.txt"
SECRET_KEY = "upgrade-test-secret-key-" + "x" * 32
SLUG = "legacy"
EMAIL = "alice@example.com"


def baseline_commit() -> str:
    return BASELINE_FILE.read_text().split()[0]


def export_baseline(target: Path) -> Path:
    """The previous release's tree, from git (CI runs on a full clone, so the commit is there)."""
    commit = baseline_commit()
    found = subprocess.run(["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=REPO, capture_output=True)
    if found.returncode != 0:
        pytest.fail(
            f"the upgrade baseline {commit} (tests/upgrade_baseline.txt) is not in this clone: "
            "fetch the full history (git fetch --unshallow) to run the upgrade test"
        )
    archive = target / "baseline.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "archive", "--format=tar", commit], cwd=REPO, stdout=out, check=True)
    tree = target / "baseline"
    with tarfile.open(archive) as tar:
        tar.extractall(tree, filter="data")
    return tree


def code_env(tree: Path, database_url: str) -> dict[str, str]:
    """The environment of a process running the code in ``tree`` (same venv, that tree's packages first)."""
    return {
        **os.environ,
        "PYTHONPATH": str(tree),
        "IDENTITY_ENV": "dev",
        "IDENTITY_DATABASE_URL": database_url,
        "IDENTITY_SECRET_KEY": SECRET_KEY,
        "IDENTITY_PUBLIC_URL": PUBLIC_URL,  # one issuer for both servers, as behind one load balancer
        "IDENTITY_USAGE_FLUSH_SECONDS": "3600",  # no background writes between the row counts
    }


def cli(tree: Path, database_url: str, *args: str, stdin: str | None = None) -> dict:  # type: ignore[type-arg]
    done = subprocess.run(
        [sys.executable, "-m", "identity.cli", *args, "--json"],
        cwd=tree,
        env=code_env(tree, database_url),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"{tree.name}: identity {' '.join(args)} failed:\n{done.stderr}"
    return json.loads(done.stdout)  # type: ignore[no-any-return]


@contextmanager
def server(tree: Path, database_url: str) -> Iterator[httpx.Client]:
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "identity.app:create_app", "--factory", "--port", str(port)]
    command += ["--host", "127.0.0.1", "--log-level", "warning"]
    process = subprocess.Popen(command, cwd=tree, env=code_env(tree, database_url))
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, f"the {tree.name} server exited"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"the {tree.name} server did not come up"
            time.sleep(0.1)
        with httpx.Client(base_url=PUBLIC_URL, transport=ToPort(port)) as client:
            yield client
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.fixture
def empty_database() -> Iterator[str]:
    """A database of its own, next to the test database, empty."""
    base, _, name = PG_URL.rpartition("/")
    database = f"{name}_upgrade"
    admin = make_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{database}"'))
    yield f"{base}/{database}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    admin.dispose()


def row_counts(database_url: str) -> dict[str, int]:
    engine = make_engine(database_url)
    with engine.connect() as conn:
        names = [n for n in inspect(conn).get_table_names() if n != "alembic_version"]
        counts = {n: int(conn.execute(text(f'SELECT count(*) FROM "{n}"')).scalar_one()) for n in names}
    engine.dispose()
    return counts


def revision(database_url: str) -> str:
    engine = make_engine(database_url)
    with engine.connect() as conn:
        value = str(conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one())
    engine.dispose()
    return value


def refresh(http: httpx.Client, client: dict, token: str) -> httpx.Response:  # type: ignore[type-arg]
    data = {"grant_type": "refresh_token", "refresh_token": token}
    return http.post(f"/t/{SLUG}/token", data=data, auth=(client["client_id"], client["client_secret"]))


def userinfo(http: httpx.Client, access_token: str) -> httpx.Response:
    return http.get(f"/t/{SLUG}/userinfo", headers={"Authorization": f"Bearer {access_token}"})


def introspect(http: httpx.Client, client: dict, token: str) -> dict:  # type: ignore[type-arg]
    auth = (client["client_id"], client["client_secret"])
    response = http.post(f"/t/{SLUG}/introspect", data={"token": token}, auth=auth)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def client_credentials(http: httpx.Client, client: dict) -> httpx.Response:  # type: ignore[type-arg]
    auth = (client["client_id"], client["client_secret"])
    return http.post(f"/t/{SLUG}/token", data={"grant_type": "client_credentials"}, auth=auth)


def code_flow(http: httpx.Client, client: dict) -> dict:  # type: ignore[type-arg]
    """The user signs in (consent remembered or given) and the app redeems the code."""
    result = sign_in(http, SLUG, client["client_id"], email=EMAIL, password=PASSWORD)  # type: ignore[arg-type]
    tokens = exchange(http, SLUG, client["client_id"], client["client_secret"], result["code"], result["_verifier"])  # type: ignore[arg-type]
    assert tokens["status"] == 200, tokens
    return tokens


def test_previous_release_and_this_one_side_by_side(empty_database, tmp_path):
    old_tree, new_tree = export_baseline(tmp_path), REPO
    url = empty_database

    # The previous release: its schema, its CLI's tenant, app and user, its server's tokens.
    cli(old_tree, url, "migrate")
    old_revision = revision(url)
    cli(old_tree, url, "tenant", "create", SLUG, "--name", "Legacy Co")
    grants = ["authorization_code", "refresh_token", "client_credentials"]
    app = cli(
        old_tree,
        url,
        "client",
        "create",
        "--tenant",
        SLUG,
        "--name",
        "Legacy app",
        "--redirect-uri",
        REDIRECT_URI,
        *(arg for grant in grants for arg in ("--grant-type", grant)),
        *(arg for scope in ("openid", "profile", "email", "offline_access") for arg in ("--scope", scope)),
    )
    user = cli(old_tree, url, "user", "create", "--tenant", SLUG, "--email", EMAIL, "--password-stdin", stdin=PASSWORD)

    with server(old_tree, url) as old:
        old_discovery = old.get(f"/t/{SLUG}/.well-known/openid-configuration").json()
        old_jwks = old.get(old_discovery["jwks_uri"].removeprefix(PUBLIC_URL))
        assert old_jwks.status_code == 200
        from_old = code_flow(old, app)
        m2m_old = client_credentials(old, app)
        assert m2m_old.status_code == 200

        # This release's migrations run while the old server keeps serving; nothing is lost.
        before = row_counts(url)
        assert before["users"] == 1 and before["refresh_tokens"] == 1 and before["signing_keys"] >= 1
        cli(new_tree, url, "migrate")
        assert row_counts(url) == before
        new_revision = revision(url)
        assert new_revision >= old_revision

        with server(new_tree, url) as new:
            # Old data through both: the tenant's discovery and keys.
            for http in (old, new):
                discovery = http.get(f"/t/{SLUG}/.well-known/openid-configuration")
                assert discovery.status_code == 200
                assert discovery.json()["issuer"] == old_discovery["issuer"] == f"{PUBLIC_URL}/t/{SLUG}"
                jwks = http.get(old_discovery["jwks_uri"].removeprefix(PUBLIC_URL))
                assert jwks.status_code == 200 and jwks.json() == old_jwks.json()

            # Both stay ready (from the release that has /readyz on; earlier ones answer 404): an old pod that
            # reported "not ready" on the expanded schema would leave the rollout with no pods in service.
            for http in (old, new):
                ready = http.get("/readyz")
                if ready.status_code != 404:
                    assert ready.status_code == 200, ready.text

            # The old server's tokens work on the new one: userinfo, introspection, the refresh token.
            assert userinfo(new, from_old["access_token"]).json()["sub"] == user["sub"]
            assert introspect(new, app, from_old["access_token"])["active"] is True
            assert introspect(new, app, m2m_old.json()["access_token"])["active"] is True
            renewed_by_new = refresh(new, app, from_old["refresh_token"])
            assert renewed_by_new.status_code == 200, renewed_by_new.text
            renewed_by_new_tokens = renewed_by_new.json()

            # What the new server wrote, the old one reads: its access token, its rotated refresh token.
            assert userinfo(old, renewed_by_new_tokens["access_token"]).json()["sub"] == user["sub"]
            assert introspect(old, app, renewed_by_new_tokens["access_token"])["active"] is True
            renewed_by_old = refresh(old, app, renewed_by_new_tokens["refresh_token"])
            assert renewed_by_old.status_code == 200, renewed_by_old.text
            # Rotation holds across versions: the token the old server just rotated is reuse at the new one.
            reused = refresh(new, app, renewed_by_new_tokens["refresh_token"])
            assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"

            # The user signs in on both; the app's secret (stored by the old code) works on both.
            for http, other in ((old, new), (new, old)):
                tokens = code_flow(http, app)
                assert userinfo(other, tokens["access_token"]).json()["sub"] == user["sub"]
                assert introspect(other, app, tokens["refresh_token"])["active"] is True
                m2m = client_credentials(http, app)
                assert m2m.status_code == 200, m2m.text
                assert introspect(other, app, m2m.json()["access_token"])["active"] is True

    # Nothing written before the upgrade went missing (the flows above only add rows).
    after = row_counts(url)
    assert all(after[table] >= count for table, count in before.items()), (before, after)
    assert (after["users"], after["clients"], after["tenants"]) == (1, before["clients"], before["tenants"])
