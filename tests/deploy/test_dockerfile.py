"""The image recipe (Dockerfile, .dockerignore), checked without a Docker engine (none on this machine or CI):
it installs the project as bootstrap does, from a build context that holds everything the wheel needs, and runs
the server as uid 10001 on a read-only root with a health check that really works."""

from __future__ import annotations

import shlex
import subprocess
import sys
import tomllib

from tests.conftest import LiveServer, free_port
from tests.deploy.chart import CHART, ROOT
from tests.deploy.dockerfile import (
    Stage,
    copied_sources,
    env_of,
    files_under,
    in_build_context,
    stages,
)

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _builder_and_runtime() -> tuple[Stage, Stage]:
    *builders, runtime = stages()
    (builder,) = builders
    return builder, runtime


def _pip_installs(commands: list[list[str]]) -> list[list[str]]:
    """The arguments after `pip install`, with the lock named alike and the project as <project>."""
    installs = []
    for words in commands:
        if "pip" not in words or "install" not in words:
            continue
        args = words[words.index("install") + 1 :]
        args = ["requirements.lock" if a in {'"$LOCK"', "$LOCK", "requirements.lock"} else a for a in args]
        args = [a for a in args if a not in {"-e", "--editable"}]
        installs.append(["<project>" if a in {".", '"$ROOT${EXTRAS:+[$EXTRAS]}"'} else a for a in args])
    return installs


def _shell_commands(script: str) -> list[list[str]]:
    return [shlex.split(part, posix=False) for line in script.splitlines() for part in line.split("&&")]


def test_two_stages_on_the_same_python_base() -> None:
    builder, runtime = _builder_and_runtime()
    assert builder.name == "builder"
    # The venv's interpreter is a symlink into the base image: both stages need the same one.
    assert builder.base == runtime.base == "python:3.11-slim"
    assert PYPROJECT["project"]["requires-python"] == ">=3.11"


def test_the_builder_installs_with_the_same_pip_calls_as_bootstrap() -> None:
    builder, _ = _builder_and_runtime()
    bootstrap = _pip_installs(_shell_commands((ROOT / "scripts" / "bootstrap.sh").read_text()))
    dockerfile = _pip_installs([w for run in builder.all("RUN") for w in _shell_commands(run.text)])
    assert bootstrap == [
        ["--quiet", "--upgrade", "-c", "requirements.lock", "pip"],
        ["--quiet", "-c", "requirements.lock", "<project>"],
    ]
    assert dockerfile == bootstrap


def test_every_copied_source_exists_and_is_in_the_build_context() -> None:
    builder, runtime = _builder_and_runtime()
    sources = copied_sources(builder)
    assert sources
    for source in sources:
        assert source.exists(), f"COPY {source.relative_to(ROOT)}: no such file in the repository"
        shipped = [f for f in files_under(source) if "__pycache__" not in f and not f.endswith(".pyc")]
        assert shipped, source
        excluded = [f for f in shipped if not in_build_context(f)]
        assert not excluded, f".dockerignore leaves out {excluded[:5]}"
    # The runtime stage takes nothing from the context: only the builder's venv.
    assert copied_sources(runtime) == []
    (copy,) = runtime.all("COPY")
    assert copy.words() == ["--from=builder", "/opt/identity", "/opt/identity"]


def test_the_build_context_holds_what_the_wheel_is_built_from_and_nothing_else() -> None:
    builder, _ = _builder_and_runtime()
    copied = {s.relative_to(ROOT).as_posix() for s in copied_sources(builder)}
    packages = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    needed = {"pyproject.toml", "requirements.lock", PYPROJECT["project"]["readme"]}
    # (packages only: an editable install leaves an identity_platform.egg-info / identity*.egg-info folder here)
    needed |= {
        p.name
        for p in ROOT.iterdir()
        if (p / "__init__.py").is_file() and any(p.match(pattern) for pattern in packages)
    }
    assert needed == {"pyproject.toml", "requirements.lock", "README.md", "identity", "tenants"}
    assert copied == needed
    for outside in ("tests/conftest.py", "helm/identity/Chart.yaml", ".git/HEAD", "identity.db", "Dockerfile"):
        assert not in_build_context(outside), outside
    for cache in ("identity/__pycache__/app.cpython-311.pyc", "tenants/__pycache__/x.pyc", "identity/local.db"):
        assert not in_build_context(cache), cache


def test_the_runtime_runs_identity_serve_as_uid_10001_writing_only_tmp() -> None:
    _, runtime = _builder_and_runtime()
    user = runtime.last("USER").text
    uid, _, gid = user.partition(":")
    # Numeric, so the kubelet can enforce runAsNonRoot without reading /etc/passwd.
    assert (uid, gid) == ("10001", "10001")
    assert runtime.instructions.index(runtime.last("USER")) > runtime.instructions.index(runtime.last("COPY"))
    useradd = next(run.text for run in runtime.all("RUN") if "useradd" in run.text)
    assert "--uid 10001" in useradd and "--gid 10001" in useradd
    env = env_of(runtime)
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["TMPDIR"] == "/tmp"
    assert env["PATH"].startswith("/opt/identity/bin:")
    assert env["IDENTITY_ENV"] == "prod"
    assert runtime.last("ENTRYPOINT").exec_form() == ["identity"]
    assert "identity" in PYPROJECT["project"]["scripts"]
    assert runtime.last("CMD").exec_form() == ["serve", "--host", "0.0.0.0", "--port", "8000"]
    assert runtime.last("EXPOSE").words() == ["8000", "9464"]


def test_the_image_runs_as_the_user_the_chart_requires() -> None:
    _, runtime = _builder_and_runtime()
    helpers = (CHART / "templates" / "_helpers.tpl").read_text()
    uid = runtime.last("USER").text.partition(":")[0]
    assert f"runAsUser: {uid}" in helpers and "runAsNonRoot: true" in helpers


def _healthcheck_command(port: int) -> list[str]:
    _, runtime = _builder_and_runtime()
    command = runtime.last("HEALTHCHECK").exec_form()
    assert command is not None and command[0] == "python", "python's stdlib: slim has no curl"
    return [sys.executable, *(w.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for w in command[1:])]


def test_the_health_check_succeeds_against_a_running_server(live_server: LiveServer) -> None:
    port = int(live_server.url.rsplit(":", 1)[1])
    result = subprocess.run(_healthcheck_command(port), capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr


def test_the_health_check_fails_when_nothing_answers_healthz(live_server: LiveServer) -> None:
    closed = free_port()
    result = subprocess.run(_healthcheck_command(closed), capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode != 0
    # And a server that answers, but not 200 at /healthz, fails too.
    port = int(live_server.url.rsplit(":", 1)[1])
    command = [w.replace("/healthz", "/nothing-here") for w in _healthcheck_command(port)]
    assert subprocess.run(command, capture_output=True, timeout=30, check=False).returncode != 0
