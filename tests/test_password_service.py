"""The server's password service (``identity.password_service``): real processes, a real Unix socket, and
``identity serve --workers 2`` signing a user in through it."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx
import pytest

from identity.password_service import VERIFIER_TUNABLES, PasswordService, PasswordVerifier, verifier_environment
from identity.passwords import hash_password
from tests.conftest import free_port
from tests.flow import authorize_url, pkce_pair, sign_in, submit_login

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def service():  # type: ignore[no-untyped-def]
    running = PasswordService(processes=2)
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def stored() -> str:
    return hash_password(PASSWORD)


def verify(verifier: PasswordVerifier, password: str, stored_hash: str | None) -> bool:
    return anyio.run(verifier.verify, password, stored_hash)


def test_the_service_answers_right_wrong_and_unknown_accounts(service, stored):
    verifier = PasswordVerifier(1, service.socket_path)
    assert verify(verifier, PASSWORD, stored) is True
    assert verify(verifier, "not the password", stored) is False
    assert verify(verifier, PASSWORD, None) is False  # no such account: a dummy hash is verified instead


def test_concurrent_verifications_all_get_their_own_answer(service, stored):
    verifier = PasswordVerifier(1, service.socket_path)
    answers: dict[int, bool] = {}

    async def main() -> None:
        async def one(i: int) -> None:
            answers[i] = await verifier.verify(PASSWORD if i % 2 == 0 else f"wrong {i}", stored)

        async with anyio.create_task_group() as tasks:
            for i in range(6):
                tasks.start_soon(one, i)

    anyio.run(main)
    assert answers == {i: i % 2 == 0 for i in range(6)}


def test_only_its_owner_can_reach_the_socket(service):
    assert os.stat(service.socket_path).st_mode & 0o777 == 0o600
    assert os.stat(os.path.dirname(service.socket_path)).st_mode & 0o777 == 0o700


def test_nonsense_gets_no_answer_and_the_service_goes_on(service, stored):
    for nonsense in (b"[1, 2]\n", b"not json\n", b'["only one"]\n'):
        with socket.socket(socket.AF_UNIX) as raw:
            raw.settimeout(10)
            raw.connect(service.socket_path)
            raw.sendall(nonsense)
            assert raw.recv(10) == b""  # closed without an answer
    assert verify(PasswordVerifier(1, service.socket_path), PASSWORD, stored) is True


def test_a_worker_that_cannot_reach_the_service_verifies_itself(tmp_path, stored, caplog):
    verifier = PasswordVerifier(1, str(tmp_path / "gone.sock"))
    with caplog.at_level(logging.WARNING, logger="identity.password_service"):
        assert verify(verifier, PASSWORD, stored) is True
        assert verify(verifier, "wrong", stored) is False
    assert "password service unreachable" in caplog.text


def test_a_lost_verifying_process_is_replaced(stored, caplog):
    running = PasswordService(processes=1)
    running.start()
    try:
        assert running._process is not None
        (lost,) = _verifying_processes(running._process.pid)
        os.kill(lost, signal.SIGKILL)
        verifier = PasswordVerifier(1, running.socket_path)
        assert verify(verifier, PASSWORD, stored) is True  # by the service's new process, or by the worker once
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="identity.password_service"):
            assert verify(verifier, PASSWORD, stored) is True
            assert verify(verifier, "wrong", stored) is False
        assert "unreachable" not in caplog.text  # the service answered both
        assert lost not in _verifying_processes(running._process.pid)
    finally:
        running.stop()


def test_the_verifying_processes_run_with_huge_pages_for_argon2(service):
    assert service._process is not None
    pids = [service._process.pid, *_verifying_processes(service._process.pid)]
    assert len(pids) == 3  # the service and its two verifying processes
    expected = verifier_environment(os.environ)["GLIBC_TUNABLES"]  # ours, or an operator's hugetlb choice
    assert "glibc.malloc.hugetlb=" in expected
    for pid in pids:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        assert f"GLIBC_TUNABLES={expected}".encode() in environ


def test_an_operators_glibc_tunables_are_kept_and_their_hugetlb_choice_wins():
    assert verifier_environment({"PATH": "/bin"}) == {"PATH": "/bin", "GLIBC_TUNABLES": VERIFIER_TUNABLES}
    other = verifier_environment({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"})
    assert other["GLIBC_TUNABLES"] == f"glibc.malloc.arena_max=2:{VERIFIER_TUNABLES}"
    chosen = {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"}
    assert verifier_environment(chosen) == chosen


def test_stopping_removes_the_socket_and_its_directory():
    running = PasswordService(processes=1)
    running.start()
    directory = Path(running.socket_path).parent
    assert directory.exists()
    running.stop()
    assert not directory.exists()


def test_serve_with_two_workers_signs_users_in_through_the_service(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "IDENTITY_ENV": "dev",
        "IDENTITY_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
        "IDENTITY_PUBLIC_URL": url,
        "IDENTITY_LOG_JSON": "false",
    }
    log = (tmp_path / "serve.log").open("w+")
    server = subprocess.Popen(
        [sys.executable, "-m", "identity.cli", "serve", "--port", str(port), "--workers", "2", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        assert server.stdout is not None
        demo = json.loads(server.stdout.readline())["demo"]
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        service = _password_service_of(server.pid)
        assert service is not None, "no password service under the server"

        with httpx.Client(base_url=url, follow_redirects=False) as http:
            _, challenge = pkce_pair()
            params = {"redirect_uri": demo["redirect_uri"], "code_challenge": challenge}
            location = http.get(authorize_url("demo", demo["client_id"], code_challenge_method="S256", **params))
            page = http.get(location.headers["location"])
            refused = submit_login(http, "demo", page.text, demo["user_email"], "not the password")  # type: ignore[arg-type]
            assert refused.status_code == 401
        with httpx.Client(base_url=url, follow_redirects=False) as http:
            back = sign_in(
                http,  # type: ignore[arg-type]
                "demo",
                demo["client_id"],
                email=demo["user_email"],
                password=demo["user_password"],
                redirect_uri=demo["redirect_uri"],
            )
            assert "code" in back
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
        if server.stdout is not None:
            server.stdout.close()
        log.seek(0)
        output = log.read()
        log.close()
    assert "password service unreachable" not in output  # the workers reached it for every sign-in
    assert not Path(service[1]).exists()  # and it was stopped with the server, its socket removed


def _password_service_of(server_pid: int) -> tuple[int, str] | None:
    """(pid, socket directory) of the password service started by ``identity serve``."""
    for child in _children(server_pid):
        cmd = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        if b"identity.password_service" in cmd:
            return child, os.path.dirname(cmd[cmd.index(b"identity.password_service") + 1].decode())
    return None


def _verifying_processes(service_pid: int) -> list[int]:
    return [
        pid for pid in _children(service_pid) if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]


def _children(pid: int) -> list[int]:
    return [
        int(child) for task in Path(f"/proc/{pid}/task").glob("*") for child in (task / "children").read_text().split()
    ]
