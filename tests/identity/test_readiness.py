"""``/readyz`` (may this process take traffic?) and the 503 a database outage is answered with, on SQLite:
a database file that cannot be opened is as unavailable as a PostgreSQL server that is down
(tests/postgres/test_database_faults.py covers those)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from alembic import command
from sqlalchemy import text
from starlette.testclient import TestClient

from identity.app import create_app
from identity.migrate import alembic_config
from identity.readiness import migration_head
from tests.conftest import PUBLIC_URL, make_settings
from tests.factories import make_tenant


def test_ready_when_database_schema_and_keys_are(http, ctx):
    make_tenant(ctx)
    response = http.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "migrations": "ok", "keys": "ok"}}
    assert response.headers["cache-control"] == "no-store"


def test_not_ready_with_another_secret_key(ctx, database_url):
    make_tenant(ctx)  # its keys are sealed with the test's secret
    other = replace(make_settings(database_url), secret_key="another-secret-key-" + "y" * 32)
    with TestClient(create_app(other), base_url=PUBLIC_URL) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not_ready"
    assert body["checks"]["database"] == "ok" and body["checks"]["migrations"] == "ok"
    assert "IDENTITY_SECRET_KEY" in body["checks"]["keys"]


def test_not_ready_until_migrated_to_head(database_url):
    # The database says it is one revision behind this code (as before `identity migrate` ran).
    command.stamp(alembic_config(database_url), "0012")
    with TestClient(create_app(make_settings(database_url)), base_url=PUBLIC_URL) as client:
        behind = client.get("/readyz")
        assert behind.status_code == 503
        assert behind.json()["checks"]["migrations"] == f"at 0012, expected {migration_head()}"
        command.stamp(alembic_config(database_url), "head")  # (the schema is at head: only the record moves)
        assert client.get("/readyz").status_code == 200


def test_ready_on_a_schema_a_newer_release_migrated_ahead(database_url, ctx):
    # A rolling upgrade: the new release's migration Job has run (a revision this code does not ship), and the
    # old pods must stay in service until the new ones replace them; so must the old code after a rollback.
    with ctx.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with TestClient(create_app(make_settings(database_url)), base_url=PUBLIC_URL) as client:
        ahead = client.get("/readyz")
    assert ahead.status_code == 200, ahead.json()
    assert ahead.json()["checks"]["migrations"] == "ok"


def test_database_unavailable_is_a_503_in_each_endpoints_shape(tmp_path: Path):
    gone = f"sqlite:///{tmp_path / 'no-such-directory' / 'identity.db'}"  # SQLite: unable to open database file
    with TestClient(create_app(make_settings(gone)), base_url=PUBLIC_URL, raise_server_exceptions=False) as client:
        assert client.get("/healthz").status_code == 200  # alive: no restart wanted
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["database"] == "unavailable"

        token = client.post("/t/acme/token", data={"grant_type": "client_credentials"}, auth=("app", "secret"))
        assert token.status_code == 503
        assert token.json()["error"] == "temporarily_unavailable"
        assert token.headers["retry-after"] == "2" and token.headers["cache-control"] == "no-store"

        api = client.get("/t/acme/api/users", headers={"Authorization": "Bearer not-checked-yet"})
        assert api.status_code == 503
        assert api.headers["content-type"] == "application/problem+json"
        assert api.json()["type"].endswith("/temporarily_unavailable") and api.json()["status"] == 503

        login = client.get("/t/acme/login?flow=x", headers={"Accept-Language": "de"})
        assert login.status_code == 503 and login.headers["content-type"].startswith("text/html")
        assert "Vorübergehend nicht verfügbar" in login.text and "Traceback" not in login.text
        assert login.headers["retry-after"] == "2"
