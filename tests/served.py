"""A real ``identity serve`` in a subprocess, and the ``identity`` CLI beside it: for the tests that need
what only the command does (workers, the management port, uvicorn's logging)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
PROD_SECRET = "served-test-secret-" + "s" * 32


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape_metrics(url: str) -> Samples:
    """``GET /metrics`` of a management port, parsed by prometheus_client's own text parser."""
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def metric_value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@dataclass
class Served:
    url: str
    metrics_url: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def cli(self, *args: str, stdin: str | None = None) -> Any:
        """``identity ARGS --json`` against the server's database; its parsed output."""
        result = subprocess.run(
            [sys.executable, "-m", "identity.cli", *args, "--json"],
            env=self.env,
            cwd=ROOT,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def output_lines(self) -> list[str]:
        return [line for path in (self.stdout, self.stderr) for line in path.read_text().splitlines() if line.strip()]


def served_environment(database_url: str, public_url: str) -> dict[str, str]:
    """This environment without its IDENTITY_ and PROMETHEUS_ settings, for a server of the test's own."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("IDENTITY_", "PROMETHEUS_"))},
        "PYTHONPATH": str(ROOT),
        "IDENTITY_DATABASE_URL": database_url,
        "IDENTITY_PUBLIC_URL": public_url,
    }


def _wait_until_up(served: Served, deadline: float) -> None:
    while time.monotonic() < deadline:
        assert served.process.poll() is None, served.stderr.read_text()
        try:
            if httpx.get(f"{served.url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("identity serve did not come up: " + served.stderr.read_text())


@contextmanager
def identity_serve(
    database_url: str, folder: Path, *, workers: int = 1, args: Sequence[str] = (), **env: str
) -> Iterator[Served]:
    """Serve on free loopback ports; stopped with SIGTERM (as Kubernetes stops it) at the end."""
    port, metrics_port = free_port(), free_port()
    url = f"http://127.0.0.1:{port}"
    full_env = {**served_environment(database_url, url), "IDENTITY_METRICS_PORT": str(metrics_port), **env}
    stdout, stderr = folder / "serve.out", folder / "serve.err"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "identity.cli", "serve", "--port", str(port), "--workers", str(workers), *args],
            env=full_env,
            cwd=ROOT,
            stdout=out,
            stderr=err,
        )
    served = Served(url, f"http://127.0.0.1:{metrics_port}/metrics", full_env, process, stdout, stderr)
    try:
        _wait_until_up(served, time.monotonic() + 60)
        yield served
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
