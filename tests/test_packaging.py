"""The product works installed from its wheel, not only from a checkout: build the wheel, install it with the
locked versions into a fresh venv, and from a folder outside the source tree migrate, create a tenant and a
client with the CLI, serve, and load the hosted login page and its stylesheet.

About 20 s with pip's cache warm (most of it pip installing ~35 locked packages); runs once, in
the SQLite run of the suite (it has no database of its own to vary).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from tests.flow import pkce_pair

ROOT = Path(__file__).resolve().parent.parent
REDIRECT_URI = "http://127.0.0.1:8080/callback"

pytestmark = [
    pytest.mark.packaging,
    pytest.mark.skipif(
        os.environ.get("IDENTITY_TEST_DATABASE_URL", "").startswith("postgresql"),
        reason="runs once, in the SQLite run (the installed server uses its own SQLite file)",
    ),
]


def _clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without anything pointing at this checkout or its settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDENTITY_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(extra)
    return env


def _run(args: list[str | Path], *, cwd: Path, env: dict[str, str], timeout: float = 300) -> str:
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, f"{args}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def _copy_source(target: Path) -> Path:
    """What a wheel is built from, without a build/ left over from an earlier build (setuptools would reuse it)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    target.mkdir()
    for name in ("pyproject.toml", "README.md", "requirements.lock"):
        shutil.copy(ROOT / name, target / name)
    for package in ("identity", "tenants"):
        shutil.copytree(ROOT / package, target / package, ignore=ignore)
    return target


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until_up(base: str, server: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        assert server.poll() is None, "server exited"
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("server did not come up")


def test_the_wheel_installed_in_a_fresh_venv_migrates_serves_and_renders_the_login_page(tmp_path: Path) -> None:
    timings: dict[str, float] = {}
    started = time.monotonic()
    source = _copy_source(tmp_path / "source")
    env = _clean_env(PIP_DISABLE_PIP_VERSION_CHECK="1")

    _run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", tmp_path / "dist", source],
        cwd=tmp_path,
        env=env,
    )
    (wheel,) = (tmp_path / "dist").glob("identity_platform-*.whl")
    timings["wheel"] = time.monotonic() - started

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv], cwd=tmp_path, env=env)  # no --system-site-packages
    python, identity = venv / "bin" / "python", venv / "bin" / "identity"
    # The runtime dependencies at the locked versions (the lock must cover them: pip resolves the rest freely).
    lock = ROOT / "requirements.lock"
    _run([python, "-m", "pip", "install", "--quiet", "--no-compile", "-c", lock, wheel], cwd=tmp_path, env=env)
    timings["install"] = time.monotonic() - started - timings["wheel"]

    # Outside the source tree: nothing can be found relative to a checkout.
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = _clean_env(
        IDENTITY_DATABASE_URL=f"sqlite:///{workdir / 'installed.db'}",
        IDENTITY_PUBLIC_URL=base,
        IDENTITY_SECRET_KEY="packaging-test-secret-" + "y" * 32,
    )
    where = _run([python, "-c", "import identity; print(identity.__file__)"], cwd=workdir, env=env)
    assert Path(where.strip()).is_relative_to(venv), where

    assert json.loads(_run([identity, "migrate", "--json"], cwd=workdir, env=env)) == {"migrated": True}
    tenant = json.loads(
        _run([identity, "tenant", "create", "acme", "--name", "Acme Corp", "--json"], cwd=workdir, env=env)
    )
    assert tenant["issuer"] == f"{base}/t/acme"
    client = json.loads(
        _run(
            [
                identity,
                "client",
                "create",
                "--tenant",
                "acme",
                "--name",
                "Acme Web",
                "--redirect-uri",
                REDIRECT_URI,
                "--json",
            ],
            cwd=workdir,
            env=env,
        )
    )

    log = workdir / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [str(identity), "serve", "--port", str(port), "--json"],
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_up(base, server, time.monotonic() + 60)
        with httpx.Client(base_url=base, timeout=10) as http:
            discovery = http.get("/t/acme/.well-known/openid-configuration")
            assert discovery.status_code == 200 and discovery.json()["issuer"] == f"{base}/t/acme"
            assert discovery.json()["ui_locales_supported"] == ["en", "de"]  # the catalogs are in the wheel

            _, challenge = pkce_pair()
            query = {
                "response_type": "code",
                "client_id": client["client_id"],
                "redirect_uri": REDIRECT_URI,
                "scope": "openid",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
            to_login = http.get(f"/t/acme/authorize?{urlencode(query)}")
            assert to_login.status_code in (302, 303), to_login.text[:500]
            login = http.get(to_login.headers["location"])
            assert login.status_code == 200
            assert login.headers["content-type"].startswith("text/html")
            # The real page from the installed templates: the tenant, the app, the form.
            assert "Acme Corp" in login.text and "Acme Web" in login.text
            assert 'name="password"' in login.text and 'name="csrf_token"' in login.text
            assert 'href="/static/css/app.css"' in login.text
            german = http.get(to_login.headers["location"], headers={"Accept-Language": "de"})
            assert german.status_code == 200 and "Anmelden" in german.text

            css = http.get("/static/css/app.css")
            assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
            assert css.content == (ROOT / "identity" / "static" / "css" / "app.css").read_bytes()
    except AssertionError:
        print(log.read_text()[-5000:])  # the installed server's own account of what went wrong
        raise
    finally:
        server.terminate()
        server.wait(timeout=30)
    timings["total"] = time.monotonic() - started
    print(f"packaging timings (s): {', '.join(f'{k} {v:.1f}' for k, v in timings.items())}")
