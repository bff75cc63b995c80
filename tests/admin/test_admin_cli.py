"""``identity admin create``, run as an operator would: a subprocess, --json output, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from sqlmodel import select

from identity.db import session_scope
from identity.models.admin import PlatformAdmin
from tests.admin.helpers import post_login


@pytest.fixture
def cli(database_url):  # type: ignore[no-untyped-def]
    env = {**os.environ, "IDENTITY_DATABASE_URL": database_url, "IDENTITY_SECRET_KEY": "cli-test-" + "k" * 32}

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "identity.cli", "admin", "create", *args],
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )

    return run


def test_creates_an_admin_who_can_sign_in_to_the_console(cli, ctx, http):
    done = cli("--email", "Ops@Platform.test", "--password", "admin password 123", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["email"] == "Ops@Platform.test" and data["totp_enabled"] is False and data["id"]
    assert data["console"].endswith("/admin")
    assert "admin password 123" not in done.stdout + done.stderr
    with session_scope(ctx.sessions) as session:
        admin = session.exec(select(PlatformAdmin)).one()
    assert admin.id == data["id"] and admin.email_normalized == "ops@platform.test"
    assert admin.password_hash.startswith("$argon2id$")
    signed_in = post_login(http, email="ops@platform.test", password="admin password 123")
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/admin/tenants"


def test_reads_the_password_from_stdin_and_prints_text(cli):
    done = cli("--email", "second@platform.test", "--password-stdin", stdin="from stdin 123\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Created platform admin second@platform.test") and "/admin" in done.stdout


def test_refusals_exit_1_with_an_error(cli, ctx):
    assert cli("--email", "ops@platform.test", "--password", "admin password 123").returncode == 0
    duplicate = cli("--email", "OPS@platform.test", "--password", "another password")
    assert duplicate.returncode == 1
    assert duplicate.stderr.strip() == "error: a platform admin with email OPS@platform.test already exists"
    weak = cli("--email", "weak@platform.test", "--password", "short", "--json")
    assert weak.returncode == 1 and json.loads(weak.stderr) == {"error": "Password must be at least 8 characters."}
    bad_email = cli("--email", "not-an-email", "--password", "admin password 123")
    assert bad_email.returncode == 1 and "not a valid email address" in bad_email.stderr
    no_password = cli("--email", "x@platform.test")
    assert no_password.returncode == 2 and "--password" in no_password.stderr  # argparse: a usage error
    with session_scope(ctx.sessions) as session:
        assert [a.email for a in session.exec(select(PlatformAdmin)).all()] == ["ops@platform.test"]
