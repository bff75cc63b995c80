"""The ``identity`` command, run as a user would: a subprocess, --json output, exit codes."""

import json
import os
import subprocess
import sys

import pytest
from sqlalchemy import create_engine, text


@pytest.fixture
def cli(database_url):
    env = {**os.environ, "IDENTITY_DATABASE_URL": database_url, "IDENTITY_SECRET_KEY": "cli-test-" + "k" * 32}

    def run(*args, stdin=None):
        return subprocess.run(
            [sys.executable, "-m", "identity.cli", *args],
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )

    return run


def ok_json(result):
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_cli_provisions_a_working_tenant(cli):
    tenant = ok_json(cli("tenant", "create", "acme", "--name", "Acme Corp", "--json"))
    assert tenant["issuer"].endswith("/t/acme") and tenant["discovery"].endswith("/.well-known/openid-configuration")
    web = ok_json(
        cli(
            "client",
            "create",
            "--tenant",
            "acme",
            "--name",
            "Web",
            "--redirect-uri",
            "https://app.example.com/cb",
            "--redirect-uri",
            "http://127.0.0.1:8080/cb",
            "--json",
        )
    )
    assert web["client_secret"] and web["grant_types"] == ["authorization_code", "refresh_token"]
    assert web["redirect_uris"] == ["https://app.example.com/cb", "http://127.0.0.1:8080/cb"]
    spa = ok_json(
        cli(
            "client",
            "create",
            "--tenant",
            "acme",
            "--name",
            "SPA",
            "--public",
            "--redirect-uri",
            "https://spa.example.com/cb",
            "--json",
        )
    )
    assert spa["client_secret"] is None and spa["require_pkce"] is True
    scope = ok_json(
        cli("scope", "create", "--tenant", "acme", "--name", "read:reports", "--description", "Read", "--json")
    )
    assert scope["name"] == "read:reports"
    m2m = ok_json(
        cli(
            "client",
            "create",
            "--tenant",
            "acme",
            "--name",
            "Batch",
            "--grant-type",
            "client_credentials",
            "--scope",
            "read:reports",
            "--json",
        )
    )
    assert m2m["grant_types"] == ["client_credentials"] and m2m["scopes"] == ["read:reports"]
    user = ok_json(
        cli(
            "user",
            "create",
            "--tenant",
            "acme",
            "--email",
            "alice@example.com",
            "--password-stdin",
            "--name",
            "Alice",
            "--json",
            stdin="correct horse battery\n",
        )
    )
    assert user["sub"] and user["email"] == "alice@example.com"
    rotated = ok_json(cli("keys", "rotate", "--tenant", "acme", "--json"))
    assert set(rotated["signing"]) == {"RS256", "ES256"} and rotated["keys_version"] == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (("tenant", "create", "Bad_Slug"), "slug: 3–40 lowercase letters"),
        (("tenant", "create", "ab"), "slug: 3–40 lowercase letters"),
        (
            ("client", "create", "--tenant", "nope", "--name", "x", "--redirect-uri", "https://a.example/cb"),
            "unknown tenant",
        ),
        (("client", "create", "--tenant", "acme", "--name", "x", "--redirect-uri", "http://evil.example/cb"), "https"),
        (
            ("client", "create", "--tenant", "acme", "--name", "x", "--redirect-uri", "https://a.example/cb#frag"),
            "fragment",
        ),
        (("client", "create", "--tenant", "acme", "--name", "x", "--redirect-uri", "https://*.example/cb"), "wildcard"),
        (("client", "create", "--tenant", "acme", "--name", "x", "--redirect-uri", "myapp:/cb"), "reversed domain"),
        (
            ("client", "create", "--tenant", "acme", "--name", "x", "--public", "--grant-type", "client_credentials"),
            "public",
        ),
        (("client", "create", "--tenant", "acme", "--name", "x", "--grant-type", "magic_link"), "not supported"),
        (
            (
                "client",
                "create",
                "--tenant",
                "acme",
                "--name",
                "x",
                "--redirect-uri",
                "https://a.example/cb",
                "--scope",
                "undefined:scope",
            ),
            "not defined",
        ),
        (("user", "create", "--tenant", "acme", "--email", "bob@example.com", "--password", "short"), "at least"),
        (
            ("user", "create", "--tenant", "acme", "--email", "not-an-email", "--password", "long enough pw"),
            "valid email",
        ),
        (("keys", "rotate", "--tenant", "nope"), "unknown tenant"),
    ],
)
def test_cli_refuses_bad_input_with_a_clear_error(cli, args, message):
    ok_json(cli("tenant", "create", "acme", "--json"))
    result = cli(*args)
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr


def test_cli_duplicate_slug_and_json_errors(cli):
    ok_json(cli("tenant", "create", "acme", "--json"))
    result = cli("tenant", "create", "acme", "--json")
    assert result.returncode == 1 and json.loads(result.stderr)["error"] == "slug: This name is taken."


def test_private_use_scheme_and_loopback_redirects_are_accepted(cli):
    ok_json(cli("tenant", "create", "acme", "--json"))
    native = ok_json(
        cli(
            "client",
            "create",
            "--tenant",
            "acme",
            "--name",
            "App",
            "--public",
            "--redirect-uri",
            "com.example.app:/callback",
            "--redirect-uri",
            "http://[::1]:7000/cb",
            "--json",
        )
    )
    assert native["redirect_uris"] == ["com.example.app:/callback", "http://[::1]:7000/cb"]


def test_access_token_algorithm_is_selectable(cli):
    assert (
        ok_json(cli("tenant", "create", "acme", "--access-token-alg", "ES256", "--json"))["access_token_alg"] == "ES256"
    )
    updated = ok_json(cli("tenant", "update", "acme", "--access-token-alg", "RS256", "--name", "Acme", "--json"))
    assert updated == {"slug": "acme", "name": "Acme", "access_token_alg": "RS256"}
    refused = cli("tenant", "update", "acme", "--access-token-alg", "EdDSA")
    assert refused.returncode == 1 and "no EdDSA keys" in refused.stderr


def test_cli_changes_go_through_the_audited_services(cli, database_url):
    """The CLI validates and records each change with the same functions as the portal and the API."""
    ok_json(cli("tenant", "create", "acme", "--name", "Acme", "--json"))
    ok_json(cli("tenant", "update", "acme", "--name", "Acme Corp", "--access-token-alg", "ES256", "--json"))
    app = ok_json(
        cli("client", "create", "--tenant", "acme", "--name", "Web", "--redirect-uri", "https://a.example/cb", "--json")
    )
    user = ok_json(
        cli(
            "user", "create", "--tenant", "acme", "--email", "bob@example.com", "--password", "long enough pw", "--json"
        )
    )
    ok_json(
        cli("scope", "create", "--tenant", "acme", "--name", "orders:read", "--description", "Read orders", "--json")
    )
    ok_json(cli("keys", "rotate", "--tenant", "acme", "--json"))

    engine = create_engine(database_url)
    with engine.connect() as connection:
        events = connection.execute(
            text("SELECT action, target, actor FROM audit_events ORDER BY created_at, id")
        ).all()
    engine.dispose()
    recorded = {(action, target) for action, target, actor in events if actor == "cli"}
    assert {
        ("tenant.created", "acme"),
        ("tenant.renamed", "acme"),
        ("tenant.access_token_alg_changed", "acme"),
        ("client.created", app["client_id"]),
        ("user.created", user["id"]),
        ("scope.created", "orders:read"),
        ("keys.rotated", "tenant:acme"),
    } <= recorded
